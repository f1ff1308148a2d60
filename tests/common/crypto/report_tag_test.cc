// Report tokens (SEC-4): a bounce or complaint is believed only when it quotes a token whose
// tag verifies, so a recipient who knows (or guesses) other recipients' message ids cannot
// forge reports about them.
#include "common/crypto/report_tag.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "common/crypto/hash.h"
#include "common/crypto/link_token.h"

namespace herald::crypto {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kId[] = "0190f5a2-7c3e-7a10-8b2c-00000000002a";
// The next message of the same campaign stream: what a recipient of kId can derive.
constexpr char kNeighbour[] = "0190f5a2-7c3e-7a10-8b2c-00000000002b";

KeyRing Ring(const std::string& spec) { return KeyRing::Parse(spec); }

// 32 bytes of 0xab / 0xcd, as hex.
std::string Repeat(const std::string& pair) {
  std::string hex;
  for (int i = 0; i < 32; ++i) hex += pair;
  return hex;
}
std::string AbKey(const std::string& id) { return id + ":" + Repeat("ab"); }
std::string CdKey(const std::string& id) { return id + ":" + Repeat("cd"); }

// The documented layout, computed independently (HMAC-SHA256 with the context label,
// 10 bytes, lower-case base32) so that the format cannot drift from docs/inbound.md.
TEST(ReportTagTest, KnownAnswer) {
  ReportTagger tagger(Ring(AbKey("k1")));
  EXPECT_EQ(tagger.Token(kId), "0190f5a27c3e7a108b2c00000000002a.355xgau4fobhufki");
  EXPECT_EQ(tagger.Token("0190F5A2-7C3E-7A10-8B2C-00000000002A"), tagger.Token(kId));
  EXPECT_EQ(tagger.Token(kId).size(), kReportTokenChars);
}

TEST(ReportTagTest, GenuineTokenVerifiesToItsMessageId) {
  ReportTagger tagger(Ring(AbKey("k1")));
  EXPECT_EQ(tagger.Verify(tagger.Token(kId)), std::optional<std::string>(kId));
  // Mail systems may fold the case of a local part.
  std::string upper = tagger.Token(kId);
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(tagger.Verify(upper), std::optional<std::string>(kId));
}

// SEC-4: the attacker's own genuine tag glued to a neighbour's id, a guessed tag, and
// tokens cut, extended or malformed: none names a message.
TEST(ReportTagTest, ForgedTokensVerifyToNothing) {
  ReportTagger tagger(Ring(AbKey("k1")));
  std::string own = tagger.Token(kId);
  std::string own_tag = own.substr(33);
  std::string neighbour_id = tagger.Token(kNeighbour).substr(0, 32);
  EXPECT_EQ(tagger.Verify(neighbour_id + "." + own_tag), std::nullopt);
  EXPECT_EQ(tagger.Verify(neighbour_id + ".aaaaaaaaaaaaaaaa"), std::nullopt);
  std::string flipped = own;
  flipped.back() = flipped.back() == 'a' ? 'b' : 'a';
  EXPECT_EQ(tagger.Verify(flipped), std::nullopt);
  EXPECT_EQ(tagger.Verify(own.substr(0, 48)), std::nullopt);
  EXPECT_EQ(tagger.Verify(own + "a"), std::nullopt);
  EXPECT_EQ(tagger.Verify(""), std::nullopt);
  EXPECT_EQ(tagger.Verify(kId), std::nullopt);
  EXPECT_EQ(tagger.Verify(own.substr(0, 32) + "-" + own_tag), std::nullopt);
  EXPECT_EQ(tagger.Verify(own.substr(0, 33) + "1111111111111111"), std::nullopt);  // not base32
  // Another deployment's key (or a key retired from the ring).
  EXPECT_EQ(ReportTagger(Ring(CdKey("k1"))).Verify(own), std::nullopt);
  // Positive control: the genuine token still verifies after all that.
  EXPECT_EQ(tagger.Verify(own), std::optional<std::string>(kId));
}

// A MAC of the same id made for another purpose with the same secret is not a tag.
TEST(ReportTagTest, DomainSeparatedFromOtherUsesOfTheSecret) {
  std::string secret = FromHex(Repeat("ab"));
  std::string raw = FromHex("0190f5a27c3e7a108b2c00000000002a");
  ReportTagger tagger(Ring(AbKey("k1")));
  std::string genuine = tagger.Token(kId);
  // HMAC over the bare id (no context), base32 of its first 10 bytes.
  std::string bare = HmacSha256(secret, raw).substr(0, 10);
  static const char kB32[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string encoded;
  uint64_t buf = 0;
  int bits = 0;
  for (unsigned char b : bare) {
    buf = (buf << 8) | b;
    bits += 8;
    while (bits >= 5) {
      encoded += kB32[(buf >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  EXPECT_NE(genuine.substr(33), encoded);
  EXPECT_EQ(tagger.Verify(genuine.substr(0, 33) + encoded), std::nullopt);
}

// Key rotation: mail tagged before the rotation still verifies while its key stays in the
// ring; new mail is tagged with the new key; a retired key verifies nothing.
TEST(ReportTagTest, RotationKeepsOldTagsVerifyingUntilTheKeyIsRetired) {
  ReportTagger before(Ring(AbKey("k1")));
  std::string old_token = before.Token(kId);
  ReportTagger after(Ring(CdKey("k2") + "," + AbKey("k1")));
  EXPECT_EQ(after.Verify(old_token), std::optional<std::string>(kId));
  std::string new_token = after.Token(kId);
  EXPECT_NE(new_token, old_token);
  EXPECT_EQ(after.Verify(new_token), std::optional<std::string>(kId));
  ReportTagger retired(Ring(CdKey("k2")));
  EXPECT_EQ(retired.Verify(old_token), std::nullopt);
  EXPECT_EQ(retired.Verify(new_token), std::optional<std::string>(kId));
}

TEST(ReportTagTest, TokenNeedsAUuid) {
  ReportTagger tagger(Ring(AbKey("k1")));
  EXPECT_THROW(tagger.Token("not-a-uuid"), std::invalid_argument);
  EXPECT_THROW(tagger.Token("0190f5a27c3e7a108b2c00000000002a"), std::invalid_argument);
  EXPECT_THROW(tagger.Token(""), std::invalid_argument);
}

TEST(ReportTagTest, FindsTokensInReturnPathsAndMessageIds) {
  const std::string t = "0190f5a27c3e7a108b2c00000000002a.355xgau4fobhufki";
  EXPECT_THAT(FindReportTokens("bounces+" + t + "@news.example.com"), ElementsAre(t));
  EXPECT_THAT(FindReportTokens("<" + t + "@mail.example.com>"), ElementsAre(t));
  EXPECT_THAT(FindReportTokens("Bounces+" + t + "@x, <" + t + "@y>"), ElementsAre(t, t));
  // Glued to more letters or digits it is not a token.
  EXPECT_THAT(FindReportTokens("a" + t), IsEmpty());
  EXPECT_THAT(FindReportTokens(t + "7"), IsEmpty());
  EXPECT_THAT(FindReportTokens(t.substr(0, 48)), IsEmpty());
  EXPECT_THAT(FindReportTokens("0190f5a2-7c3e-7a10-8b2c-00000000002a@herald.test"), IsEmpty());
}

}  // namespace
}  // namespace herald::crypto
