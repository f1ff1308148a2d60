#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "common/clock.h"
#include "common/db/pool.h"
#include "common/grpc/caller.h"
#include "herald/v1/privacy.pb.h"
#include "services/privacy/deadlines.h"

namespace herald::subscriptions {
class SubscriptionRegistry;
}

namespace herald::privacy {

// Data-subject requests and the operations that answer them: tracked requests with their
// legal due dates, block/unblock, rectification and revocation (152-FZ art. 14, 20, 21).
//
// A plain class: dependencies in the constructor, no gRPC types, herald::Error for every
// refusal (checked before anything is written), one transaction per operation.
class PrivacyOperations {
 public:
  PrivacyOperations(db::Pool& pool, const Clock& clock, const DeadlinePolicy& deadlines);

  // The registry a STOP_PROCESSING request opened here (API, operator) opts the subject out
  // of all marketing through, in the request's transaction, as the mail hook does at once for
  // the refusal marker (L8). Such a request is refused (INTERNAL) until one is set.
  void SetRegistry(subscriptions::SubscriptionRegistry* registry) { registry_ = registry; }

  v1::OpenPrivacyRequestResponse OpenRequest(const Caller& caller,
                                             const v1::OpenPrivacyRequestRequest& r);
  v1::GetPrivacyRequestResponse GetRequest(const Caller& caller,
                                           const v1::GetPrivacyRequestRequest& r);
  v1::ListPrivacyRequestsResponse ListRequests(const Caller& caller,
                                               const v1::ListPrivacyRequestsRequest& r);
  v1::CompletePrivacyRequestResponse CompleteRequest(const Caller& caller,
                                                     const v1::CompletePrivacyRequestRequest& r);

  v1::BlockSubjectResponse BlockSubject(const Caller& caller, const v1::BlockSubjectRequest& r);
  v1::UnblockSubjectResponse UnblockSubject(const Caller& caller,
                                            const v1::UnblockSubjectRequest& r);
  v1::RectifySubjectResponse RectifySubject(const Caller& caller,
                                            const v1::RectifySubjectRequest& r);
  v1::RevokeConsentResponse RevokeConsent(const Caller& caller, const v1::RevokeConsentRequest& r);

  // The pieces intake shares, inside the caller's transaction. Each opens one request
  // (origin_event_id: at most once per event; nullopt when that event already has one).
  struct Opened {
    std::optional<std::string> request_id;
    Timestamp due_at;
    bool changed = false;  // the subject's flags changed
  };
  // Any kind. RECTIFY blocks the subject at once (the request remembers it set the block);
  // REVOKE records the revocation and schedules destruction at the request's due time.
  //
  // `confirmation` says how far the requester is known to be the subject: "none" (an
  // authenticated API caller or operator), "dmarc" (a DMARC-aligned pass recorded by our
  // MTA), or "pending" (an e-mail marker with a forgeable From:). A pending RECTIFY or
  // REVOKE about a subject opens with its due date but takes none of its steps until
  // ConfirmInTxn (STANDARDS §2b); other kinds have nothing to confirm.
  Opened OpenInTxn(db::Connection& conn, pqxx::transaction_base& txn, RequestKind kind,
                   const std::optional<std::string>& subject_id,
                   std::optional<int64_t> origin_event_id, int source, const std::string& actor,
                   Timestamp received_at, Timestamp now,
                   const nlohmann::json& details = nlohmann::json::object(),
                   const std::string& confirmation = "none");

  // Confirms a pending request ("link" or "operator") and takes the step it was waiting
  // for: RECTIFY blocks the subject, REVOKE records the revocation (its destruction is due
  // at the request's due time). `changed` is false when it was confirmed already.
  // FAILED_PRECONDITION when the request is closed or its subject destroyed; NOT_FOUND
  // when there is no such request.
  struct Confirmed {
    bool changed = false;
    v1::PrivacyRequest request;
  };
  Confirmed ConfirmInTxn(db::Connection& conn, pqxx::transaction_base& txn,
                         const std::string& request_id, const std::string& method,
                         const std::string& actor, int source, Timestamp now);

 private:
  db::Pool& pool_;
  const Clock& clock_;
  const DeadlinePolicy& deadlines_;
  subscriptions::SubscriptionRegistry* registry_ = nullptr;
};

}  // namespace herald::privacy
