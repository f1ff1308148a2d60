#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::crypto {

struct Key {
  std::string id;
  std::string secret;  // raw bytes
};

// Server secrets that rotate: the first (newest) key signs and hashes new rows; every key
// in the ring still verifies and matches until it is retired (removed from the ring).
class KeyRing {
 public:
  // "id1:hexsecret,id2:hexsecret", newest first; each secret at least 32 bytes.
  // Throws std::invalid_argument naming the problem (never the secret).
  static KeyRing Parse(std::string_view spec);
  explicit KeyRing(std::vector<Key> keys);

  const Key& newest() const { return keys_.front(); }
  const std::vector<Key>& keys() const { return keys_; }

 private:
  std::vector<Key> keys_;
};

// The keyed hash under which address suppressions are stored: HMAC-SHA256 over the kind and
// the normalised match key, so a suppression outlives the subject's destruction without
// keeping the address.
struct SuppressionHash {
  std::string key_id;
  std::string hash;  // raw 32 bytes
};

class SuppressionHasher {
 public:
  explicit SuppressionHasher(KeyRing ring) : ring_(std::move(ring)) {}
  // Under the newest key: what new rows store.
  SuppressionHash Current(std::string_view kind, std::string_view match_key) const;
  // Under every live key: what lookups compare against.
  std::vector<SuppressionHash> All(std::string_view kind, std::string_view match_key) const;
  const std::string& newest_key_id() const { return ring_.newest().id; }

 private:
  KeyRing ring_;
};

}  // namespace herald::crypto
