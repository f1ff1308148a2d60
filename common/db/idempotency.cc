#include "common/db/idempotency.h"

#include "common/crypto/hash.h"
#include "common/db/statement.h"
#include "common/error.h"

namespace herald::db {
namespace {

constexpr Statement kClaim{"idempotency.claim", R"sql(
  INSERT INTO idempotency_keys (client_id, method, key, request_hash, response, created_at)
  VALUES ($1, $2, $3, decode($4, 'hex'), 'null'::jsonb, $5)
  ON CONFLICT DO NOTHING
  RETURNING 1
)sql"};
constexpr Statement kRead{"idempotency.read", R"sql(
  SELECT encode(request_hash, 'hex'), response::text
  FROM idempotency_keys
  WHERE client_id = $1
    AND method = $2
    AND key = $3
)sql"};
constexpr Statement kComplete{"idempotency.complete", R"sql(
  UPDATE idempotency_keys
  SET response = $4::jsonb
  WHERE client_id = $1
    AND method = $2
    AND key = $3
)sql"};

}  // namespace

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
    request_hash_hex_ = crypto::ToHex(crypto::Sha256(request.SerializeAsString()));
  }
}

std::optional<nlohmann::json> IdempotencyKey::Claim(Connection& conn, pqxx::transaction_base& txn,
                                                    Timestamp now) {
  if (key_.empty()) return std::nullopt;
  auto claimed =
      conn.Exec(txn, kClaim, client_id_, method_, key_, request_hash_hex_, ToIso8601(now));
  if (!claimed.empty()) return std::nullopt;
  auto row = conn.Exec(txn, kRead, client_id_, method_, key_)[0];
  if (row[0].as<std::string>() != request_hash_hex_) {
    throw AlreadyExists("idempotency_key: already used with a different request");
  }
  return nlohmann::json::parse(row[1].as<std::string>());
}

void IdempotencyKey::Complete(Connection& conn, pqxx::transaction_base& txn,
                              const nlohmann::json& response) {
  if (key_.empty()) return;
  conn.Exec(txn, kComplete, client_id_, method_, key_, response.dump());
}

}  // namespace herald::db
