#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/crypto/key_ring.h"

namespace herald::crypto {

// Opaque tokens carried by every unsubscribe / preferences link.
//
// A token is base64url (RFC 4648 section 5, no '=' padding) of these bytes:
//
//   offset  size  field
//   0       1     version, always 0x01
//   1       1     key id length K, 1..kMaxLinkKeyIdBytes
//   2       K     key id (the ring key whose secret made the MAC)
//   .       1     recipient type: 0x01 subject, 0x02 address key, 0x03 address key with
//                 the id of the suppression key it was made under
//   .       0|1+S type 0x03 only: suppression key id length S, 1..kMaxLinkKeyIdBytes, and
//                 its S bytes
//   .       16|32 subject: the UUID's 16 raw bytes; address key: its 32 raw bytes
//   .       1     topic length T, 0..kMaxLinkTopicBytes
//   .       T     topic bytes (empty = all marketing)
//   .       1     channel, 1..3
//   .       1     message id flag: 0x00 absent, 0x01 present
//   .       0|16  message id: the UUID's 16 raw bytes when present
//   .       8     issue time, whole Unix seconds, big-endian two's complement
//   .       32    MAC = HMAC-SHA256(key secret, "herald-link-token" 0x00 || all bytes above)
//
// The context label in the MAC input is not part of the token; it keeps these MACs apart
// from every other use of the same secrets (the ring may be the suppression-hash ring).
// Every byte of the token is covered by the MAC, and the layout is parsed exactly: nothing
// may follow the MAC, and no field may be short, so a truncated or extended token fails.
// A subject token with a message id is 1+1+K+1+16+1+T+1+1+16+8+32 bytes: for key id "k1"
// and topic "news", 84 bytes or 112 characters. The largest possible token (32-byte key id,
// address key with a 32-byte suppression key id, 64-byte topic, message id) is 223 bytes,
// 298 characters. Type 0x02 is what signers wrote before the suppression key id was carried;
// such tokens still verify, with an empty address_key_id.
//
// What the token reveals to whoever holds it: the key id, topic, channel, issue time, and
// the subject / message UUIDs as raw bytes (not their text, but someone who already knows a
// UUID can recognise it in a hex dump), or the address key, which is a keyed hash. It never
// contains an address. Confidentiality of the subject id would need encryption, which this
// format does not do: it is signed, not sealed.
//
// Tokens do not expire: a genuine token verifies for as long as its key is in the ring.
// The caller decides what is too old for its purpose from LinkClaims::issued_at.
inline constexpr size_t kMaxLinkTokenChars = 512;  // longer input is refused undecoded
inline constexpr size_t kMaxLinkKeyIdBytes = 32;
inline constexpr size_t kMaxLinkTopicBytes = 64;

struct LinkClaims {
  std::string subject_id;      // UUID text, or empty for a bare-address link
  std::string address_key;     // raw 32-byte keyed hash of the address (suppression key) when
                               // there is no subject; else empty
  std::string address_key_id;  // the id of the suppression key address_key was made under
                               // (1..32 bytes); empty in older tokens, and with a subject
  std::string topic;           // may be empty (all marketing); at most 64 bytes
  int channel = 0;             // 1 EMAIL, 2 SMS, 3 CALL
  std::string message_id;      // UUID text, may be empty
  Timestamp issued_at;         // carried with whole-second precision (rounded down)

  friend bool operator==(const LinkClaims&, const LinkClaims&) = default;
};

// Thread-safety: Sign and Verify may be called concurrently, also while the ring is replaced
// (KeyRing::Replace): each call reads one snapshot of the keys.
class LinkSigner {
 public:
  // Throws std::invalid_argument if the newest key's id is empty or longer than
  // kMaxLinkKeyIdBytes (it could not sign). Older keys with such ids are simply never
  // matched, since no token can name them.
  explicit LinkSigner(KeyRing ring);

  // Signs with the ring's newest key. Returns URL-safe base64 without '=' padding.
  // Throws std::invalid_argument (naming the field, never echoing its value) unless exactly
  // one of subject_id (a UUID, either case) and address_key (exactly 32 bytes) is set,
  // address_key_id is empty or (with an address_key) 1..kMaxLinkKeyIdBytes bytes, topic
  // is at most 64 bytes, channel is 1..3, message_id is empty or a UUID, and issued_at is
  // representable in whole seconds.
  std::string Sign(const LinkClaims& claims) const;

  // Verifies with the key named inside; nullopt for anything forged, truncated, extended,
  // tampered, malformed, or signed by a key no longer in the ring. Never throws on bad
  // input. UUIDs come back lower-case; issued_at comes back rounded down to the second.
  std::optional<LinkClaims> Verify(std::string_view token) const;

 private:
  KeyRing ring_;
};

// Base64url without padding (RFC 4648 section 5), exposed for tests and other URL-borne
// opaque values. Decoding is strict: it returns nullopt for any character outside
// [A-Za-z0-9_-] (including '='), for a length of 1 mod 4, and for non-zero unused
// trailing bits, so every byte string has exactly one accepted encoding.
std::string Base64UrlEncode(std::string_view bytes);
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace herald::crypto
