#include "services/capture/capture_store.h"

#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/proto_time.h"

namespace herald::capture::store {
namespace {

constexpr db::Statement kInsert{"capture.insert", R"sql(
  INSERT INTO capture_requests (
    id, form_id, channel, language, topics, offered, processing_document, marketing_document,
    submitted_at, expires_at, address, match_key, personal, code_hash, replay, subject_id
  )
  VALUES (
    $14::uuid, $1, $2, $3, $4::text[], $5::text[], $6, $7, $8, $9, $10, $11, $12::jsonb, $13,
    $15::jsonb, $16::uuid
  )
  RETURNING id::text
)sql"};
constexpr db::Statement kCountRecent{"capture.count_recent", R"sql(
  SELECT count(*)
  FROM capture_requests
  WHERE status = 'pending'
    AND channel = $1
    AND match_key = $2
    AND submitted_at > $3
)sql"};
constexpr db::Statement kLoad{"capture.load", R"sql(
  SELECT id::text, form_id, status, language, channel, topics, offered, processing_document,
    marketing_document, coalesce(address, ''), coalesce(personal, 'null'::jsonb)::text,
    coalesce(message_id::text, ''), coalesce(subject_id::text, ''), submitted_at::text,
    expires_at::text, confirmed_at::text, coalesce(code_hash, ''), code_tries,
    coalesce(replay::text, '')
  FROM capture_requests
  WHERE id = $1::uuid
  FOR UPDATE
)sql"};
constexpr db::Statement kSetMessage{"capture.set_message", R"sql(
  UPDATE capture_requests
  SET message_id = $2::uuid
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kWrongCode{"capture.wrong_code", R"sql(
  UPDATE capture_requests
  SET code_tries = code_tries + 1,
    expires_at = CASE WHEN code_tries + 1 >= $2 THEN least(expires_at, $3) ELSE expires_at END
  WHERE id = $1::uuid
    AND status = 'pending'
  RETURNING code_tries
)sql"};
constexpr db::Statement kMarkConfirmed{"capture.mark_confirmed", R"sql(
  UPDATE capture_requests
  SET status = 'confirmed', confirmed_at = $2, personal = personal || $3::jsonb
  WHERE id = $1::uuid
    AND status = 'pending'
)sql"};
constexpr db::Statement kMarkRecorded{"capture.mark_recorded", R"sql(
  UPDATE capture_requests
  SET status = 'recorded', subject_id = coalesce(subject_id, $2::uuid)
  WHERE id = $1::uuid
    AND status = 'confirmed'
)sql"};
constexpr db::Statement kMarkApplied{"capture.mark_applied", R"sql(
  UPDATE capture_requests
  SET status = 'applied', address = NULL, match_key = NULL, personal = NULL
  WHERE id = $1::uuid
    AND status = 'recorded'
)sql"};
constexpr db::Statement kExpired{"capture.expired", R"sql(
  SELECT id::text
  FROM capture_requests
  WHERE status = 'pending'
    AND expires_at <= $1
  ORDER BY expires_at
  LIMIT $2
)sql"};
constexpr db::Statement kConfirmed{"capture.confirmed", R"sql(
  SELECT id::text
  FROM capture_requests
  WHERE status IN ('confirmed', 'recorded')
  ORDER BY confirmed_at
  LIMIT $1
)sql"};
constexpr db::Statement kDeletePending{"capture.delete_pending", R"sql(
  DELETE FROM capture_requests
  WHERE id = ANY($1::uuid[])
    AND status = 'pending'
)sql"};

std::vector<std::string> TextArray(const pqxx::field& f) {
  std::vector<std::string> out;
  auto parser = f.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::done;
       item = parser.get_next()) {
    if (item.first == pqxx::array_parser::string_value) out.push_back(item.second);
  }
  return out;
}

std::optional<Request> Read(const pqxx::result& rows) {
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  Request q;
  q.id = r[0].as<std::string>();
  q.form_id = r[1].as<std::string>();
  q.status = r[2].as<std::string>();
  q.language = r[3].as<std::string>();
  q.channel = r[4].as<int>();
  q.topics = TextArray(r[5]);
  q.offered = TextArray(r[6]);
  q.processing_document = r[7].as<std::string>();
  if (!r[8].is_null()) q.marketing_document = r[8].as<std::string>();
  q.address = r[9].as<std::string>();
  q.personal = nlohmann::json::parse(r[10].as<std::string>());
  q.message_id = r[11].as<std::string>();
  q.subject_id = r[12].as<std::string>();
  q.submitted_at = ParseTimestamp(r[13].as<std::string>());
  q.expires_at = ParseTimestamp(r[14].as<std::string>());
  if (!r[15].is_null()) q.confirmed_at = ParseTimestamp(r[15].as<std::string>());
  q.code_hash = r[16].as<std::string>();
  q.code_tries = r[17].as<int>();
  q.replay = r[18].as<std::string>();
  return q;
}

std::vector<std::string> Ids(const pqxx::result& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r[0].as<std::string>());
  return out;
}

}  // namespace

std::string Insert(db::Connection& conn, pqxx::transaction_base& txn, const NewRequest& r) {
  return conn
      .Exec(txn, kInsert, r.form_id, r.channel, r.language, db::ToArrayLiteral(r.topics),
            db::ToArrayLiteral(r.offered), r.processing_document, r.marketing_document,
            ToIso8601(r.submitted_at), ToIso8601(r.expires_at), r.address, r.match_key,
            r.personal.dump(), r.code_hash, r.id, r.replay, r.subject_id)[0][0]
      .as<std::string>();
}

int64_t CountRecent(db::Connection& conn, pqxx::transaction_base& txn, int channel,
                    const std::string& match_key, Timestamp since) {
  return conn.Exec(txn, kCountRecent, channel, match_key, ToIso8601(since))[0][0].as<int64_t>();
}

std::optional<Request> Load(db::Connection& conn, pqxx::transaction_base& txn,
                            const std::string& id) {
  return Read(conn.Exec(txn, kLoad, id));
}

void SetMessage(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                const std::string& message_id) {
  conn.Exec(txn, kSetMessage, id, message_id);
}

int RecordWrongCode(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                    int max_tries, Timestamp now) {
  auto rows = conn.Exec(txn, kWrongCode, id, max_tries, ToIso8601(now));
  return rows.empty() ? max_tries : rows[0][0].as<int>();
}

bool MarkConfirmed(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                   const nlohmann::json& confirmer, Timestamp now) {
  return conn.Exec(txn, kMarkConfirmed, id, ToIso8601(now), confirmer.dump()).affected_rows() == 1;
}

void MarkRecorded(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id,
                  const std::string& subject_id) {
  conn.Exec(txn, kMarkRecorded, id, subject_id);
}

void MarkApplied(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id) {
  conn.Exec(txn, kMarkApplied, id);
}

std::vector<std::string> Expired(db::Connection& conn, pqxx::transaction_base& txn, Timestamp now,
                                 int64_t limit) {
  return Ids(conn.Exec(txn, kExpired, ToIso8601(now), limit));
}

std::vector<std::string> Confirmed(db::Connection& conn, pqxx::transaction_base& txn,
                                   int64_t limit) {
  return Ids(conn.Exec(txn, kConfirmed, limit));
}

int64_t DeletePending(db::Connection& conn, pqxx::transaction_base& txn,
                      const std::vector<std::string>& ids) {
  return static_cast<int64_t>(
      conn.Exec(txn, kDeletePending, db::ToArrayLiteral(ids)).affected_rows());
}

}  // namespace herald::capture::store
