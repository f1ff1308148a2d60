// Link tokens of /u/{token} and /p/{token}: any text through LinkSigner::Verify, strict
// base64url decoding, and (since no forger gets past the MAC) token bodies the fuzzer
// shapes freely but signed with the ring's key, so the field parser behind the MAC is
// reached too.
//
// Input: one byte choosing the mode, then
//   0: the token text as a recipient's browser sends it;
//   1: a token body (everything before the MAC), signed here and verified;
//   2: claims (16 or 32 recipient bytes, a suppression key id with the 32, topic, channel,
//      message id, time) signed and verified back, then verified again with one character
//      changed.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "common/crypto/hash.h"
#include "common/crypto/link_token.h"
#include "common/validation/uuid.h"
#include "fuzz/fuzz_support.h"

namespace {

using namespace herald::crypto;

const std::string kSecret(32, 'k');
const std::string kOldSecret(32, 'o');

const LinkSigner& Signer() {
  static const LinkSigner signer(KeyRing({{"k1", kSecret}, {"k0", kOldSecret}}));
  return signer;
}

void VerifyText(std::string_view token) {
  auto claims = Signer().Verify(token);
  if (!claims) return;
  HERALD_FUZZ_CHECK(claims->subject_id.empty() != claims->address_key.empty());
  HERALD_FUZZ_CHECK(claims->channel >= 1 && claims->channel <= 3);
  HERALD_FUZZ_CHECK(claims->topic.size() <= kMaxLinkTopicBytes);
  HERALD_FUZZ_CHECK(
      claims->address_key_id.empty() ||
      (!claims->address_key.empty() && claims->address_key_id.size() <= kMaxLinkKeyIdBytes));
}

void SignBody(std::string_view body) {
  std::string mac_input("herald-link-token\0", 18);
  mac_input.append(body);
  std::string token(body);
  // The key named inside decides; "k1" and "k0" are in the ring.
  bool old = body.size() > 2 && body.substr(2, 2) == "k0";
  token += HmacSha256(old ? kOldSecret : kSecret, mac_input);
  VerifyText(Base64UrlEncode(token));
}

// n bytes of the input, zero-filled when it runs out.
std::string Padded(herald::fuzz::Input& in, size_t n) {
  std::string bytes(in.Bytes(n));
  bytes.resize(n, '\0');
  return bytes;
}

void RoundTrip(herald::fuzz::Input& in) {
  uint8_t flags = in.Byte();
  LinkClaims claims;
  if (flags & 1) {
    claims.address_key = Padded(in, 32);
    if (flags & 4) claims.address_key_id = std::string(in.Bytes(in.Byte() % 40));
  } else {
    claims.subject_id = herald::validation::UuidFromBytes(Padded(in, 16));
  }
  claims.topic = std::string(in.Bytes(in.Byte() % 80));
  claims.channel = in.Byte() % 5;
  if (flags & 2) claims.message_id = herald::validation::UuidFromBytes(Padded(in, 16));
  int64_t seconds = 0;
  std::string t = Padded(in, sizeof seconds);
  std::memcpy(&seconds, t.data(), t.size());
  seconds %= 4'000'000'000'000;  // within Timestamp's microseconds
  claims.issued_at = herald::FromUnixMicros(seconds * 1'000'000);
  std::string token;
  try {
    token = Signer().Sign(claims);
  } catch (const std::invalid_argument&) {
    return;  // claims Sign refuses, as documented
  }
  HERALD_FUZZ_CHECK(token.size() <= 298);
  auto back = Signer().Verify(token);
  HERALD_FUZZ_CHECK(back.has_value());
  HERALD_FUZZ_CHECK(*back == claims);
  // Any one character changed (to another of the alphabet) is refused.
  size_t at = in.Byte() % token.size();
  token[at] = token[at] == 'A' ? 'B' : 'A';
  HERALD_FUZZ_CHECK(!Signer().Verify(token).has_value());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  herald::fuzz::Input in(data, size);
  switch (in.Byte() % 3) {
    case 0: {
      std::string_view text = in.Rest();
      VerifyText(text);
      // One accepted encoding per byte string.
      if (auto bytes = Base64UrlDecode(text)) HERALD_FUZZ_CHECK(Base64UrlEncode(*bytes) == text);
      break;
    }
    case 1:
      SignBody(in.Rest());
      break;
    default:
      RoundTrip(in);
      break;
  }
  return 0;
}
