#pragma once

#include <memory>
#include <mutex>
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
// Copies of a ring share its keys, so one Replace (a rotation read from a mounted file)
// reaches every signer and verifier made from it; each use reads one consistent snapshot.
class KeyRing {
 public:
  using Keys = std::vector<Key>;
  // "id1:hexsecret,id2:hexsecret", newest first; each secret at least 32 bytes.
  // Throws std::invalid_argument naming the problem (never the secret).
  static KeyRing Parse(std::string_view spec);
  explicit KeyRing(Keys keys);

  // The keys now, newest first; a later Replace does not change a snapshot already taken.
  std::shared_ptr<const Keys> Snapshot() const;
  Key newest() const { return Snapshot()->front(); }
  // Puts `other`'s keys in this ring and in every copy of it.
  void Replace(const KeyRing& other);

 private:
  struct Shared {
    mutable std::mutex mu;
    std::shared_ptr<const Keys> keys;
  };
  std::shared_ptr<Shared> shared_;
};

// A ring's specification kept in a file (a mounted Kubernetes Secret): the file's text
// with surrounding white space removed. Throws std::invalid_argument naming the path when
// it cannot be read or is empty (never the contents).
std::string ReadKeyRingFile(const std::string& path);

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
  std::string newest_key_id() const { return ring_.newest().id; }
  // The ring's key ids, newest first.
  std::vector<std::string> key_ids() const;
  // A hasher over the ring's keys as they are now, which a later Replace does not change: for
  // work that must hash every value under one ring (a re-hash batch).
  SuppressionHasher Frozen() const { return SuppressionHasher(KeyRing(*ring_.Snapshot())); }

 private:
  KeyRing ring_;
};

}  // namespace herald::crypto
