#pragma once

#include <set>
#include <string>

#include "common/clock.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "common/grpc/caller.h"
#include "herald/v1/dispatch.pb.h"
#include "services/subscriptions/gate/eligibility_gate.h"

namespace herald::dispatch {

// Single messages: Send (idempotent), PreviewMessage, GetMessage, ListMessages. Send asks
// the gate at once so a refused recipient is answered SUPPRESSED with its reason; an allowed
// one is QUEUED, and the outbox asks the gate again when it claims it.
class MessageService {
 public:
  MessageService(db::Pool& pool, const Clock& clock, const TopicCatalog& topics,
                 const subscriptions::EligibilityGate& gate);

  v1::SendResponse Send(const Caller& caller, const v1::SendRequest& r);
  v1::PreviewMessageResponse PreviewMessage(const Caller& caller,
                                            const v1::PreviewMessageRequest& r);
  v1::Message GetMessage(const Caller& caller, const v1::GetMessageRequest& r);
  v1::ListMessagesResponse ListMessages(const Caller& caller, const v1::ListMessagesRequest& r);

  // Variables every template may use besides the declared ones.
  static const std::set<std::string>& BuiltInVariables();

 private:
  // A message of a blocked subject (STANDARDS L2): refused when `refuse_blocked` (a read of
  // that subject), else its address is cleared (one row of a campaign's list); a caller with
  // the privacy scope reads it whole.
  v1::Message LoadMessage(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                          bool with_history, const Caller& caller, bool refuse_blocked);

  db::Pool& pool_;
  const Clock& clock_;
  const TopicCatalog& topics_;
  const subscriptions::EligibilityGate& gate_;
};

}  // namespace herald::dispatch
