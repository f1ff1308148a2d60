#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "common/clock.h"
#include "common/db/connection.h"
#include "common/domain/topics.h"
#include "services/subscriptions/gate/eligibility_gate.h"

namespace herald::dispatch {

// The confirmation of an inbound SMS keyword (STOP/START/HELP), queued as a real message
// that names the inbound it answers. The gate decides it now and again when the outbox
// claims it; its keyword-reply rule is what lets it pass without consent (DESIGN "One
// exception").
struct KeywordReply {
  int64_t inbound_id = 0;
  std::string address;  // the number that sent the keyword, E.164
  std::string text;     // rendered as a template with no variables: no "{{" (config checks)
  std::string client_id;
  Timestamp now;
};

struct QueuedReply {
  std::string message_id;
  bool queued = false;  // false: the gate refused it (recorded as SUPPRESSED with the reason)
  DenyReason reason = DenyReason::kNone;
};

// Inside the caller's transaction, so the reply exists exactly when the inbound is marked
// processed.
QueuedReply QueueKeywordReply(db::Connection& conn, pqxx::transaction_base& txn,
                              const subscriptions::EligibilityGate& gate,
                              const TopicCatalog& topics, const KeywordReply& r);

}  // namespace herald::dispatch
