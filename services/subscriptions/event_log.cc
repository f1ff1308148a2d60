#include "services/subscriptions/event_log.h"

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"

namespace herald::subscriptions {
namespace {

constexpr db::Statement kInsertEvent{"events.insert", R"sql(
  INSERT INTO events (
    subject_id, address_key, type, actor, source, occurred_at, recorded_at, details
  )
  VALUES ($1::uuid, decode($2, 'hex'), $3, $4, $5, $6, $7, $8::jsonb)
  RETURNING id
)sql"};

constexpr db::Statement kInsertPersonal{"events.insert_personal", R"sql(
  INSERT INTO event_personal (event_id, subject_id, address_key, data)
  VALUES ($1, $2::uuid, decode($3, 'hex'), $4::jsonb)
)sql"};

constexpr db::Statement kDeletePersonal{"events.delete_personal", R"sql(
  DELETE FROM event_personal
  WHERE subject_id = $1::uuid OR address_key IN (
    SELECT decode(k, 'hex')
    FROM unnest($2::text[]) AS k
  )
)sql"};

constexpr db::Statement kMovePersonal{"events.move_personal", R"sql(
  UPDATE event_personal
  SET subject_id = $2::uuid
  WHERE subject_id = $1::uuid
)sql"};

}  // namespace

int64_t AppendEvent(db::Connection& conn, pqxx::transaction_base& txn, const EventRecord& e) {
  std::optional<std::string> key_hex;
  if (e.address_key) key_hex = crypto::ToHex(*e.address_key);
  auto row = conn.Exec(txn, kInsertEvent, e.subject_id, key_hex, std::string(EventTypeName(e.type)),
                       e.actor, e.source, ToIso8601(e.occurred_at), ToIso8601(e.recorded_at),
                       e.details.dump())[0];
  int64_t id = row[0].as<int64_t>();
  if (!e.personal.empty()) {
    conn.Exec(txn, kInsertPersonal, id, e.subject_id, key_hex, e.personal.dump());
  }
  return id;
}

int64_t DeletePersonalValues(db::Connection& conn, pqxx::transaction_base& txn,
                             const std::string& subject_id,
                             const std::vector<std::string>& address_key_hexes) {
  return conn.Exec(txn, kDeletePersonal, subject_id, db::ToArrayLiteral(address_key_hexes))
      .affected_rows();
}

int64_t MovePersonalValues(db::Connection& conn, pqxx::transaction_base& txn,
                           const std::string& from_subject_id, const std::string& to_subject_id) {
  return conn.Exec(txn, kMovePersonal, from_subject_id, to_subject_id).affected_rows();
}

}  // namespace herald::subscriptions
