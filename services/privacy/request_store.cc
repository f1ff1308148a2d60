#include "services/privacy/request_store.h"

#include "common/db/statement.h"
#include "common/error.h"
#include "common/proto_time.h"

namespace herald::privacy {

namespace {

constexpr db::Statement kInsert{"privacy_requests.insert", R"sql(
  INSERT INTO privacy_requests (id, kind, subject_id, origin_event_id, source, received_at,
    due_at, blocked_by_request, details, confirmation, confirmed_at)
  VALUES (gen_random_uuid(), $1, $2::uuid, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::timestamptz)
  ON CONFLICT (origin_event_id) DO NOTHING
  RETURNING id::text
)sql"};

// The three reads return the columns RequestFromRow reads, in its order.
constexpr db::Statement kLoad{"privacy_requests.load", R"sql(
  SELECT id::text, kind, coalesce(subject_id::text, ''), source, received_at::text,
    due_at::text, status, coalesce(handled_by, ''), coalesce(handled_at::text, ''),
    blocked_by_request, coalesce(origin_event_id, 0), details::text, confirmation,
    coalesce(confirmed_at::text, '')
  FROM privacy_requests
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kLoadForUpdate{"privacy_requests.load_for_update", R"sql(
  SELECT id::text, kind, coalesce(subject_id::text, ''), source, received_at::text,
    due_at::text, status, coalesce(handled_by, ''), coalesce(handled_at::text, ''),
    blocked_by_request, coalesce(origin_event_id, 0), details::text, confirmation,
    coalesce(confirmed_at::text, '')
  FROM privacy_requests
  WHERE id = $1::uuid
  FOR UPDATE
)sql"};
constexpr db::Statement kList{"privacy_requests.list", R"sql(
  SELECT id::text, kind, coalesce(subject_id::text, ''), source, received_at::text,
    due_at::text, status, coalesce(handled_by, ''), coalesce(handled_at::text, ''),
    blocked_by_request, coalesce(origin_event_id, 0), details::text, confirmation,
    coalesce(confirmed_at::text, '')
  FROM privacy_requests
  WHERE status = $1 AND ($2 = '' OR kind = $2)
    AND ($3 = '' OR subject_id = nullif($3, '')::uuid)
    AND (due_at, id) > ($4::timestamptz, $5::uuid)
  ORDER BY due_at, id
  LIMIT $6
)sql"};

constexpr db::Statement kClose{"privacy_requests.close", R"sql(
  UPDATE privacy_requests
  SET status = $2, handled_by = $3, handled_at = $4, details = details || $5::jsonb
  WHERE id = $1::uuid AND status = 'open'
  RETURNING 1
)sql"};

constexpr db::Statement kMarkConfirmed{"privacy_requests.mark_confirmed", R"sql(
  UPDATE privacy_requests
  SET confirmation = $2, confirmed_at = $3
  WHERE id = $1::uuid AND status = 'open' AND confirmation = 'pending'
  RETURNING 1
)sql"};

constexpr db::Statement kAddDetails{"privacy_requests.add_details", R"sql(
  UPDATE privacy_requests SET details = details || $2::jsonb WHERE id = $1::uuid
)sql"};

constexpr db::Statement kMarkBlockedBy{"privacy_requests.mark_blocked_by", R"sql(
  UPDATE privacy_requests SET blocked_by_request = true WHERE id = $1::uuid
)sql"};

v1::PrivacyRequestConfirmation ConfirmationFromName(const std::string& s) {
  if (s == "none") return v1::CONFIRMATION_NOT_NEEDED;
  if (s == "pending") return v1::CONFIRMATION_PENDING;
  if (s == "link") return v1::CONFIRMED_BY_LINK;
  if (s == "dmarc") return v1::CONFIRMED_BY_DMARC;
  if (s == "operator") return v1::CONFIRMED_BY_OPERATOR;
  return v1::PRIVACY_REQUEST_CONFIRMATION_UNSPECIFIED;
}

v1::PrivacyRequestStatus StatusFromName(const std::string& s) {
  if (s == "open") return v1::OPEN;
  if (s == "done") return v1::DONE;
  if (s == "rejected") return v1::REJECTED;
  return v1::PRIVACY_REQUEST_STATUS_UNSPECIFIED;
}

}  // namespace

std::optional<std::string> InsertRequest(db::Connection& conn, pqxx::transaction_base& txn,
                                         const NewRequest& r) {
  auto rows = conn.Exec(
      txn, kInsert, KindName(r.kind), r.subject_id, r.origin_event_id, r.source,
      ToIso8601(r.received_at), ToIso8601(r.due_at), r.blocked_by_request, r.details.dump(),
      r.confirmation,
      r.confirmed_at ? std::optional<std::string>(ToIso8601(*r.confirmed_at)) : std::nullopt);
  if (rows.empty()) return std::nullopt;
  return rows[0][0].as<std::string>();
}

v1::PrivacyRequest RequestFromRow(const pqxx::row& row, Timestamp now) {
  v1::PrivacyRequest p;
  p.set_id(row[0].as<std::string>());
  auto kind = KindFromName(row[1].as<std::string>());
  p.set_kind(kind ? static_cast<v1::PrivacyRequestKind>(*kind)
                  : v1::PRIVACY_REQUEST_KIND_UNSPECIFIED);
  if (kind) p.set_legal_basis(LegalBasis(*kind));
  p.set_subject_id(row[2].as<std::string>());
  p.set_source(static_cast<v1::Source>(row[3].as<int>()));
  SetTimestamp(p.mutable_received_time(), row[4].as<std::string>());
  std::string due = row[5].as<std::string>();
  SetTimestamp(p.mutable_due_time(), due);
  p.set_status(StatusFromName(row[6].as<std::string>()));
  p.set_handled_by(row[7].as<std::string>());
  std::string handled = row[8].as<std::string>();
  if (!handled.empty()) SetTimestamp(p.mutable_handled_time(), handled);
  p.set_blocked_by_request(row[9].as<bool>());
  p.set_origin_event_id(row[10].as<int64_t>());
  p.set_details_json(row[11].as<std::string>());
  p.set_overdue(p.status() == v1::OPEN && ParseTimestamp(due) < now);
  p.set_confirmation(ConfirmationFromName(row[12].as<std::string>()));
  std::string confirmed = row[13].as<std::string>();
  if (!confirmed.empty()) SetTimestamp(p.mutable_confirmed_time(), confirmed);
  return p;
}

v1::PrivacyRequest LoadRequest(db::Connection& conn, pqxx::transaction_base& txn,
                               const std::string& id, Timestamp now, bool for_update) {
  auto rows = conn.Exec(txn, for_update ? kLoadForUpdate : kLoad, id);
  if (rows.empty()) throw NotFound("request_id: privacy request");
  return RequestFromRow(rows[0], now);
}

v1::PrivacyRequest LoadAnsweredRequest(db::Connection& conn, pqxx::transaction_base& txn,
                                       const std::string& id, const std::string& subject_id,
                                       std::initializer_list<RequestKind> kinds, Timestamp now) {
  v1::PrivacyRequest req = LoadRequest(conn, txn, id, now, /*for_update=*/true);
  if (req.subject_id() != subject_id) {
    throw FailedPrecondition("request_id: the request is about another subject");
  }
  if (req.status() != v1::OPEN) throw FailedPrecondition("request_id: the request is not open");
  if (kinds.size() == 0) return req;
  std::string answered;
  for (RequestKind k : kinds) {
    if (req.kind() == static_cast<v1::PrivacyRequestKind>(k)) return req;
    answered += std::string(answered.empty() ? "" : " or ") + KindName(k);
  }
  throw FailedPrecondition("request_id: this operation answers " + answered + " requests only");
}

bool MarkConfirmed(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                   const std::string& method, Timestamp now) {
  return !conn.Exec(txn, kMarkConfirmed, id, method, ToIso8601(now)).empty();
}

void CloseRequest(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                  const std::string& status, const std::string& handled_by,
                  const nlohmann::json& note, Timestamp now) {
  auto rows = conn.Exec(txn, kClose, id, status, handled_by, ToIso8601(now), note.dump());
  if (rows.empty()) throw FailedPrecondition("request_id: the request is not open");
}

void CloseAsDestroyed(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                      const std::string& record_id, const std::string& handled_by, Timestamp now) {
  CloseRequest(conn, txn, id, "done", handled_by,
               {{"outcome", "destroyed"}, {"destruction_record_id", record_id}}, now);
}

void AddRequestDetails(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                       const nlohmann::json& note) {
  conn.Exec(txn, kAddDetails, id, note.dump());
}

void MarkBlockedByRequest(db::Connection& conn, pqxx::transaction_base& txn,
                          const std::string& id) {
  conn.Exec(txn, kMarkBlockedBy, id);
}

pqxx::result ListRequestRows(db::Connection& conn, pqxx::transaction_base& txn,
                             const std::string& status, const std::string& kind,
                             const std::string& subject_id, const std::string& after_due,
                             const std::string& after_id, int limit) {
  return conn.Exec(txn, kList, status, kind, subject_id, after_due, after_id, limit);
}

}  // namespace herald::privacy
