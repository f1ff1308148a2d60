#include "services/subscriptions/event_log.h"

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"

namespace herald::subscriptions {
namespace {

// The event and its personal values in one round trip; the function (migration V017) is the
// one text of both inserts, shared with the one-call opt-out.
constexpr db::Statement kAppendEvent{"events.append", R"sql(
  SELECT herald_append_event(
    $1::uuid, decode($2, 'hex'), $3, $4, $5::smallint, $6::timestamptz, $7::timestamptz,
    $8::jsonb, $9::jsonb)
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
  std::optional<std::string> personal;
  if (!e.personal.empty()) personal = e.personal.dump();
  return conn
      .Exec(txn, kAppendEvent, e.subject_id, key_hex, std::string(EventTypeName(e.type)), e.actor,
            e.source, ToIso8601(e.occurred_at), ToIso8601(e.recorded_at), e.details.dump(),
            personal)[0][0]
      .as<int64_t>();
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
