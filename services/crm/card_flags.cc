#include "services/crm/card_flags.h"

#include <set>
#include <utility>

#include "common/db/sql_array.h"
#include "common/db/statement.h"

namespace herald::crm {
namespace {

// Each subject's state, and whether it refuses everything (revoked, blocked, destroyed).
constexpr db::Statement kSubjectStates{"crm_cards.subject_states", R"sql(
  SELECT id, state, state IN ('destroyed', 'depersonalized') OR blocked OR revoked
  FROM subjects
  WHERE id = ANY($1::uuid[])
)sql"};

// Refusals that mean "do not write to this person about the topic", as opposed to "Herald
// cannot vouch for it" (no consent, no usable address, a foreign provider).
bool SaysNo(DenyReason reason) {
  switch (reason) {
    case DenyReason::kSubjectDestroyed:
    case DenyReason::kSubjectBlocked:
    case DenyReason::kConsentRevoked:
    case DenyReason::kAddressSuppressed:
    case DenyReason::kUnsubscribedAll:
    case DenyReason::kUnsubscribedChannel:
    case DenyReason::kUnsubscribedTopic:
      return true;
    default:
      return false;
  }
}

}  // namespace

CardDeriver::CardDeriver(const subscriptions::EligibilityGate& gate, const TopicCatalog& topics,
                         std::map<std::string, std::string> topic_types)
    : gate_(gate), topic_types_(std::move(topic_types)) {
  for (const auto& t : topics.all()) {
    if (t.marketing) marketing_.push_back(&t);
  }
}

std::map<std::string, CardFlags> CardDeriver::Derive(
    db::Connection& conn, pqxx::transaction_base& txn, const std::vector<std::string>& subject_ids,
    std::map<std::string, std::string>* states) const {
  const std::vector<Channel> channels(std::begin(kAllChannels), std::end(kAllChannels));
  auto decisions = gate_.DecideMatrix(conn, txn, subject_ids, channels, marketing_);
  // Revocation, block and destruction say no to everything, whatever else the gate met
  // first (a destroyed subject has no address left, and the gate names that first).
  std::set<std::string> refused;
  for (const auto& row : conn.Exec(txn, kSubjectStates, db::ToArrayLiteral(subject_ids))) {
    if (row[2].as<bool>()) refused.insert(row[0].as<std::string>());
    if (states) (*states)[row[0].as<std::string>()] = row[1].as<std::string>();
  }
  std::map<std::string, CardFlags> cards;
  size_t i = 0;
  for (const auto& id : subject_ids) {
    CardFlags& card = cards[id];
    if (refused.count(id)) {
      card.do_not_use_email = card.do_not_use_sms = card.do_not_use_call = true;
      for (const auto& [topic, type] : topic_types_) card.unsubscribed[type] = true;
      i += 3 * marketing_.size();
      continue;
    }
    for (Channel channel : kAllChannels) {
      bool any_allowed = false;
      for (const TopicInfo* topic : marketing_) {
        const auto& d = decisions[i++];
        any_allowed = any_allowed || d.allowed();
        if (channel != Channel::kEmail) continue;
        auto type = topic_types_.find(topic->name);
        if (type == topic_types_.end()) continue;
        // Subscribed when the topic may go; Unsubscribed when the person said no; otherwise
        // (no consent yet, no usable address) Herald has no opinion on the row and leaves it
        // as Creatio holds it: an imported Unsubscribed row is never turned back.
        if (d.allowed()) {
          card.unsubscribed[type->second] = false;
        } else if (SaysNo(d.reason)) {
          card.unsubscribed[type->second] = true;
        }
      }
      std::optional<bool> flag = !any_allowed;
      switch (channel) {
        case Channel::kEmail:
          card.do_not_use_email = flag;
          break;
        case Channel::kSms:
          card.do_not_use_sms = flag;
          break;
        case Channel::kCall:
          card.do_not_use_call = flag;
          break;
      }
    }
  }
  return cards;
}

bool CardShows(const CardFlags& known, const CardFlags& wanted) {
  if (known.do_not_use_email != wanted.do_not_use_email) return false;
  if (known.do_not_use_sms != wanted.do_not_use_sms) return false;
  if (known.do_not_use_call != wanted.do_not_use_call) return false;
  for (const auto& [type, unsubscribed] : wanted.unsubscribed) {
    auto k = known.unsubscribed.find(type);
    bool known_unsubscribed = k != known.unsubscribed.end() && k->second;
    if (known_unsubscribed != unsubscribed) return false;
  }
  return true;
}

}  // namespace herald::crm
