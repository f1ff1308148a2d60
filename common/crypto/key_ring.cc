#include "common/crypto/key_ring.h"

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "common/crypto/hash.h"

namespace herald::crypto {

KeyRing::KeyRing(Keys keys) : shared_(std::make_shared<Shared>()) {
  if (keys.empty()) throw std::invalid_argument("key ring is empty");
  shared_->keys = std::make_shared<const Keys>(std::move(keys));
}

std::shared_ptr<const KeyRing::Keys> KeyRing::Snapshot() const {
  std::lock_guard lock(shared_->mu);
  return shared_->keys;
}

void KeyRing::Replace(const KeyRing& other) {
  auto keys = other.Snapshot();
  std::lock_guard lock(shared_->mu);
  shared_->keys = std::move(keys);
}

std::string ReadKeyRingFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read the key ring file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  const char* space = " \t\r\n";
  auto first = s.find_first_not_of(space);
  if (first == std::string::npos) {
    throw std::invalid_argument("the key ring file " + path + " is empty");
  }
  return s.substr(first, s.find_last_not_of(space) - first + 1);
}

KeyRing KeyRing::Parse(std::string_view spec) {
  std::vector<Key> keys;
  std::set<std::string> seen;
  size_t pos = 0;
  while (pos <= spec.size()) {
    size_t comma = spec.find(',', pos);
    if (comma == std::string_view::npos) comma = spec.size();
    std::string_view item = spec.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    size_t colon = item.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      throw std::invalid_argument("each key must be written as id:hexsecret");
    }
    std::string id(item.substr(0, colon));
    if (!seen.insert(id).second) throw std::invalid_argument("key id '" + id + "' is repeated");
    std::string secret;
    try {
      secret = FromHex(item.substr(colon + 1));
    } catch (const std::invalid_argument&) {
      throw std::invalid_argument("secret of key '" + id + "' is not hex");
    }
    if (secret.size() < 32) {
      throw std::invalid_argument("secret of key '" + id + "' is shorter than 32 bytes");
    }
    keys.push_back({std::move(id), std::move(secret)});
  }
  if (keys.empty()) throw std::invalid_argument("no key given");
  return KeyRing(std::move(keys));
}

namespace {
std::string HashInput(std::string_view kind, std::string_view match_key) {
  std::string input(kind);
  input.push_back('\0');
  input.append(match_key);
  return input;
}
}  // namespace

SuppressionHash SuppressionHasher::Current(std::string_view kind,
                                           std::string_view match_key) const {
  const Key key = ring_.newest();
  return {key.id, HmacSha256(key.secret, HashInput(kind, match_key))};
}

std::vector<SuppressionHash> SuppressionHasher::All(std::string_view kind,
                                                    std::string_view match_key) const {
  std::vector<SuppressionHash> out;
  std::string input = HashInput(kind, match_key);
  auto keys = ring_.Snapshot();
  for (const Key& key : *keys) out.push_back({key.id, HmacSha256(key.secret, input)});
  return out;
}

std::vector<std::string> SuppressionHasher::key_ids() const {
  std::vector<std::string> ids;
  for (const Key& key : *ring_.Snapshot()) ids.push_back(key.id);
  return ids;
}

}  // namespace herald::crypto
