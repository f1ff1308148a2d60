#include "common/crypto/link_token.h"

#include <cstdint>
#include <limits>
#include <stdexcept>

#include "common/crypto/hash.h"
#include "common/validation/uuid.h"

namespace herald::crypto {

namespace {

constexpr unsigned char kVersion = 0x01;
constexpr unsigned char kRecipientSubject = 0x01;
constexpr unsigned char kRecipientAddressKey = 0x02;
constexpr unsigned char kRecipientAddressKeyWithId = 0x03;
constexpr unsigned char kMessageIdAbsent = 0x00;
constexpr unsigned char kMessageIdPresent = 0x01;
constexpr size_t kUuidBytes = 16;
constexpr size_t kAddressKeyBytes = 32;
constexpr size_t kMacBytes = 32;
constexpr int kMinChannel = 1;
constexpr int kMaxChannel = 3;
// Prepended to the MAC input only (never sent): separates these MACs from other uses of the
// same secrets, such as SuppressionHasher's HMAC(kind NUL match_key).
constexpr std::string_view kMacContext{"herald-link-token\0", 18};

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int Base64UrlValue(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Floor division, so that times before the epoch also round down.
int64_t FloorSeconds(Timestamp t) {
  int64_t us = ToUnixMicros(t);
  int64_t s = us / 1000000;
  if (us % 1000000 < 0) --s;
  return s;
}

constexpr int64_t kMinSeconds = std::numeric_limits<int64_t>::min() / 1000000;
constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1000000;

// Reads the token body front to back; every read checks the remaining length.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Byte(unsigned char* out) {
    if (data_.empty()) return false;
    *out = static_cast<unsigned char>(data_.front());
    data_.remove_prefix(1);
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (data_.size() < n) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  bool AtEnd() const { return data_.empty(); }

 private:
  std::string_view data_;
};

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t n = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8) |
                 uint32_t{static_cast<unsigned char>(bytes[i + 2])};
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
    out.push_back(kAlphabet[n & 63]);
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t n = uint32_t{static_cast<unsigned char>(bytes[i])} << 16;
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
  } else if (rest == 2) {
    uint32_t n = (uint32_t{static_cast<unsigned char>(bytes[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(bytes[i + 1])} << 8);
    out.push_back(kAlphabet[(n >> 18) & 63]);
    out.push_back(kAlphabet[(n >> 12) & 63]);
    out.push_back(kAlphabet[(n >> 6) & 63]);
  }
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  // A lone trailing character carries only 6 bits: not a whole byte.
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char ch : text) {
    int v = Base64UrlValue(static_cast<unsigned char>(ch));
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
    acc &= (1u << bits) - 1;  // keep only the bits not yet emitted
  }
  // Leftover bits (2 or 4) are padding and must be zero, or two strings would decode alike.
  if (acc != 0) return std::nullopt;
  return out;
}

LinkSigner::LinkSigner(KeyRing ring) : ring_(std::move(ring)) {
  const std::string id = ring_.newest().id;
  if (id.empty() || id.size() > kMaxLinkKeyIdBytes) {
    throw std::invalid_argument("link token signing key id must be 1 to " +
                                std::to_string(kMaxLinkKeyIdBytes) + " bytes");
  }
}

std::string LinkSigner::Sign(const LinkClaims& claims) const {
  const bool has_subject = !claims.subject_id.empty();
  const bool has_address_key = !claims.address_key.empty();
  if (has_subject == has_address_key) {
    throw std::invalid_argument("link claims need exactly one of subject_id and address_key");
  }
  std::optional<std::string> subject;
  if (has_subject) {
    subject = validation::UuidToBytes(claims.subject_id);
    if (!subject) throw std::invalid_argument("link claims: subject_id must be a UUID");
  } else if (claims.address_key.size() != kAddressKeyBytes) {
    throw std::invalid_argument("link claims: address_key must be 32 bytes");
  }
  if (!claims.address_key_id.empty() &&
      (has_subject || claims.address_key_id.size() > kMaxLinkKeyIdBytes)) {
    throw std::invalid_argument(
        "link claims: address_key_id goes with an address_key, 1 to 32 bytes");
  }
  if (claims.topic.size() > kMaxLinkTopicBytes) {
    throw std::invalid_argument("link claims: topic is longer than 64 bytes");
  }
  if (claims.channel < kMinChannel || claims.channel > kMaxChannel) {
    throw std::invalid_argument("link claims: channel must be 1, 2 or 3");
  }
  std::optional<std::string> message;
  if (!claims.message_id.empty()) {
    message = validation::UuidToBytes(claims.message_id);
    if (!message) throw std::invalid_argument("link claims: message_id must be a UUID");
  }
  const int64_t seconds = FloorSeconds(claims.issued_at);
  if (seconds < kMinSeconds || seconds > kMaxSeconds) {
    throw std::invalid_argument("link claims: issued_at is out of range");
  }

  const Key key = ring_.newest();
  std::string body;
  body.reserve(128);
  body.push_back(static_cast<char>(kVersion));
  body.push_back(static_cast<char>(key.id.size()));
  body.append(key.id);
  if (has_subject) {
    body.push_back(static_cast<char>(kRecipientSubject));
    body.append(*subject);
  } else if (claims.address_key_id.empty()) {
    body.push_back(static_cast<char>(kRecipientAddressKey));
    body.append(claims.address_key);
  } else {
    body.push_back(static_cast<char>(kRecipientAddressKeyWithId));
    body.push_back(static_cast<char>(claims.address_key_id.size()));
    body.append(claims.address_key_id);
    body.append(claims.address_key);
  }
  body.push_back(static_cast<char>(claims.topic.size()));
  body.append(claims.topic);
  body.push_back(static_cast<char>(claims.channel));
  if (message) {
    body.push_back(static_cast<char>(kMessageIdPresent));
    body.append(*message);
  } else {
    body.push_back(static_cast<char>(kMessageIdAbsent));
  }
  const uint64_t raw_seconds = static_cast<uint64_t>(seconds);
  for (int shift = 56; shift >= 0; shift -= 8) {
    body.push_back(static_cast<char>((raw_seconds >> shift) & 0xff));
  }

  std::string mac_input(kMacContext);
  mac_input.append(body);
  body.append(HmacSha256(key.secret, mac_input));
  return Base64UrlEncode(body);
}

