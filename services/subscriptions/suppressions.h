#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"
#include "common/domain/enums.h"

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

}  // namespace herald::subscriptions
