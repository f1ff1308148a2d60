#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/crypto/key_ring.h"

namespace herald::privacy {

// The token of a privacy-request confirmation link (/c/{token}), sent to the address an
// e-mail marker came from (STANDARDS §2b). It names exactly one request, so a token for one
// request never confirms another.
//
// base64url (no padding) of:
//   0x51 | key id length K (1..32) | key id | request UUID (16 raw bytes) |
//   issue time (8 bytes, whole Unix seconds, big-endian) | MAC (32 bytes)
// MAC = HMAC-SHA256(key secret, "herald-privacy-confirmation" 0x00 || all bytes above).
//
// The link keys sign it under their own context label and version byte, so it is never a
// valid unsubscribe/preferences token nor a CSRF value, and none of those is ever one of
// these (domain separation). Parsed exactly: nothing may follow the MAC.
struct ConfirmationClaims {
  std::string request_id;  // lower-case UUID text
  Timestamp issued_at;     // whole seconds
};

// What a token confirms. Each purpose signs under its own version byte and context label
// (0x52, "herald-consent-capture" for a double opt-in request), so a token of one purpose
// never confirms the other.
enum class TokenPurpose { kPrivacyRequest, kConsentCapture };

// Immutable after construction; thread-safe.
class ConfirmationTokens {
 public:
  // Throws std::invalid_argument when the newest key's id is empty or longer than 32 bytes.
  explicit ConfirmationTokens(crypto::KeyRing ring,
                              TokenPurpose purpose = TokenPurpose::kPrivacyRequest);

  // Throws std::invalid_argument unless request_id is a UUID.
  std::string Sign(const std::string& request_id, Timestamp issued_at) const;
  // nullopt for anything forged, truncated, extended, of another kind, or signed by a key
  // no longer in the ring. Never throws on bad input.
  std::optional<ConfirmationClaims> Verify(std::string_view token) const;

 private:
  crypto::KeyRing ring_;
  char version_;
  std::string_view context_;
};

}  // namespace herald::privacy
