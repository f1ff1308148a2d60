#include "services/privacy/subject_state.h"

#include <nlohmann/json.hpp>

#include "common/db/statement.h"
#include "common/error.h"
#include "services/subscriptions/event_log.h"

namespace herald::privacy {
namespace {

// The gate row (DESIGN: consistency): bumping gate_version orders this change against any
// dispatch claim that holds the row FOR SHARE.
constexpr db::Statement kLock{
    "privacy.subject_lock",
    "UPDATE subjects SET gate_version = gate_version + 1 WHERE id = $1::uuid"
    " RETURNING state, blocked, revoked"};
constexpr db::Statement kSetBlocked{
    "privacy.subject_set_blocked",
    "UPDATE subjects SET blocked = $2, updated_at = $3 WHERE id = $1::uuid"};
constexpr db::Statement kInsertWithdrawal{
    "privacy.consent_withdrawal",
    "INSERT INTO consents (subject_id, kind, channel, granted, source, occurred_at, recorded_at,"
    " actor, event_id) VALUES ($1::uuid, 1, 0, false, $2, $3, $4, $5, $6)"};
constexpr db::Statement kSetRevoked{
    "privacy.subject_set_revoked",
    "UPDATE subjects SET revoked = true, processing_consent = false, updated_at = $2"
    " WHERE id = $1::uuid"};

}  // namespace

SubjectFlags LockSubject(db::Connection& conn, pqxx::transaction_base& txn,
                         const std::string& subject_id) {
  auto rows = conn.Exec(txn, kLock, subject_id);
  if (rows.empty()) throw NotFound("subject_id: subject");
  return {rows[0][0].as<std::string>(), rows[0][1].as<bool>(), rows[0][2].as<bool>()};
}

void SetBlocked(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                bool blocked, const std::string& actor, int source, const std::string& reason,
                const std::optional<std::string>& request_id, Timestamp now) {
  conn.Exec(txn, kSetBlocked, subject_id, blocked, ToIso8601(now));
  nlohmann::json details = {{"reason", reason}};
  if (request_id) details["request_id"] = *request_id;
  subscriptions::AppendEvent(
      conn, txn,
      {subject_id, std::nullopt, blocked ? "subject.blocked" : "subject.unblocked", actor, source,
       now, now, details, nlohmann::json::object()});
}

void RecordRevocation(db::Connection& conn, pqxx::transaction_base& txn,
                      const std::string& subject_id, const std::string& actor, int source,
                      Timestamp occurred_at, Timestamp now) {
  // The same shape RecordConsent gives a withdrawal of consent to processing.
  int64_t event_id = subscriptions::AppendEvent(
      conn, txn,
      {subject_id,
       std::nullopt,
       "consent.withdrawn",
       actor,
       source,
       occurred_at,
       now,
       {{"kind", "PROCESSING"}, {"granted", false}, {"revocation", true}},
       nlohmann::json::object()});
  conn.Exec(txn, kInsertWithdrawal, subject_id, source, ToIso8601(occurred_at), ToIso8601(now),
            actor, event_id);
  conn.Exec(txn, kSetRevoked, subject_id, ToIso8601(now));
}

}  // namespace herald::privacy
