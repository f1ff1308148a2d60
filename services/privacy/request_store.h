#pragma once

#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "common/clock.h"
#include "common/db/connection.h"
#include "herald/v1/privacy.pb.h"
#include "services/privacy/deadlines.h"

namespace herald::privacy {

// Rows of privacy_requests: one per data-subject request, whatever its channel. These
// functions are the table's only writers; every one runs inside the caller's transaction.
struct NewRequest {
  RequestKind kind;
  std::optional<std::string> subject_id;
  std::optional<int64_t> origin_event_id;
  int source = 0;  // herald.v1.Source
  Timestamp received_at;
  Timestamp due_at;
  bool blocked_by_request = false;
  nlohmann::json details = nlohmann::json::object();
  // "none", "pending", "link", "dmarc" or "operator" (V008): a pending request has not
  // taken its non-harmless step yet.
  std::string confirmation = "none";
  std::optional<Timestamp> confirmed_at;
};

// Returns the new id, or nullopt when origin_event_id already has its request.
std::optional<std::string> InsertRequest(db::Connection& conn, pqxx::transaction_base& txn,
                                         const NewRequest& r);

// NOT_FOUND when there is none. `now` decides the overdue flag.
v1::PrivacyRequest LoadRequest(db::Connection& conn, pqxx::transaction_base& txn,
                               const std::string& id, Timestamp now, bool for_update = false);

// The request an operation on `subject_id` answers, locked for update: it must be about that
// subject, open, and of one of `kinds` (any kind when empty), else FAILED_PRECONDITION;
// NOT_FOUND when there is none. Callers take the subject's gate row first (the order every
// privacy operation locks them in).
v1::PrivacyRequest LoadAnsweredRequest(db::Connection& conn, pqxx::transaction_base& txn,
                                       const std::string& id, const std::string& subject_id,
                                       std::initializer_list<RequestKind> kinds, Timestamp now);

// Closes an open request: status "done" or "rejected". Merges `note` into its details.
void CloseRequest(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                  const std::string& status, const std::string& handled_by,
                  const nlohmann::json& note, Timestamp now);

// Closes an open revocation as done by the destruction it scheduled; its details name the
// outcome and the destruction record.
void CloseAsDestroyed(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                      const std::string& record_id, const std::string& handled_by, Timestamp now);

// Records how an open, pending request was confirmed ("link", "dmarc", "operator"). False
// when it is not open or not pending (nothing changed).
bool MarkConfirmed(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                   const std::string& method, Timestamp now);

// Merges `note` into the request's details, whatever its status.
void AddRequestDetails(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                       const nlohmann::json& note);

// Records that this request blocked its subject, so rectifying it unblocks them.
void MarkBlockedByRequest(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id);

v1::PrivacyRequest RequestFromRow(const pqxx::row& row, Timestamp now);

// One page of requests in due order for RequestFromRow: `status`, and `kind` and
// `subject_id` unless empty, strictly after (after_due, after_id); at most `limit` rows.
pqxx::result ListRequestRows(db::Connection& conn, pqxx::transaction_base& txn,
                             const std::string& status, const std::string& kind,
                             const std::string& subject_id, const std::string& after_due,
                             const std::string& after_id, int limit);

}  // namespace herald::privacy
