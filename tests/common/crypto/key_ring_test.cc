#include "common/crypto/key_ring.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/crypto/hash.h"
#include "common/crypto/link_token.h"

namespace herald::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// --- SHA-256: FIPS 180-2 / NIST example vectors. ---

TEST(Sha256Test, EmptyInput) {
  EXPECT_EQ(ToHex(Sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Sha256Test, Abc) {
  EXPECT_EQ(ToHex(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256Test, TwoBlockMessage) {
  EXPECT_EQ(ToHex(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256Test, OneMillionA) {
  EXPECT_EQ(ToHex(Sha256(std::string(1000000, 'a'))),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256Test, IsRaw32Bytes) { EXPECT_EQ(Sha256("abc").size(), 32u); }

TEST(Sha256Test, HashesEmbeddedNul) {
  EXPECT_NE(Sha256(std::string("a\0b", 3)), Sha256("a"));
  EXPECT_NE(Sha256(std::string("a\0b", 3)), Sha256("ab"));
}

// --- HMAC-SHA256: RFC 4231 section 4 test cases. ---

TEST(HmacSha256Test, Rfc4231Case1) {
  EXPECT_EQ(ToHex(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

TEST(HmacSha256Test, Rfc4231Case2KeyShorterThanOutput) {
  EXPECT_EQ(ToHex(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(HmacSha256Test, Rfc4231Case3) {
  EXPECT_EQ(ToHex(HmacSha256(std::string(20, '\xaa'), std::string(50, '\xdd'))),
            "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

TEST(HmacSha256Test, Rfc4231Case4) {
  EXPECT_EQ(ToHex(HmacSha256(FromHex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
                             std::string(50, '\xcd'))),
            "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
}

TEST(HmacSha256Test, Rfc4231Case5Truncated) {
  EXPECT_EQ(ToHex(HmacSha256(std::string(20, '\x0c'), "Test With Truncation")).substr(0, 32),
            "a3b6167473100ee06e0c796c2955552b");
}

TEST(HmacSha256Test, Rfc4231Case6KeyLargerThanBlock) {
  EXPECT_EQ(ToHex(HmacSha256(std::string(131, '\xaa'),
                             "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256Test, Rfc4231Case7KeyAndDataLargerThanBlock) {
  EXPECT_EQ(ToHex(HmacSha256(std::string(131, '\xaa'),
                             "This is a test using a larger than block-size key and a larger "
                             "than block-size data. The key needs to be hashed before being "
                             "used by the HMAC algorithm.")),
            "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

// --- Hex. ---

TEST(HexTest, ToHexIsLowerCase) {
  EXPECT_EQ(ToHex(std::string("\x00\x01\xab\xff", 4)), "0001abff");
  EXPECT_EQ(ToHex(""), "");
}

TEST(HexTest, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  const std::string hex = ToHex(all);
  EXPECT_EQ(hex.size(), 512u);
  EXPECT_EQ(FromHex(hex), all);
}

TEST(HexTest, FromHexAcceptsUpperCase) {
  EXPECT_EQ(FromHex("ABCDEF"), "\xab\xcd\xef");
  EXPECT_EQ(FromHex("aBcD"), "\xab\xcd");
  EXPECT_EQ(FromHex(""), "");
}

TEST(HexTest, FromHexRejectsOddLength) {
  EXPECT_THROW(FromHex("abc"), std::invalid_argument);
  EXPECT_THROW(FromHex("a"), std::invalid_argument);
}

TEST(HexTest, FromHexRejectsNonHexDigits) {
  EXPECT_THROW(FromHex("zz"), std::invalid_argument);
  EXPECT_THROW(FromHex("0g"), std::invalid_argument);
  EXPECT_THROW(FromHex("g0"), std::invalid_argument);
  EXPECT_THROW(FromHex("0x12"), std::invalid_argument);
  EXPECT_THROW(FromHex("12 4"), std::invalid_argument);
  EXPECT_THROW(FromHex(std::string("0\0", 2)), std::invalid_argument);
}

// --- ConstantTimeEquals. ---

TEST(ConstantTimeEqualsTest, EqualStrings) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
}

TEST(ConstantTimeEqualsTest, DifferentStrings) {
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "bbc"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(ConstantTimeEqualsTest, DifferentLengths) {
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

// --- KeyRing::Parse. ---

// 32 bytes, as hex; distinct secrets for distinct ids.
const std::string kSecretNew = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string kSecretOld = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";
const std::string kSecretShort = "00112233445566778899aabbccddeeff00112233445566778899aabbccddee";

std::string ParseError(const std::string& spec) {
  try {
    KeyRing::Parse(spec);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected std::invalid_argument";
  return "";
}

TEST(KeyRingParseTest, ParsesKeysNewestFirst) {
  KeyRing ring = KeyRing::Parse("new:" + kSecretNew + ",old:" + kSecretOld);
  ASSERT_EQ(ring.Snapshot()->size(), 2u);
  EXPECT_EQ((*ring.Snapshot())[0].id, "new");
  EXPECT_EQ((*ring.Snapshot())[0].secret, FromHex(kSecretNew));
  EXPECT_EQ((*ring.Snapshot())[1].id, "old");
  EXPECT_EQ((*ring.Snapshot())[1].secret, FromHex(kSecretOld));
  EXPECT_EQ(ring.newest().id, "new");
}

TEST(KeyRingParseTest, AcceptsLongerSecretsAndUpperCaseHex) {
  const std::string upper = "AABBCCDDEEFF00112233445566778899AABBCCDDEEFF00112233445566778899AA";
  KeyRing ring = KeyRing::Parse("k:" + upper);
  ASSERT_EQ(ring.Snapshot()->size(), 1u);
  EXPECT_EQ((*ring.Snapshot())[0].secret.size(), 33u);
  EXPECT_EQ(ToHex((*ring.Snapshot())[0].secret),
            "aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aa");
}

TEST(KeyRingParseTest, SkipsEmptyItems) {
  KeyRing ring = KeyRing::Parse(",a:" + kSecretNew + ",,");
  ASSERT_EQ(ring.Snapshot()->size(), 1u);
  EXPECT_EQ((*ring.Snapshot())[0].id, "a");
}

TEST(KeyRingParseTest, RejectsShortSecretWithoutEchoingIt) {
  std::string msg = ParseError("k1:" + kSecretShort);  // 31 bytes
  EXPECT_THAT(msg, HasSubstr("k1"));
  EXPECT_THAT(msg, HasSubstr("32 bytes"));
  EXPECT_THAT(msg, Not(HasSubstr(kSecretShort)));
  EXPECT_THAT(msg, Not(HasSubstr(kSecretShort.substr(0, 16))));
}

TEST(KeyRingParseTest, RejectsBadHexWithoutEchoingIt) {
  const std::string bad = kSecretNew.substr(0, 62) + "zz";
  std::string msg = ParseError("k1:" + bad);
  EXPECT_THAT(msg, HasSubstr("k1"));
  EXPECT_THAT(msg, HasSubstr("hex"));
  EXPECT_THAT(msg, Not(HasSubstr(bad.substr(0, 16))));
}

TEST(KeyRingParseTest, RejectsOddLengthHexWithoutEchoingIt) {
  const std::string odd = kSecretNew + "a";
  std::string msg = ParseError("k1:" + odd);
  EXPECT_THAT(msg, HasSubstr("k1"));
  EXPECT_THAT(msg, Not(HasSubstr(odd.substr(0, 16))));
}

TEST(KeyRingParseTest, RejectsRepeatedIdWithoutEchoingSecrets) {
  std::string msg = ParseError("k1:" + kSecretNew + ",k1:" + kSecretOld);
  EXPECT_THAT(msg, HasSubstr("k1"));
  EXPECT_THAT(msg, HasSubstr("repeated"));
  EXPECT_THAT(msg, Not(HasSubstr(kSecretNew.substr(0, 16))));
  EXPECT_THAT(msg, Not(HasSubstr(kSecretOld.substr(0, 16))));
}

TEST(KeyRingParseTest, RejectsEmptySpec) {
  EXPECT_THAT(ParseError(""), HasSubstr("no key"));
  EXPECT_THAT(ParseError(",,"), HasSubstr("no key"));
}

TEST(KeyRingParseTest, RejectsItemWithoutIdOrColonWithoutEchoingIt) {
  std::string no_colon = ParseError(kSecretNew);
  EXPECT_THAT(no_colon, HasSubstr("id:hexsecret"));
  EXPECT_THAT(no_colon, Not(HasSubstr(kSecretNew.substr(0, 16))));
  std::string no_id = ParseError(":" + kSecretNew);
  EXPECT_THAT(no_id, HasSubstr("id:hexsecret"));
  EXPECT_THAT(no_id, Not(HasSubstr(kSecretNew.substr(0, 16))));
}

TEST(KeyRingParseTest, RejectsEmptySecret) { EXPECT_THAT(ParseError("k1:"), HasSubstr("k1")); }

TEST(KeyRingTest, EmptyKeyListIsRejected) {
  EXPECT_THROW(KeyRing(std::vector<Key>{}), std::invalid_argument);
}

// --- SuppressionHasher. ---

SuppressionHasher TwoKeyHasher() {
  return SuppressionHasher(KeyRing::Parse("new:" + kSecretNew + ",old:" + kSecretOld));
}

TEST(SuppressionHasherTest, CurrentUsesNewestKey) {
  SuppressionHash h = TwoKeyHasher().Current("email", "user@example.com");
  EXPECT_EQ(h.key_id, "new");
  EXPECT_EQ(h.hash.size(), 32u);
  // HMAC-SHA256(newest secret, kind NUL match_key), as documented in key_ring.h.
  EXPECT_EQ(h.hash, HmacSha256(FromHex(kSecretNew), std::string("email\0user@example.com", 22)));
}

TEST(SuppressionHasherTest, AllReturnsOneHashPerKeyInRingOrder) {
  std::vector<SuppressionHash> all = TwoKeyHasher().All("phone", "+79161234567");
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].key_id, "new");
  EXPECT_EQ(all[1].key_id, "old");
  EXPECT_EQ(all[0].hash, TwoKeyHasher().Current("phone", "+79161234567").hash);
  EXPECT_EQ(all[1].hash, HmacSha256(FromHex(kSecretOld), std::string("phone\0+79161234567", 18)));
  EXPECT_NE(all[0].hash, all[1].hash);
}

TEST(SuppressionHasherTest, SameInputGivesSameHash) {
  SuppressionHasher hasher = TwoKeyHasher();
  EXPECT_EQ(hasher.Current("email", "a@b.ru").hash, hasher.Current("email", "a@b.ru").hash);
  EXPECT_EQ(hasher.Current("email", "a@b.ru").hash, TwoKeyHasher().Current("email", "a@b.ru").hash);
}

TEST(SuppressionHasherTest, DifferentKindsGiveDifferentHashes) {
  SuppressionHasher hasher = TwoKeyHasher();
  EXPECT_NE(hasher.Current("email", "79161234567").hash,
            hasher.Current("phone", "79161234567").hash);
}

TEST(SuppressionHasherTest, DifferentMatchKeysGiveDifferentHashes) {
  SuppressionHasher hasher = TwoKeyHasher();
  EXPECT_NE(hasher.Current("email", "a@b.ru").hash, hasher.Current("email", "a@b.rv").hash);
}

TEST(SuppressionHasherTest, KindAndKeyBoundaryIsUnambiguous) {
  // "ab" + "c" must not collide with "a" + "bc".
  SuppressionHasher hasher = TwoKeyHasher();
  EXPECT_NE(hasher.Current("ab", "c").hash, hasher.Current("a", "bc").hash);
}

TEST(SuppressionHasherTest, RotationKeepsOldHashAmongAll) {
  // Before rotation the ring had only "old"; rows were stored under its Current() hash.
  SuppressionHasher before(KeyRing::Parse("old:" + kSecretOld));
  SuppressionHash stored = before.Current("email", "user@example.com");
  EXPECT_EQ(stored.key_id, "old");

  SuppressionHasher after = TwoKeyHasher();
  EXPECT_EQ(after.Current("email", "user@example.com").key_id, "new");
  EXPECT_NE(after.Current("email", "user@example.com").hash, stored.hash);
  bool found = false;
  for (const auto& h : after.All("email", "user@example.com")) {
    if (h.key_id == stored.key_id && h.hash == stored.hash) found = true;
  }
  EXPECT_TRUE(found);
}

TEST(SuppressionHasherTest, RetiredKeyNoLongerMatches) {
  SuppressionHasher before(KeyRing::Parse("old:" + kSecretOld));
  SuppressionHash stored = before.Current("email", "user@example.com");
  SuppressionHasher retired(KeyRing::Parse("new:" + kSecretNew));
  for (const auto& h : retired.All("email", "user@example.com")) EXPECT_NE(h.hash, stored.hash);
}

// TLS-5: a rotation read from a mounted file reaches every signer and verifier made from
// the ring, while a snapshot taken before it stays whole.
// The re-hash pairs each address's hash under an older key with its hash under the newest
// one (SEC-16): both must come from one ring even if the ring file is reloaded meanwhile.
TEST(SuppressionHasherTest, AFrozenHasherKeepsItsKeysThroughAReplace) {
  KeyRing ring = KeyRing::Parse("new:" + kSecretNew + ",old:" + kSecretOld);
  SuppressionHasher live(ring);
  SuppressionHasher frozen = live.Frozen();
  EXPECT_EQ(frozen.key_ids(), (std::vector<std::string>{"new", "old"}));
  auto before = frozen.All("email", "a@example.com");

  ring.Replace(KeyRing::Parse("newer:" + std::string(64, 'c')));
  EXPECT_EQ(live.key_ids(), std::vector<std::string>{"newer"});
  EXPECT_EQ(frozen.key_ids(), (std::vector<std::string>{"new", "old"}));
  auto after = frozen.All("email", "a@example.com");
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].hash, before[0].hash);
  EXPECT_EQ(after[1].hash, before[1].hash);
  EXPECT_EQ(frozen.Current("email", "a@example.com").key_id, "new");
}

TEST(KeyRingReplaceTest, ReachesEveryCopyAndLeavesSnapshotsWhole) {
  KeyRing ring = KeyRing::Parse("old:" + kSecretOld);
  LinkSigner signer(ring);
  LinkClaims claims;
  claims.subject_id = "6f1c2f7e-35c3-4e0e-9c1d-3c2a7d2e8b10";
  claims.channel = 1;
  claims.issued_at = Timestamp(std::chrono::seconds(1800000000));
  std::string under_old = signer.Sign(claims);
  auto before = ring.Snapshot();

  ring.Replace(KeyRing::Parse("new:" + kSecretNew + ",old:" + kSecretOld));
  std::string under_new = signer.Sign(claims);
  EXPECT_NE(under_new, under_old);
  // A signer with only the old key cannot verify the new token; the shared one can.
  EXPECT_FALSE(LinkSigner(KeyRing::Parse("old:" + kSecretOld)).Verify(under_new));
  EXPECT_TRUE(signer.Verify(under_new));
  EXPECT_TRUE(signer.Verify(under_old));
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ(before->front().id, "old");

  ring.Replace(KeyRing::Parse("new:" + kSecretNew));  // "old" retired
  EXPECT_FALSE(signer.Verify(under_old));
  EXPECT_TRUE(signer.Verify(under_new));
}

TEST(KeyRingFileTest, ReadsTheSpecificationWithoutSurroundingSpace) {
  std::string path = ::testing::TempDir() + "/ring-" + std::to_string(getpid());
  std::ofstream(path) << "  k:" << kSecretNew << "\n\n";
  EXPECT_EQ(ReadKeyRingFile(path), "k:" + kSecretNew);
  std::ofstream(path) << " \n";
  try {
    ReadKeyRingFile(path);
    ADD_FAILURE() << "an empty file was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("is empty"));
  }
  std::remove(path.c_str());
  try {
    ReadKeyRingFile(path);
    ADD_FAILURE() << "a missing file was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot read"));
  }
}

}  // namespace
}  // namespace herald::crypto
