#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/connection.h"
#include "common/db/pool.h"
#include "common/domain/enums.h"
#include "herald/v1/subscriptions.pb.h"

namespace herald::subscriptions {

// The suppressions table: address-level refusals stored under an address's keyed hash. The
// functions here are its only writers, and CoveringSuppressionExists is the one meaning of
// "already suppressed". Callers take the address's gate row for change first (gate_rows.h).
//
// Keys are hex keyed hashes; lookups pass the hashes under every live key, inserts the one
// under the newest key.

// What a suppression refuses: `channel` kAnyChannel is every channel, `topic` "" every
// marketing topic.
struct SuppressionScope {
  int channel = kAnyChannel;
  std::string topic;
};

// An active suppression of one of `key_hexes` that covers a new one of this scope and reason:
// at least as broad (every channel or the same one, every topic or the same one) and for the
// same reason. Another reason never covers: reasons differ in what they stop (a hard bounce,
// a revocation or a manual entry also stops service notices) and in what may lift them.
bool CoveringSuppressionExists(db::Connection& conn, pqxx::transaction_base& txn,
                               const std::vector<std::string>& key_hexes,
                               const SuppressionScope& scope, SuppressionReason reason);

struct NewSuppression {
  std::string key_id;   // the suppression key the hash was made under
  std::string key_hex;  // the address's keyed hash under that key
  SuppressionScope scope;
  SuppressionReason reason = SuppressionReason::kUnsubscribed;
  int source = 0;  // herald.v1.Source
  Timestamp created_at{};
  int64_t event_id = 0;  // the suppression.added event
};
void InsertSuppression(db::Connection& conn, pqxx::transaction_base& txn, const NewSuppression& s);

// A newer marketing consent with proof on `channel` lifts the active suppressions of these
// keys that it postdates (created before `consent_time`) and that apply to that channel.
// Hard bounces and manual entries are lifted by an admin only, never by a consent. Returns
// how many were lifted.
int64_t LiftSuppressionsByConsent(db::Connection& conn, pqxx::transaction_base& txn,
                                  const std::vector<std::string>& key_hexes, Channel channel,
                                  Timestamp consent_time, int64_t event_id, Timestamp now);

// A START from a number that no subject owns lifts its SMS stops (whatever their channel
// scope). Returns how many were lifted.
int64_t LiftSmsStops(db::Connection& conn, pqxx::transaction_base& txn,
                     const std::vector<std::string>& key_hexes, int64_t event_id, Timestamp now);

// Suppression keys. A row matches only while the key its hash was made under is in the ring:
// retiring a key that active rows still use would make those addresses mailable again, so
// heraldd refuses to start, and a changed ring file is refused, while one is missing (SEC-15).
// Before a key is retired, RehashSuppressions moves the rows whose address Herald still holds
// onto the newest key; the rows of addresses it no longer holds (destroyed subjects, bare
// numbers and addresses) can never be moved, and their key stays in the ring, verify-only
// (SEC-16). Lifted rows refuse nothing and do not hold a key; the re-hash moves them too when
// it can, so a subject's export still finds them.

// Active suppressions stored under one key id.
struct SuppressionKeyCount {
  std::string key_id;
  int64_t active_rows = 0;
};

// Every key id active suppressions are stored under, by id.
std::vector<SuppressionKeyCount> CountActiveSuppressionsByKey(db::Connection& conn,
                                                              pqxx::transaction_base& txn);

// Throws std::runtime_error naming each key id that active suppressions use and `ring`
// lacks, with its row count (ids and counts only: never an address or a secret).
void RequireSuppressionKeysInRing(db::Connection& conn, const crypto::KeyRing::Keys& ring);

// One batch of the re-hash, in one transaction: the subjects' addresses after
// r.after_address (by id, r.batch_size of them), hashed under every older ring key; the
// suppressions stored under one of those hashes (whatever key id they carry) get the
// address's hash under the newest key and its id. Both keys are in the ring while it runs, so
// every row matches before and after its move: no gate row is taken, as nothing any decision
// reads changes. Throws herald::Error (INVALID_ARGUMENT) for a batch size above 10000.
v1::RehashSuppressionsResponse RehashSuppressions(db::Pool& pool,
                                                  const crypto::SuppressionHasher& hasher,
                                                  const v1::RehashSuppressionsRequest& r);

}  // namespace herald::subscriptions
