#include "common/db/idempotency.h"

#include <openssl/rand.h>

#include <mutex>
#include <stdexcept>

#include "common/crypto/hash.h"
#include "common/db/statement.h"
#include "common/error.h"

namespace herald::db {
namespace {

// The writes are server-side functions (migration V017), so a call that does all its work in
// one server-side function (herald_opt_out_subject) claims and completes with the same text.
constexpr Statement kClaim{"idempotency.claim", R"sql(
  SELECT claimed, same_request, response::text
  FROM herald_idempotency_claim($1, $2, $3, decode($4, 'hex'), $5::timestamptz)
)sql"};
constexpr Statement kComplete{"idempotency.complete", R"sql(
  SELECT herald_idempotency_complete($1, $2, $3, $4::jsonb)
)sql"};

// Keeps these hashes apart from every other use of the same keys (suppression hashes).
constexpr std::string_view kHashContext{"herald idempotency request\0", 27};

struct HashKeys {
  std::mutex mu;
  std::optional<crypto::KeyRing> ring;
};

HashKeys& InstalledKeys() {
  static HashKeys keys;
  return keys;
}

crypto::KeyRing ProcessKey() {
  unsigned char secret[32];
  if (RAND_bytes(secret, sizeof secret) != 1) {
    throw std::runtime_error("no random bytes for the idempotency hash key");
  }
  return crypto::KeyRing(
      {{"process", std::string(reinterpret_cast<char*>(secret), sizeof secret)}});
}

crypto::KeyRing CurrentRing() {
  HashKeys& keys = InstalledKeys();
  std::lock_guard lock(keys.mu);
  if (!keys.ring) keys.ring = ProcessKey();
  return *keys.ring;
}

// The request's keyed hash under every live key, newest first, concatenated.
std::string CandidateHashes(const google::protobuf::Message& request) {
  std::string data(kHashContext);
  data += request.SerializeAsString();
  std::string out;
  for (const auto& key : *CurrentRing().Snapshot()) out += crypto::HmacSha256(key.secret, data);
  return out;
}

}  // namespace

void IdempotencyKey::UseRequestHashKeys(const crypto::KeyRing& ring) {
  HashKeys& keys = InstalledKeys();
  std::lock_guard lock(keys.mu);
  keys.ring = ring;
}

const char* const IdempotencyKey::kKeyReused =
    "idempotency_key: already used with a different request";

IdempotencyKey::IdempotencyKey(const Caller& caller, const char* method, const std::string& key,
                               const google::protobuf::Message& request)
    : client_id_(caller.client_id), method_(method), key_(key) {
  if (key_.size() > 128) throw InvalidArgument("idempotency_key", "at most 128 characters");
  for (unsigned char c : key_) {
    if (c < 0x21 || c > 0x7e) {
      throw InvalidArgument("idempotency_key", "printable ASCII without spaces only");
    }
  }
  if (!key_.empty()) {
    request_hash_hex_ = crypto::ToHex(CandidateHashes(request));
  }
}

std::optional<nlohmann::json> IdempotencyKey::Claim(Connection& conn, pqxx::transaction_base& txn,
                                                    Timestamp now) {
  if (key_.empty()) return std::nullopt;
  auto row =
      conn.Exec(txn, kClaim, client_id_, method_, key_, request_hash_hex_, ToIso8601(now))[0];
  if (row[0].as<bool>()) return std::nullopt;
  if (!row[1].as<bool>()) throw AlreadyExists(kKeyReused);
  return nlohmann::json::parse(row[2].as<std::string>());
}

void IdempotencyKey::Complete(Connection& conn, pqxx::transaction_base& txn,
                              const nlohmann::json& response) {
  if (key_.empty()) return;
  conn.Exec(txn, kComplete, client_id_, method_, key_, response.dump());
}

}  // namespace herald::db
