#include "services/privacy/subject_state.h"

#include <nlohmann/json.hpp>

#include "common/db/statement.h"
#include "common/error.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/gate/gate_rows.h"
#include "services/subscriptions/subject_rows.h"

namespace herald::privacy {

using subscriptions::EventType;

namespace {

constexpr db::Statement kPersonalFields{"privacy.subject_personal_fields", R"sql(
  SELECT surname, given_name, patronymic, locale, external_id IS NOT NULL
  FROM subjects
  WHERE id = $1::uuid
)sql"};

}  // namespace

PersonalFields ReadPersonalFields(db::Connection& conn, pqxx::transaction_base& txn,
                                  const std::string& subject_id) {
  auto rows = conn.Exec(txn, kPersonalFields, subject_id);
  if (rows.empty()) throw NotFound("subject_id: subject");
  const auto& r = rows[0];
  return {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
          r[3].as<std::string>(), r[4].as<bool>()};
}

SubjectFlags LockSubject(db::Connection& conn, pqxx::transaction_base& txn,
                         const std::string& subject_id, Timestamp now) {
  auto row = subscriptions::LockSubjectForChange(conn, txn, subject_id, now);
  if (!row) throw NotFound("subject_id: subject");
  return {row->state, row->blocked, row->revoked};
}

void SetBlocked(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                bool blocked, const std::string& actor, int source, const std::string& reason,
                const std::optional<std::string>& request_id, Timestamp now) {
  subscriptions::SetSubjectBlocked(conn, txn, subject_id, blocked, now);
  nlohmann::json details = {{"reason", reason}};
  if (request_id) details["request_id"] = *request_id;
  subscriptions::AppendEvent(conn, txn,
                             {subject_id, std::nullopt,
                              blocked ? EventType::kSubjectBlocked : EventType::kSubjectUnblocked,
                              actor, source, now, now, details, nlohmann::json::object()});
}

void RecordRevocation(db::Connection& conn, pqxx::transaction_base& txn,
                      const std::string& subject_id, const std::string& actor, int source,
                      Timestamp occurred_at, Timestamp now) {
  // The same shape RecordConsent gives a withdrawal of consent to processing.
  int64_t event_id = subscriptions::AppendEvent(
      conn, txn,
      {subject_id,
       std::nullopt,
       EventType::kConsentWithdrawn,
       actor,
       source,
       occurred_at,
       now,
       {{"kind", "PROCESSING"}, {"granted", false}, {"revocation", true}},
       nlohmann::json::object()});
  subscriptions::RecordProcessingRevocation(conn, txn, subject_id, actor, source, occurred_at,
                                            event_id, now);
}

}  // namespace herald::privacy
