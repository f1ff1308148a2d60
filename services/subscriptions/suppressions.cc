#include "services/subscriptions/suppressions.h"

#include "common/db/sql_array.h"
#include "common/db/statement.h"

namespace herald::subscriptions {
namespace {

// $5: the any-channel number.
// The check and the insert are herald_suppression_covered and herald_insert_suppression
// (migration V020), shared with the one-call opt-out by address.
constexpr db::Statement kCovering{"suppressions.covering", R"sql(
  SELECT herald_suppression_covered(
    ARRAY(SELECT decode(k, 'hex') FROM unnest($1::text[]) AS k), $2::smallint, $3,
    $4::smallint, $5::smallint)
)sql"};
constexpr db::Statement kInsert{"suppressions.insert", R"sql(
  SELECT herald_insert_suppression(
    $1, decode($2, 'hex'), $3::smallint, $4, $5::smallint, $6::smallint, $7::timestamptz,
    $8::bigint)
)sql"};
// $6 and $7: the reasons a consent never lifts; $8: the any-channel number.
constexpr db::Statement kLiftByConsent{"suppressions.lift_by_consent", R"sql(
  UPDATE suppressions
  SET lifted_at = $4, lifted_event_id = $5
  WHERE address_key IN (SELECT decode(k, 'hex') FROM unnest($1::text[]) AS k)
    AND lifted_at IS NULL
    AND channel IN ($8, $2)
    AND created_at < $3
    AND reason NOT IN ($6, $7)
)sql"};
constexpr db::Statement kLiftByReason{"suppressions.lift_by_reason", R"sql(
  UPDATE suppressions
  SET lifted_at = $2, lifted_event_id = $3
  WHERE address_key IN (SELECT decode(k, 'hex') FROM unnest($1::text[]) AS k)
    AND lifted_at IS NULL
    AND reason = $4
)sql"};

int Number(SuppressionReason r) { return static_cast<int>(r); }

}  // namespace

bool CoveringSuppressionExists(db::Connection& conn, pqxx::transaction_base& txn,
                               const std::vector<std::string>& key_hexes,
                               const SuppressionScope& scope, SuppressionReason reason) {
  return conn
      .Exec(txn, kCovering, db::ToArrayLiteral(key_hexes), scope.channel, scope.topic,
            Number(reason), kAnyChannel)[0][0]
      .as<bool>();
}

void InsertSuppression(db::Connection& conn, pqxx::transaction_base& txn, const NewSuppression& s) {
  conn.Exec(txn, kInsert, s.key_id, s.key_hex, s.scope.channel, s.scope.topic, Number(s.reason),
            s.source, ToIso8601(s.created_at), s.event_id);
}

int64_t LiftSuppressionsByConsent(db::Connection& conn, pqxx::transaction_base& txn,
                                  const std::vector<std::string>& key_hexes, Channel channel,
                                  Timestamp consent_time, int64_t event_id, Timestamp now) {
  if (key_hexes.empty()) return 0;
  return conn
      .Exec(txn, kLiftByConsent, db::ToArrayLiteral(key_hexes), static_cast<int>(channel),
            ToIso8601(consent_time), ToIso8601(now), event_id,
            Number(SuppressionReason::kHardBounce), Number(SuppressionReason::kManual), kAnyChannel)
      .affected_rows();
}

int64_t LiftSmsStops(db::Connection& conn, pqxx::transaction_base& txn,
                     const std::vector<std::string>& key_hexes, int64_t event_id, Timestamp now) {
  if (key_hexes.empty()) return 0;
  return conn
      .Exec(txn, kLiftByReason, db::ToArrayLiteral(key_hexes), ToIso8601(now), event_id,
            Number(SuppressionReason::kSmsStop))
      .affected_rows();
}

}  // namespace herald::subscriptions
