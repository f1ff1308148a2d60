#include "services/subscriptions/suppressions.h"

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <utility>

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/log/log.h"

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

constexpr db::Statement kActiveByKey{"suppressions.active_by_key", R"sql(
  SELECT key_id, count(*)
  FROM suppressions
  WHERE lifted_at IS NULL
  GROUP BY key_id
  ORDER BY key_id
)sql"};
// The re-hash reads the subjects' addresses (the registry's table; reads are free) by id, so
// that a batch can name where the next one goes on without naming an address.
constexpr db::Statement kRehashAddresses{"suppressions.rehash_addresses", R"sql(
  SELECT id, kind, match_key
  FROM addresses
  WHERE id > $1
  ORDER BY id
  LIMIT $2
)sql"};
// $2, $3: pairs of an address's hash under an older key and under the newest ($1).
// Answers, per key id the moved rows carried, how many of them were active.
constexpr db::Statement kRehashMove{"suppressions.rehash_move", R"sql(
  WITH pairs AS (
    SELECT decode(o, 'hex') AS old_key, decode(n, 'hex') AS new_key
    FROM unnest($2::text[], $3::text[]) AS p(o, n)
  ),
  moved AS (
    UPDATE suppressions s
    SET key_id = $1, address_key = pairs.new_key
    FROM pairs
    WHERE s.address_key = pairs.old_key
    RETURNING s.id, s.lifted_at IS NULL AS active
  ),
  before AS (
    SELECT s.id, s.key_id
    FROM suppressions s
    JOIN pairs ON s.address_key = pairs.old_key
  )
  SELECT b.key_id, count(*)
  FROM moved m
  JOIN before b ON b.id = m.id
  WHERE m.active
  GROUP BY b.key_id
)sql",
                                    /*plan_each_call=*/true};
constexpr db::Statement kRehashCount{"suppressions.rehash_count", R"sql(
  SELECT s.key_id, count(*)
  FROM suppressions s
  JOIN unnest($1::text[]) AS p(o) ON s.address_key = decode(p.o, 'hex')
  WHERE s.lifted_at IS NULL
  GROUP BY s.key_id
)sql",
                                     /*plan_each_call=*/true};

constexpr int kDefaultRehashBatch = 1000;
constexpr int kMaxRehashBatch = 10000;

int Number(SuppressionReason r) { return static_cast<int>(r); }

std::map<std::string, int64_t> KeyCounts(const pqxx::result& rows) {
  std::map<std::string, int64_t> out;
  for (const auto& row : rows) out[row[0].as<std::string>()] = row[1].as<int64_t>();
  return out;
}

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

std::vector<SuppressionKeyCount> CountActiveSuppressionsByKey(db::Connection& conn,
                                                              pqxx::transaction_base& txn) {
  std::vector<SuppressionKeyCount> out;
  for (const auto& [id, n] : KeyCounts(conn.Exec(txn, kActiveByKey))) out.push_back({id, n});
  return out;
}

void RequireSuppressionKeysInRing(db::Connection& conn, const crypto::KeyRing::Keys& ring) {
  std::set<std::string> ids;
  for (const auto& key : ring) ids.insert(key.id);
  pqxx::read_transaction txn(conn.raw());
  std::string missing;
  int64_t rows = 0;
  for (const auto& k : CountActiveSuppressionsByKey(conn, txn)) {
    if (ids.count(k.key_id)) continue;
    missing += (missing.empty() ? "" : ", ") + ("'" + k.key_id + "' (") +
               std::to_string(k.active_rows) + " active suppressions)";
    rows += k.active_rows;
  }
  if (missing.empty()) return;
  throw std::runtime_error(
      "suppression keys missing from the ring: " + missing + "; their " + std::to_string(rows) +
      " suppressions would match nothing and those addresses would be sent to again. Put the "
      "key(s) back in HERALD_SUPPRESSION_KEYS (or its file); retire a key only when `heraldctl "
      "suppressions keys` says it can be dropped");
}

v1::RehashSuppressionsResponse RehashSuppressions(db::Pool& pool,
                                                  const crypto::SuppressionHasher& hasher,
                                                  const v1::RehashSuppressionsRequest& r) {
  if (r.batch_size() > kMaxRehashBatch) {
    throw InvalidArgument("batch_size", "at most " + std::to_string(kMaxRehashBatch));
  }
  if (r.after_address() < 0) throw InvalidArgument("after_address", "must not be negative");
  const int batch = r.batch_size() > 0 ? r.batch_size() : kDefaultRehashBatch;
  // One ring for the whole batch: a reload halfway must not pair hashes of two rings.
  const crypto::SuppressionHasher frozen = hasher.Frozen();
  const std::vector<std::string> ring_ids = frozen.key_ids();
  const std::string& newest = ring_ids.front();

  auto conn = pool.Acquire();
  pqxx::work txn(conn->raw());
  auto addresses = conn->Exec(txn, kRehashAddresses, r.after_address(), batch);
  std::set<std::pair<std::string, std::string>> pairs;  // (older hash, newest hash), hex
  for (const auto& row : addresses) {
    const auto kind = static_cast<AddressKind>(row[1].as<int>());
    auto hashes = frozen.All(KindName(kind), row[2].as<std::string>());
    for (size_t i = 1; i < hashes.size(); ++i) {
      pairs.insert({crypto::ToHex(hashes[i].hash), crypto::ToHex(hashes[0].hash)});
    }
  }
  std::map<std::string, int64_t> moved;
  if (!pairs.empty()) {
    std::vector<std::string> olds, news;
    for (const auto& [o, n] : pairs) {
      olds.push_back(o);
      news.push_back(n);
    }
    moved = r.dry_run() ? KeyCounts(conn->Exec(txn, kRehashCount, db::ToArrayLiteral(olds)))
                        : KeyCounts(conn->Exec(txn, kRehashMove, newest, db::ToArrayLiteral(olds),
                                               db::ToArrayLiteral(news)));
  }
  std::map<std::string, int64_t> active = KeyCounts(conn->Exec(txn, kActiveByKey));
  txn.commit();

  v1::RehashSuppressionsResponse resp;
  resp.set_newest_key_id(newest);
  resp.set_done(static_cast<int>(addresses.size()) < batch);
  resp.set_next_after_address(addresses.empty() ? r.after_address()
                                                : addresses[addresses.size() - 1][0].as<int64_t>());
  int64_t rehashed = 0, remaining = 0;
  for (const auto& [id, n] : moved) rehashed += n;
  for (const auto& [id, n] : active) {
    if (id != newest) remaining += n;
  }
  resp.set_rehashed(rehashed);
  resp.set_remaining(remaining);
  if (resp.done() && !r.dry_run()) resp.set_cannot_rehash(remaining);
  // The ring's keys first, newest first, then any key id the ring lacks.
  std::vector<std::string> ids = ring_ids;
  for (const auto& [id, n] : active) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  for (const auto& id : ids) {
    auto* k = resp.add_keys();
    k->set_key_id(id);
    k->set_in_ring(std::find(ring_ids.begin(), ring_ids.end(), id) != ring_ids.end());
    k->set_newest(id == newest);
    k->set_active_rows(active.count(id) ? active[id] : 0);
    k->set_rehashed(moved.count(id) ? moved[id] : 0);
  }
  if (!r.dry_run() && (rehashed > 0 || resp.done())) {
    log::Info("suppressions re-hashed", {{"newest_key", newest},
                                         {"rehashed", rehashed},
                                         {"remaining", remaining},
                                         {"done", resp.done()}});
  }
  return resp;
}

}  // namespace herald::subscriptions