std::optional<LinkClaims> LinkSigner::Verify(std::string_view token) const {
  if (token.empty() || token.size() > kMaxLinkTokenChars) return std::nullopt;
  std::optional<std::string> decoded = Base64UrlDecode(token);
  if (!decoded || decoded->size() <= kMacBytes) return std::nullopt;
  const std::string_view all(*decoded);
  const std::string_view body = all.substr(0, all.size() - kMacBytes);
  const std::string_view mac = all.substr(all.size() - kMacBytes);

  // Authenticate before interpreting anything beyond the key id.
  Reader header(body);
  unsigned char version = 0, key_id_size = 0;
  std::string_view key_id;
  if (!header.Byte(&version) || version != kVersion) return std::nullopt;
  if (!header.Byte(&key_id_size) || key_id_size == 0 || key_id_size > kMaxLinkKeyIdBytes) {
    return std::nullopt;
  }
  if (!header.Bytes(key_id_size, &key_id)) return std::nullopt;
  const Key* key = nullptr;
  auto keys = ring_.Snapshot();
  for (const Key& k : *keys) {
    if (k.id == key_id) {
      key = &k;
      break;
    }
  }
  if (key == nullptr) return std::nullopt;
  std::string mac_input(kMacContext);
  mac_input.append(body);
  if (!ConstantTimeEquals(HmacSha256(key->secret, mac_input), mac)) return std::nullopt;

  // Authentic: still parsed strictly, so a token made by a buggy or future signer that
  // happens to share a key is refused rather than misread.
  Reader r(body);
  unsigned char skip = 0;
  std::string_view skip_bytes;
  r.Byte(&skip);
  r.Byte(&skip);
  r.Bytes(key_id_size, &skip_bytes);

  LinkClaims claims;
  unsigned char recipient = 0;
  std::string_view recipient_bytes;
  if (!r.Byte(&recipient)) return std::nullopt;
  if (recipient == kRecipientSubject) {
    if (!r.Bytes(kUuidBytes, &recipient_bytes)) return std::nullopt;
    claims.subject_id = validation::UuidFromBytes(recipient_bytes);
  } else if (recipient == kRecipientAddressKey || recipient == kRecipientAddressKeyWithId) {
    if (recipient == kRecipientAddressKeyWithId) {
      unsigned char id_size = 0;
      std::string_view id;
      if (!r.Byte(&id_size) || id_size == 0 || id_size > kMaxLinkKeyIdBytes) return std::nullopt;
      if (!r.Bytes(id_size, &id)) return std::nullopt;
      claims.address_key_id = std::string(id);
    }
    if (!r.Bytes(kAddressKeyBytes, &recipient_bytes)) return std::nullopt;
    claims.address_key = std::string(recipient_bytes);
  } else {
    return std::nullopt;
  }

  unsigned char topic_size = 0;
  std::string_view topic;
  if (!r.Byte(&topic_size) || topic_size > kMaxLinkTopicBytes) return std::nullopt;
  if (!r.Bytes(topic_size, &topic)) return std::nullopt;
  claims.topic = std::string(topic);

  unsigned char channel = 0;
  if (!r.Byte(&channel) || channel < kMinChannel || channel > kMaxChannel) return std::nullopt;
  claims.channel = channel;

  unsigned char message_flag = 0;
  if (!r.Byte(&message_flag)) return std::nullopt;
  if (message_flag == kMessageIdPresent) {
    std::string_view message;
    if (!r.Bytes(kUuidBytes, &message)) return std::nullopt;
    claims.message_id = validation::UuidFromBytes(message);
  } else if (message_flag != kMessageIdAbsent) {
    return std::nullopt;
  }

  std::string_view time_bytes;
  if (!r.Bytes(8, &time_bytes)) return std::nullopt;
  uint64_t raw_seconds = 0;
  for (char c : time_bytes) raw_seconds = (raw_seconds << 8) | static_cast<unsigned char>(c);
  const int64_t seconds = static_cast<int64_t>(raw_seconds);
  if (seconds < kMinSeconds || seconds > kMaxSeconds) return std::nullopt;
  claims.issued_at = FromUnixMicros(seconds * 1000000);

  if (!r.AtEnd()) return std::nullopt;
  return claims;
}

}  // namespace herald::crypto
