// SEC-5: the confirmation link's token names one request, under its own domain separation.
#include "services/privacy/confirmation_token.h"

#include <gtest/gtest.h>

#include "common/crypto/link_token.h"

namespace herald::privacy {
namespace {

crypto::KeyRing Ring() {
  return crypto::KeyRing::Parse("k2:" + std::string(64, 'b') + ",k1:" + std::string(64, 'a'));
}

constexpr char kRequest[] = "0b6f4c3e-2a1d-4e5f-8a9b-1c2d3e4f5a6b";
constexpr char kOther[] = "0b6f4c3e-2a1d-4e5f-8a9b-1c2d3e4f5a6c";

TEST(ConfirmationTokens, AGenuineTokenNamesItsRequest_SEC5) {
  ConfirmationTokens tokens(Ring());
  Timestamp t = ParseTimestamp("2026-11-27T10:00:00Z");
  auto claims = tokens.Verify(tokens.Sign("0B6F4C3E-2A1D-4E5F-8A9B-1C2D3E4F5A6B", t));
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->request_id, kRequest);
  EXPECT_EQ(claims->issued_at, t);
  EXPECT_NE(tokens.Sign(kRequest, t), tokens.Sign(kOther, t));
}

TEST(ConfirmationTokens, TamperedTruncatedExtendedOrForeignTokensAreRefused_SEC5) {
  ConfirmationTokens tokens(Ring());
  Timestamp t = ParseTimestamp("2026-11-27T10:00:00Z");
  std::string good = tokens.Sign(kRequest, t);
  ASSERT_TRUE(tokens.Verify(good));  // control
  auto raw = *crypto::Base64UrlDecode(good);
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string flipped = raw;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x01);
    EXPECT_FALSE(tokens.Verify(crypto::Base64UrlEncode(flipped))) << "byte " << i;
  }
  EXPECT_FALSE(tokens.Verify(crypto::Base64UrlEncode(raw.substr(0, raw.size() - 1))));
  EXPECT_FALSE(tokens.Verify(crypto::Base64UrlEncode(raw + "x")));
  EXPECT_FALSE(tokens.Verify(""));
  EXPECT_FALSE(tokens.Verify("not a token"));
  // Another deployment's keys.
  ConfirmationTokens other(crypto::KeyRing::Parse("k2:" + std::string(64, 'c')));
  EXPECT_FALSE(other.Verify(good));
  // A retired key no longer verifies; an older key still in the ring does.
  ConfirmationTokens old_signer(crypto::KeyRing::Parse("k1:" + std::string(64, 'a')));
  EXPECT_TRUE(tokens.Verify(old_signer.Sign(kRequest, t)));
  ConfirmationTokens rotated(
      crypto::KeyRing::Parse("k3:" + std::string(64, 'd') + ",k2:" + std::string(64, 'b')));
  EXPECT_FALSE(rotated.Verify(old_signer.Sign(kRequest, t)));
}

// The same keys sign unsubscribe links: neither kind of token is ever the other.
TEST(ConfirmationTokens, DomainSeparatedFromUnsubscribeLinks_SEC5) {
  ConfirmationTokens tokens(Ring());
  crypto::LinkSigner links(Ring());
  Timestamp t = ParseTimestamp("2026-11-27T10:00:00Z");
  crypto::LinkClaims c;
  c.subject_id = kRequest;
  c.channel = 1;
  c.message_id = kOther;
  c.issued_at = t;
  std::string link = links.Sign(c);
  ASSERT_TRUE(links.Verify(link));  // control
  EXPECT_FALSE(tokens.Verify(link));
  std::string confirmation = tokens.Sign(kRequest, t);
  ASSERT_TRUE(tokens.Verify(confirmation));  // control
  EXPECT_FALSE(links.Verify(confirmation));
}

// A consent-capture link (CAP-3) and a privacy-request link are signed under their own
// purposes: neither confirms the other's request, even with the same keys and request id.
TEST(ConfirmationTokens, CapturePurposeIsDomainSeparated_CAP_3) {
  ConfirmationTokens privacy(Ring());
  ConfirmationTokens capture(Ring(), TokenPurpose::kConsentCapture);
  Timestamp t = ParseTimestamp("2026-11-27T10:00:00Z");
  std::string capture_token = capture.Sign(kRequest, t);
  std::string privacy_token = privacy.Sign(kRequest, t);
  ASSERT_TRUE(capture.Verify(capture_token));
  EXPECT_EQ(capture.Verify(capture_token)->request_id, kRequest);
  EXPECT_FALSE(privacy.Verify(capture_token));
  EXPECT_FALSE(capture.Verify(privacy_token));
  // The same bytes with the other purpose's version byte still fail: the MAC's context
  // differs too.
  auto raw = crypto::Base64UrlDecode(capture_token);
  ASSERT_TRUE(raw);
  (*raw)[0] = privacy_token.empty() ? 0 : crypto::Base64UrlDecode(privacy_token)->at(0);
  EXPECT_FALSE(privacy.Verify(crypto::Base64UrlEncode(*raw)));
}

}  // namespace
}  // namespace herald::privacy
