#pragma once

#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"
#include "common/domain/topics.h"
#include "services/crm/card_state.h"
#include "services/subscriptions/gate/eligibility_gate.h"

namespace herald::crm {

// The flags a contact's Creatio card should show, derived from the gate's own decisions (the
// mapping table is in docs/creatio.md):
//   DoNotUseEmail / DoNotUseSms / DoNotUseCall: true exactly when the gate allows no
//     marketing topic on that channel for the subject (no consent, revoked, blocked,
//     destroyed, opted out of everything on it, every address on it suppressed ...);
//   each mapped BulkEmailType: Subscribed when the gate allows its topic on e-mail;
//     Unsubscribed when it refuses it because the person said no or may not be written to
//     at all (an opt-out of the topic, the channel or all marketing, a suppression,
//     revocation, block, destruction); for a refusal for want of consent or of an address
//     Herald has no opinion on the row (absent from `unsubscribed`): it is left as Creatio
//     holds it, and DoNotUseEmail, which Creatio applies over every type, covers it.
class CardDeriver {
 public:
  CardDeriver(const subscriptions::EligibilityGate& gate, const TopicCatalog& topics,
              std::map<std::string, std::string> topic_types);

  // Every flag is known in the result (no nullopt); one entry per subject. A mapped type
  // Herald has no opinion on is absent. `states`, when given, gets each subject's state
  // (active, merged, destroyed ...), read by the same statement.
  std::map<std::string, CardFlags> Derive(
      db::Connection& conn, pqxx::transaction_base& txn,
      const std::vector<std::string>& subject_ids,
      std::map<std::string, std::string>* states = nullptr) const;

 private:
  const subscriptions::EligibilityGate& gate_;
  std::vector<const TopicInfo*> marketing_;
  std::map<std::string, std::string> topic_types_;  // topic -> BulkEmailType id
};

// Whether `known` (what Creatio holds) already shows `wanted`. An unknown flag differs; a
// type Creatio has no row for counts as subscribed.
bool CardShows(const CardFlags& known, const CardFlags& wanted);

}  // namespace herald::crm
