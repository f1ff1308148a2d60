#pragma once

#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/connection.h"
#include "common/grpc/caller.h"

namespace herald::db {

// Idempotency keys scoped per client and RPC, stored with a hash of the request, in the
// same transaction as the work they guard. A concurrent repeat waits on the key's row
// and then sees the committed answer.
//
// The request may hold an address or a name and the row outlives the subject's destruction,
// so the hash is keyed (HMAC-SHA256 under the suppression keys, L6): without the key it
// cannot be matched against a guessed request (a phone number is found by enumeration from
// a plain digest). The row stores the hash under the newest key; a claim offers the hashes
// under every live key (request_hash_hex() is their concatenation, newest first, 32 bytes
// each; migration V025), so a retry after a rotation still matches.
class IdempotencyKey {
 public:
  // The ring the request hashes are keyed with (heraldd: the suppression keys, whose copies
  // follow a rotation). Until one is installed, a random key of this process is used: never
  // a plain digest, but replays then match only within the process.
  static void UseRequestHashKeys(const crypto::KeyRing& ring);

  // Empty key: not idempotent, every method call is a no-op.
  IdempotencyKey(const Caller& caller, const char* method, const std::string& key,
                 const google::protobuf::Message& request);

  // Claims the key. Returns the stored answer of an earlier identical request, or nullopt
  // when this call is the first (then Complete() must be called before commit). Throws
  // ALREADY_EXISTS when the key was used with a different request.
  std::optional<nlohmann::json> Claim(Connection& conn, pqxx::transaction_base& txn, Timestamp now);
  void Complete(Connection& conn, pqxx::transaction_base& txn, const nlohmann::json& response);

  // For a server-side function that claims and completes the key itself with
  // herald_idempotency_claim (or herald_idempotency_claim_or_answer, V020) and
  // herald_idempotency_complete (migrations V017, V019), in one round trip with its work.
  // key() is empty when the call is not idempotent.
  const std::string& client_id() const { return client_id_; }
  const std::string& method() const { return method_; }
  const std::string& key() const { return key_; }
  // The candidate hashes, hex, as herald_idempotency_claim takes them (see above).
  const std::string& request_hash_hex() const { return request_hash_hex_; }

  // The ALREADY_EXISTS message for a key used with a different request.
  static const char* const kKeyReused;

 private:
  std::string client_id_;
  std::string method_;
  std::string key_;
  std::string request_hash_hex_;
};

}  // namespace herald::db
