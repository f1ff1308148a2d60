#include "services/privacy/confirmation_token.h"

#include <cctype>
#include <stdexcept>

#include "common/crypto/hash.h"
#include "common/crypto/link_token.h"
#include "common/proto_time.h"
#include "common/validation/uuid.h"

namespace herald::privacy {
namespace {

constexpr std::string_view kPrivacyContext{"herald-privacy-confirmation\0", 28};
constexpr std::string_view kCaptureContext{"herald-consent-capture\0", 23};
constexpr size_t kMaxKeyId = 32;
constexpr size_t kMaxTokenChars = 256;

std::string Mac(std::string_view context, const crypto::Key& key, std::string_view body) {
  std::string input(context);
  input.append(body);
  return crypto::HmacSha256(key.secret, input);
}

}  // namespace

ConfirmationTokens::ConfirmationTokens(crypto::KeyRing ring, TokenPurpose purpose)
    : ring_(std::move(ring)),
      version_(purpose == TokenPurpose::kConsentCapture ? 0x52 : 0x51),
      context_(purpose == TokenPurpose::kConsentCapture ? kCaptureContext : kPrivacyContext) {
  const std::string id = ring_.newest().id;
  if (id.empty() || id.size() > kMaxKeyId) {
    throw std::invalid_argument("link keys: the newest key id must be 1..32 bytes");
  }
}

std::string ConfirmationTokens::Sign(const std::string& request_id, Timestamp issued_at) const {
  auto uuid = validation::UuidToBytes(request_id);
  if (!uuid) throw std::invalid_argument("request_id: not a UUID");
  const crypto::Key key = ring_.newest();
  std::string body;
  body.push_back(version_);
  body.push_back(static_cast<char>(key.id.size()));
  body += key.id;
  body += *uuid;
  int64_t secs = ToUnixMicros(issued_at) / 1000000;
  for (int shift = 56; shift >= 0; shift -= 8) {
    body.push_back(static_cast<char>((static_cast<uint64_t>(secs) >> shift) & 0xff));
  }
  return crypto::Base64UrlEncode(body + Mac(context_, key, body));
}

std::optional<ConfirmationClaims> ConfirmationTokens::Verify(std::string_view token) const {
  if (token.empty() || token.size() > kMaxTokenChars) return std::nullopt;
  auto raw = crypto::Base64UrlDecode(token);
  if (!raw || raw->size() < 2 || (*raw)[0] != version_) return std::nullopt;
  size_t k = static_cast<unsigned char>((*raw)[1]);
  if (k == 0 || k > kMaxKeyId || raw->size() != 2 + k + 16 + 8 + 32) return std::nullopt;
  std::string key_id = raw->substr(2, k);
  std::string_view body(raw->data(), raw->size() - 32);
  std::string_view mac(raw->data() + raw->size() - 32, 32);
  const crypto::Key* key = nullptr;
  auto keys = ring_.Snapshot();
  for (const auto& candidate : *keys) {
    if (candidate.id == key_id) key = &candidate;
  }
  if (!key || !crypto::ConstantTimeEquals(Mac(context_, *key, body), mac)) return std::nullopt;
  ConfirmationClaims claims;
  claims.request_id = validation::UuidFromBytes(raw->substr(2 + k, 16));
  uint64_t secs = 0;
  for (size_t i = 0; i < 8; ++i) {
    secs = (secs << 8) | static_cast<unsigned char>((*raw)[2 + k + 16 + i]);
  }
  auto s = static_cast<int64_t>(secs);
  // Outside what a clock can say: not a token we issued.
  if (s < 0 || s > kLatestUnixSeconds) return std::nullopt;
  claims.issued_at = FromUnixMicros(s * 1000000);
  return claims;
}

}  // namespace herald::privacy
