#include "common/crypto/link_token.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/crypto/hash.h"
#include "common/crypto/key_ring.h"

namespace herald::crypto {

// Readable failure output (gtest finds it by argument-dependent lookup).
void PrintTo(const LinkClaims& c, std::ostream* os) {
  *os << "{subject_id=\"" << c.subject_id << "\" address_key=" << ToHex(c.address_key)
      << " topic=\"" << c.topic << "\" channel=" << c.channel << " message_id=\"" << c.message_id
      << "\" issued_at_us=" << ToUnixMicros(c.issued_at) << "}";
}

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::string kSecret1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string kSecret2 = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";
const std::string kSecretOther = "5555555555555555555555555555555555555555555555555555555555555555";

const std::string kSubject = "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1b";
const std::string kMessage = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const std::string kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// 2026-11-27T17:58:33Z.
const Timestamp kIssued = FromUnixMicros(int64_t{1795802313} * 1000000);

LinkSigner Signer(const std::string& spec) { return LinkSigner(KeyRing::Parse(spec)); }
LinkSigner K1() { return Signer("k1:" + kSecret1); }
LinkSigner K2K1() { return Signer("k2:" + kSecret2 + ",k1:" + kSecret1); }
LinkSigner K2() { return Signer("k2:" + kSecret2); }

std::string AddressKey() {
  return HmacSha256(FromHex(kSecret1), std::string("email\0user@example.com", 22));
}

LinkClaims SubjectClaims() {
  LinkClaims c;
  c.subject_id = kSubject;
  c.topic = "news";
  c.channel = 1;
  c.message_id = kMessage;
  c.issued_at = kIssued;
  return c;
}

LinkClaims AddressClaims() {
  LinkClaims c;
  c.address_key = AddressKey();
  c.topic = "";
  c.channel = 2;
  c.issued_at = kIssued;
  return c;
}

// A bare address's claims naming the suppression key "s1" (recipient type 0x03).
LinkClaims AddressClaimsWithKeyId() {
  LinkClaims c = AddressClaims();
  c.address_key_id = "s1";
  return c;
}

std::string Decoded(const std::string& token) {
  std::optional<std::string> bytes = Base64UrlDecode(token);
  EXPECT_TRUE(bytes.has_value()) << token;
  return bytes.value_or("");
}

// A token with an authentic MAC (under `secret`) over arbitrary body bytes, to check that
// Verify parses strictly even what it can authenticate.
std::string MacedToken(const std::string& body, const std::string& secret_hex) {
  std::string input("herald-link-token\0", 18);
  input += body;
  return Base64UrlEncode(body + HmacSha256(FromHex(secret_hex), input));
}

// The body of SubjectClaims() signed by "k1", written out by hand from the documented layout.
std::string K1SubjectBody() {
  std::string b;
  b += '\x01';
  b += '\x02';
  b += "k1";
  b += '\x01';
  b += FromHex("3f2b8c1e9d4a4e7ba1c25d6e7f809a1b");
  b += '\x04';
  b += "news";
  b += '\x01';
  b += '\x01';
  b += FromHex("0a1b2c3d4e5f4a6b8c7d9e0f1a2b3c4d");
  b += FromHex("000000006b09c4c9");  // 1795802313
  return b;
}

// --- Base64url. ---

TEST(Base64UrlTest, Rfc4648VectorsWithoutPadding) {
  EXPECT_EQ(Base64UrlEncode(""), "");
  EXPECT_EQ(Base64UrlEncode("f"), "Zg");
  EXPECT_EQ(Base64UrlEncode("fo"), "Zm8");
  EXPECT_EQ(Base64UrlEncode("foo"), "Zm9v");
  EXPECT_EQ(Base64UrlEncode("foob"), "Zm9vYg");
  EXPECT_EQ(Base64UrlEncode("fooba"), "Zm9vYmE");
  EXPECT_EQ(Base64UrlEncode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64UrlDecode(""), "");
  EXPECT_EQ(Base64UrlDecode("Zg"), "f");
  EXPECT_EQ(Base64UrlDecode("Zm8"), "fo");
  EXPECT_EQ(Base64UrlDecode("Zm9v"), "foo");
  EXPECT_EQ(Base64UrlDecode("Zm9vYg"), "foob");
  EXPECT_EQ(Base64UrlDecode("Zm9vYmE"), "fooba");
  EXPECT_EQ(Base64UrlDecode("Zm9vYmFy"), "foobar");
}

TEST(Base64UrlTest, UsesUrlSafeAlphabet) {
  // Standard base64 of these bytes is "+/8=" / "//7+".
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");
  EXPECT_EQ(Base64UrlEncode("\xff\xfe\xfe"), "__7-");
  EXPECT_EQ(Base64UrlDecode("-_8"), "\xfb\xff");
  EXPECT_EQ(Base64UrlDecode("__7-"), "\xff\xfe\xfe");
}

TEST(Base64UrlTest, RoundTripsEveryByteAtEveryAlignment) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); ++len) {
    const std::string bytes = all.substr(all.size() - len);
    const std::string text = Base64UrlEncode(bytes);
    EXPECT_EQ(text.size(), (len * 4 + 2) / 3);
    EXPECT_EQ(text.find_first_not_of(kAlphabet), std::string::npos) << text;
    EXPECT_EQ(Base64UrlDecode(text), bytes) << len;
  }
}

TEST(Base64UrlTest, DecodeRejectsCharactersOutsideTheAlphabet) {
  for (std::string bad : {"Zm9v+A", "Zm9v/A", "Zm8=", "Zg==", "Zm 9v", "Zm9v\n", "Zm.v",
                          "\xc3\xa9\xc3\xa9", "Zm9v*"}) {
    EXPECT_EQ(Base64UrlDecode(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(Base64UrlDecode(std::string("Zm\0v", 4)), std::nullopt);
}

TEST(Base64UrlTest, DecodeRejectsImpossibleLengths) {
  EXPECT_EQ(Base64UrlDecode("A"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9vY"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm9vYmFyZ"), std::nullopt);
}

TEST(Base64UrlTest, DecodeRejectsNonCanonicalTrailingBits) {
  // "Zg" is "f"; "Zh".."Zv" carry the same byte with non-zero unused bits.
  EXPECT_EQ(Base64UrlDecode("Zh"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zv"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Z_"), std::nullopt);
  // "Zm8" is "fo"; "Zm9" has unused bits 01.
  EXPECT_EQ(Base64UrlDecode("Zm9"), std::nullopt);
  EXPECT_EQ(Base64UrlDecode("Zm-"), std::nullopt);
  // Every accepted 2- and 3-character string re-encodes to itself.
  for (char a : kAlphabet) {
    for (char b : kAlphabet) {
      std::string two{a, b};
      if (auto d = Base64UrlDecode(two)) {
        EXPECT_EQ(Base64UrlEncode(*d), two);
      }
      std::string three{'Q', a, b};
      if (auto d = Base64UrlDecode(three)) {
        EXPECT_EQ(Base64UrlEncode(*d), three);
      }
    }
  }
}

// --- Round trips. ---

TEST(LinkSignerTest, RoundTripsSubjectClaims) {
  const LinkClaims claims = SubjectClaims();
  std::optional<LinkClaims> got = K1().Verify(K1().Sign(claims));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->subject_id, kSubject);
  EXPECT_EQ(got->address_key, "");
  EXPECT_EQ(got->topic, "news");
  EXPECT_EQ(got->channel, 1);
  EXPECT_EQ(got->message_id, kMessage);
  EXPECT_EQ(got->issued_at, kIssued);
  EXPECT_EQ(*got, claims);
}

TEST(LinkSignerTest, RoundTripsAddressKeyWithEmptyTopicAndNoMessageId) {
  const LinkClaims claims = AddressClaims();
  std::optional<LinkClaims> got = K1().Verify(K1().Sign(claims));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->subject_id, "");
  EXPECT_EQ(got->address_key, AddressKey());
  EXPECT_EQ(got->topic, "");
  EXPECT_EQ(got->channel, 2);
  EXPECT_EQ(got->message_id, "");
  EXPECT_EQ(got->issued_at, kIssued);
  EXPECT_EQ(*got, claims);
}

// A bare address's link names the suppression key its address key was made under, so an
// opt-out through it is filed under that key (SEC-15).
TEST(LinkSignerTest, RoundTripsAddressKeyWithItsSuppressionKeyId) {
  LinkClaims claims = AddressClaimsWithKeyId();
  std::optional<LinkClaims> got = K1().Verify(K1().Sign(claims));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->address_key, AddressKey());
  EXPECT_EQ(got->address_key_id, "s1");
  EXPECT_EQ(*got, claims);
  claims.address_key_id = std::string(32, 'x');
  EXPECT_EQ(K1().Verify(K1().Sign(claims)), claims);
}

TEST(LinkSignerTest, RoundTripsEveryChannelAndLongestTopic) {
  for (int channel : {1, 2, 3}) {
    LinkClaims claims = SubjectClaims();
    claims.channel = channel;
    claims.topic = std::string(64, 't');
    claims.message_id.clear();
    EXPECT_EQ(K1().Verify(K1().Sign(claims)), claims) << channel;
  }
}

TEST(LinkSignerTest, RoundTripsAddressKeyOfAnyBytes) {
  LinkClaims claims = AddressClaims();
  claims.address_key = std::string(32, '\0');
  EXPECT_EQ(K1().Verify(K1().Sign(claims)), claims);
  claims.address_key = std::string(32, '\xff');
  claims.message_id = kMessage;
  claims.topic = "promo.sale-2026";
  EXPECT_EQ(K1().Verify(K1().Sign(claims)), claims);
}

TEST(LinkSignerTest, UuidsComeBackLowerCase) {
  LinkClaims claims = SubjectClaims();
  claims.subject_id = "3F2B8C1E-9D4A-4E7B-A1C2-5D6E7F809A1B";
  claims.message_id = "0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D";
  std::optional<LinkClaims> got = K1().Verify(K1().Sign(claims));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->subject_id, kSubject);
  EXPECT_EQ(got->message_id, kMessage);
  EXPECT_EQ(K1().Sign(claims), K1().Sign(SubjectClaims()));
}

TEST(LinkSignerTest, IssuedAtKeepsWholeSecondsRoundedDown) {
  const LinkSigner signer = K1();
  struct Case {
    int64_t in_us;
    int64_t out_us;
  };
  for (Case c :
       std::vector<Case>{{0, 0},
                         {999999, 0},
                         {1795802313999999, 1795802313000000},
                         {1795802313000001, 1795802313000000},
                         {-1, -1000000},
                         {-1500000, -2000000},
                         {-2000000, -2000000},
                         {int64_t{4102444800} * 1000000, int64_t{4102444800} * 1000000},
                         {int64_t{253402300799} * 1000000 + 5, int64_t{253402300799} * 1000000}}) {
    LinkClaims claims = SubjectClaims();
    claims.issued_at = FromUnixMicros(c.in_us);
    std::optional<LinkClaims> got = signer.Verify(signer.Sign(claims));
    ASSERT_TRUE(got.has_value()) << c.in_us;
    EXPECT_EQ(ToUnixMicros(got->issued_at), c.out_us) << c.in_us;
  }
}

TEST(LinkSignerTest, SameClaimsGiveSameTokenAndDifferentClaimsDifferentTokens) {
  const LinkSigner signer = K1();
  const std::string base = signer.Sign(SubjectClaims());
  EXPECT_EQ(signer.Sign(SubjectClaims()), base);
  std::vector<LinkClaims> variants(5, SubjectClaims());
  variants[0].topic = "newt";
  variants[1].channel = 3;
  variants[2].message_id = "";
  variants[3].issued_at += std::chrono::seconds(1);
  variants[4].subject_id[35] = 'c';
  std::set<std::string> tokens{base};
  for (const auto& v : variants) EXPECT_TRUE(tokens.insert(signer.Sign(v)).second);
}

// --- Format. ---

TEST(LinkSignerTest, MatchesDocumentedLayout) {
  const std::string token = K1().Sign(SubjectClaims());
  EXPECT_EQ(token, MacedToken(K1SubjectBody(), kSecret1));
  EXPECT_EQ(Decoded(token).size(), 84u);  // the example in link_token.h
  EXPECT_EQ(token.size(), 112u);
}

TEST(LinkSignerTest, AddressKeyLayout) {
  const std::string bytes = Decoded(K1().Sign(AddressClaims()));
  ASSERT_EQ(bytes.size(), 1u + 1 + 2 + 1 + 32 + 1 + 0 + 1 + 1 + 8 + 32);
  EXPECT_EQ(bytes.substr(0, 5), std::string("\x01\x02k1\x02", 5));
  EXPECT_EQ(bytes.substr(5, 32), AddressKey());
  EXPECT_EQ(bytes.substr(37, 3), std::string("\x00\x02\x00", 3));
}

TEST(LinkSignerTest, AddressKeyWithKeyIdLayout) {
  const std::string bytes = Decoded(K1().Sign(AddressClaimsWithKeyId()));
  ASSERT_EQ(bytes.size(), 1u + 1 + 2 + 1 + 1 + 2 + 32 + 1 + 0 + 1 + 1 + 8 + 32);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x01\x02k1\x03\x02s1", 8));
  EXPECT_EQ(bytes.substr(8, 32), AddressKey());
  EXPECT_EQ(bytes.substr(40, 3), std::string("\x00\x02\x00", 3));
}

// Tokens signed before the key id was carried (type 0x02) still verify, with no key id.
TEST(LinkSignerTest, AddressKeyWithoutKeyIdStillVerifies) {
  std::string old_body = Decoded(K1().Sign(AddressClaimsWithKeyId()));
  old_body.resize(old_body.size() - 32);  // the MAC
  old_body.erase(5, 3);                   // the key id's size and bytes
  old_body[4] = '\x02';
  std::optional<LinkClaims> got = K1().Verify(MacedToken(old_body, kSecret1));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->address_key, AddressKey());
  EXPECT_EQ(got->address_key_id, "");
}

TEST(LinkSignerTest, TokensAreUrlSafeWithoutPadding) {
  // Many tokens, so that every output position sees many byte values.
  const LinkSigner signer = K1();
  std::set<char> seen;
  for (int i = 0; i < 300; ++i) {
    LinkClaims claims = AddressClaims();
    for (int j = 0; j < 32; ++j) claims.address_key[j] = static_cast<char>((i * 7 + j * 31) & 0xff);
    claims.topic = std::string(static_cast<size_t>(i % 4), 'x');
    const std::string token = signer.Sign(claims);
    EXPECT_EQ(token.find_first_of("+/="), std::string::npos) << token;
    EXPECT_EQ(token.find_first_not_of(kAlphabet), std::string::npos) << token;
    seen.insert(token.begin(), token.end());
  }
  // The two characters that differ from standard base64 do occur.
  EXPECT_TRUE(seen.count('-'));
  EXPECT_TRUE(seen.count('_'));
}

TEST(LinkSignerTest, TokenDoesNotContainSubjectIdText) {
  LinkClaims claims = SubjectClaims();
  const std::string token = K1().Sign(claims);
  const std::string bytes = Decoded(token);
  std::string upper = kSubject;
  for (auto& c : upper) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  std::string no_dashes;
  for (char c : kSubject) {
    if (c != '-') no_dashes.push_back(c);
  }
  for (const std::string& form : {kSubject, upper, no_dashes, kSubject.substr(0, 8),
                                  kSubject.substr(24), kMessage, kMessage.substr(24)}) {
    EXPECT_THAT(bytes, Not(HasSubstr(form)));
    EXPECT_THAT(token, Not(HasSubstr(form)));
  }
}

TEST(LinkSignerTest, LargestTokenFitsTheLengthLimit) {
  LinkSigner signer = Signer(std::string(32, 'k') + ":" + kSecret1);
  LinkClaims claims = AddressClaims();
  claims.address_key_id = std::string(32, 's');
  claims.topic = std::string(64, 'z');
  claims.message_id = kMessage;
  const std::string token = signer.Sign(claims);
  EXPECT_EQ(token.size(), 298u);
  EXPECT_LE(token.size(), kMaxLinkTokenChars);
  EXPECT_EQ(signer.Verify(token), claims);
}

// --- Tampering. ---

void ExpectEverySubstitutionFails(const LinkSigner& signer, const std::string& token) {
  ASSERT_TRUE(signer.Verify(token).has_value());
  const std::string extra = std::string("+/=. ~%\xc3\xff", 9) + std::string(1, '\0');
  const std::string replacements = kAlphabet + extra;
  int tried = 0;
  for (size_t pos = 0; pos < token.size(); ++pos) {
    for (char r : replacements) {
      if (r == token[pos]) continue;
      std::string bad = token;
      bad[pos] = r;
      ++tried;
      EXPECT_FALSE(signer.Verify(bad).has_value()) << "position " << pos << " -> " << r;
    }
  }
  EXPECT_EQ(tried, static_cast<int>(token.size() * (replacements.size() - 1)));
}

TEST(LinkSignerTest, EverySingleCharacterChangeFailsSubjectToken) {
  ExpectEverySubstitutionFails(K1(), K1().Sign(SubjectClaims()));
}

TEST(LinkSignerTest, EverySingleCharacterChangeFailsAddressToken) {
  ExpectEverySubstitutionFails(K2K1(), K2K1().Sign(AddressClaims()));
}

TEST(LinkSignerTest, TruncationAtEveryLengthFails) {
  for (const LinkClaims& claims : {SubjectClaims(), AddressClaims()}) {
    const std::string token = K1().Sign(claims);
    ASSERT_TRUE(K1().Verify(token).has_value());
    for (size_t len = 0; len < token.size(); ++len) {
      EXPECT_FALSE(K1().Verify(token.substr(0, len)).has_value()) << len;
      EXPECT_FALSE(K1().Verify(token.substr(token.size() - len)).has_value()) << len;
    }
  }
}

TEST(LinkSignerTest, AppendingFails) {
  for (const LinkClaims& claims : {SubjectClaims(), AddressClaims()}) {
    const std::string token = K1().Sign(claims);
    ASSERT_TRUE(K1().Verify(token).has_value());
    for (char c : kAlphabet) {
      EXPECT_FALSE(K1().Verify(token + c).has_value()) << c;
      EXPECT_FALSE(K1().Verify(std::string(1, c) + token).has_value()) << c;
    }
    for (std::string tail : {"A", "AA", "AAA", "AAAA", "=", "==", " ", "\n", "%3D", "&a=b"}) {
      EXPECT_FALSE(K1().Verify(token + tail).has_value()) << tail;
    }
    EXPECT_FALSE(K1().Verify(token + std::string(1, '\0')).has_value());
    EXPECT_FALSE(K1().Verify(token + token).has_value());
    // Canonical encodings of the decoded bytes with bytes added at either end.
    const std::string bytes = Decoded(token);
    for (const std::string& more :
         {std::string(1, '\0'), std::string("x"), std::string(32, '\0')}) {
      EXPECT_FALSE(K1().Verify(Base64UrlEncode(bytes + more)).has_value());
      EXPECT_FALSE(K1().Verify(Base64UrlEncode(more + bytes)).has_value());
    }
  }
}

TEST(LinkSignerTest, FlippingAnyDecodedBitFails) {
  const std::string bytes = Decoded(K1().Sign(SubjectClaims()));
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = bytes;
      bad[i] = static_cast<char>(bad[i] ^ (1 << bit));
      EXPECT_FALSE(K1().Verify(Base64UrlEncode(bad)).has_value()) << i << ":" << bit;
    }
  }
}

TEST(LinkSignerTest, TokenFromAnotherRingWithSameKeyIdFails) {
  const LinkSigner other = Signer("k1:" + kSecretOther);
  for (const LinkClaims& claims : {SubjectClaims(), AddressClaims()}) {
    const std::string foreign = other.Sign(claims);
    ASSERT_TRUE(other.Verify(foreign).has_value());
    EXPECT_FALSE(K1().Verify(foreign).has_value());
    EXPECT_FALSE(K2K1().Verify(foreign).has_value());
    EXPECT_FALSE(other.Verify(K1().Sign(claims)).has_value());
  }
}

TEST(LinkSignerTest, MacWithoutContextLabelFails) {
  // HMAC over the bare body (no "herald-link-token\0" prefix) is some other protocol's MAC.
  const std::string body = K1SubjectBody();
  const std::string token = Base64UrlEncode(body + HmacSha256(FromHex(kSecret1), body));
  EXPECT_FALSE(K1().Verify(token).has_value());
}

TEST(LinkSignerTest, AuthenticButMalformedBodiesFail) {
  const std::string good = K1SubjectBody();
  ASSERT_EQ(K1().Verify(MacedToken(good, kSecret1)), SubjectClaims());
  auto with = [&](size_t pos, char c) {
    std::string b = good;
    b[pos] = c;
    return b;
  };
  // Offsets in K1SubjectBody(): 0 version, 1 key id size, 2..3 "k1", 4 recipient type,
  // 5..20 subject, 21 topic size, 22..25 "news", 26 channel, 27 message flag, 28..43 message,
  // 44..51 time.
  std::vector<std::pair<std::string, std::string>> bad = {
      {"version 0", with(0, '\x00')},
      {"version 2", with(0, '\x02')},
      {"recipient type 0", with(4, '\x00')},
      {"recipient type 4", with(4, '\x04')},
      {"recipient type 3 with subject-sized field", with(4, '\x03')},
      {"address type with subject-sized field", with(4, '\x02')},
      {"topic size too long for body", with(21, '\x05')},
      {"topic size too short for body", with(21, '\x03')},
      {"channel 0", with(26, '\x00')},
      {"channel 4", with(26, '\x04')},
      {"message flag 2", with(27, '\x02')},
      {"message flag absent with id bytes", with(27, '\x00')},
      {"trailing byte", good + '\x00'},
      {"missing time byte", good.substr(0, good.size() - 1)},
      {"empty body", ""},
  };
  std::string long_topic = good.substr(0, 21) + '\x41' + std::string(65, 't') + good.substr(26);
  bad.push_back({"topic 65 bytes", long_topic});
  std::string time_overflow = good.substr(0, 44) + FromHex("7fffffffffffffff");
  bad.push_back({"time overflows microseconds", time_overflow});
  // Type 0x03: the suppression key id's size must be 1..32 and its bytes present.
  std::string id_body = Decoded(K1().Sign(AddressClaimsWithKeyId()));
  id_body.resize(id_body.size() - 32);  // the MAC
  ASSERT_EQ(K1().Verify(MacedToken(id_body, kSecret1)), AddressClaimsWithKeyId());
  std::string no_id = id_body;
  no_id.replace(5, 3, std::string(1, '\x00'));
  bad.push_back({"suppression key id size 0", no_id});
  std::string long_id = id_body;
  long_id.replace(5, 3, std::string(1, '\x21') + std::string(33, 's'));
  bad.push_back({"suppression key id 33 bytes", long_id});
  std::string short_body = id_body;
  short_body[5] = '\x20';
  bad.push_back({"suppression key id longer than the body", short_body.substr(0, 40)});
  for (const auto& [what, body] : bad) {
    EXPECT_FALSE(K1().Verify(MacedToken(body, kSecret1)).has_value()) << what;
  }
}

// --- Rotation. ---

TEST(LinkSignerTest, RotationVerifiesOldKeyAndSignsWithNewest) {
  const std::string k1_token = K1().Sign(SubjectClaims());
  const LinkSigner rotated = K2K1();
  EXPECT_EQ(rotated.Verify(k1_token), SubjectClaims());

  const std::string k2_token = rotated.Sign(SubjectClaims());
  EXPECT_NE(k2_token, k1_token);
  EXPECT_EQ(Decoded(k2_token).substr(0, 4), std::string("\x01\x02k2", 4));
  EXPECT_EQ(rotated.Verify(k2_token), SubjectClaims());
  EXPECT_EQ(K2().Verify(k2_token), SubjectClaims());
  EXPECT_FALSE(K1().Verify(k2_token).has_value());
  // Ring order only decides who signs; any live key verifies.
  EXPECT_EQ(Signer("k1:" + kSecret1 + ",k2:" + kSecret2).Verify(k2_token), SubjectClaims());
}

TEST(LinkSignerTest, RetiredKeyNoLongerVerifies) {
  const std::string k1_token = K1().Sign(AddressClaims());
  ASSERT_TRUE(K2K1().Verify(k1_token).has_value());
  EXPECT_FALSE(K2().Verify(k1_token).has_value());
}

TEST(LinkSignerTest, OldTokensKeepVerifyingWhileTheirKeyIsLive) {
  LinkClaims claims = SubjectClaims();
  claims.issued_at = FromUnixMicros(int64_t{946684800} * 1000000);  // 2000-01-01
  const std::string token = K1().Sign(claims);
  EXPECT_EQ(K2K1().Verify(token), claims);
}

// --- Garbage. ---

TEST(LinkSignerTest, GarbageIsRejectedWithoutThrowing) {
  const LinkSigner signer = K2K1();
  std::vector<std::string> inputs = {
      "",
      std::string(10000, 'A'),
      std::string(10000, '\0'),
      std::string(10000, '!'),
      std::string(513, 'A'),
      std::string(512, 'A'),
      "!!!!",
      "not a token",
      "Zm9vYmFy",
      std::string("\0\0\0\0", 4),
      std::string("AQJrMQ\0\0", 8),
      "=",
      "====",
      "\xff\xfe\xfd",
      "AQJrMQ",
      "AQJrMg",
  };
  std::string cycle;
  for (int i = 0; i < 10000; ++i) cycle.push_back(static_cast<char>(i * 37 % 256));
  inputs.push_back(cycle);
  // Valid base64url of every length up to past the limit, including plausible prefixes.
  for (size_t len = 0; len <= 600; ++len) inputs.push_back(std::string(len, 'A'));
  for (size_t len = 0; len <= 300; ++len) {
    std::string bytes(len, '\x01');
    if (len > 1) bytes[1] = '\x02';
    if (len > 3) bytes.replace(2, 2, "k2");
    inputs.push_back(Base64UrlEncode(bytes));
  }
  const std::string genuine = signer.Sign(SubjectClaims());
  inputs.push_back(genuine + std::string(600, 'A'));
  inputs.push_back(std::string(genuine).insert(10, 1, '\0'));
  for (const std::string& in : inputs) {
    std::optional<LinkClaims> got;
    EXPECT_NO_THROW(got = signer.Verify(in)) << in.size();
    EXPECT_FALSE(got.has_value()) << in.size();
  }
}

// --- Sign's preconditions. ---

std::string SignError(const LinkClaims& claims) {
  try {
    K1().Sign(claims);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected std::invalid_argument";
  return "";
}

TEST(LinkSignerTest, SignRejectsInvalidClaimsWithoutEchoingThem) {
  LinkClaims both = SubjectClaims();
  both.address_key = AddressKey();
  EXPECT_THAT(SignError(both), HasSubstr("exactly one"));
  LinkClaims neither = SubjectClaims();
  neither.subject_id.clear();
  EXPECT_THAT(SignError(neither), HasSubstr("exactly one"));

  for (std::string bad :
       {"3f2b8c1e9d4a4e7ba1c25d6e7f809a1b", "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1",
        "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1bb", "3f2b8c1e-9d4a-4e7b-a1c2_5d6e7f809a1b",
        "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1g", "user@example.com"}) {
    LinkClaims c = SubjectClaims();
    c.subject_id = bad;
    std::string msg = SignError(c);
    EXPECT_THAT(msg, HasSubstr("subject_id")) << bad;
    EXPECT_THAT(msg, Not(HasSubstr(bad))) << bad;
    c = SubjectClaims();
    c.message_id = bad;
    msg = SignError(c);
    EXPECT_THAT(msg, HasSubstr("message_id")) << bad;
    EXPECT_THAT(msg, Not(HasSubstr(bad))) << bad;
  }

  for (size_t size : {1u, 31u, 33u, 64u}) {
    LinkClaims c = AddressClaims();
    c.address_key = std::string(size, 'a');
    EXPECT_THAT(SignError(c), HasSubstr("address_key")) << size;
  }

  LinkClaims subject_with_key_id = SubjectClaims();
  subject_with_key_id.address_key_id = "s1";
  EXPECT_THAT(SignError(subject_with_key_id), HasSubstr("address_key_id"));
  LinkClaims long_key_id = AddressClaims();
  long_key_id.address_key_id = std::string(33, 's');
  EXPECT_THAT(SignError(long_key_id), HasSubstr("address_key_id"));

  LinkClaims long_topic = SubjectClaims();
  long_topic.topic = std::string(65, 't');
  EXPECT_THAT(SignError(long_topic), HasSubstr("topic"));

  for (int channel : {0, 4, -1, 257}) {
    LinkClaims c = SubjectClaims();
    c.channel = channel;
    EXPECT_THAT(SignError(c), HasSubstr("channel")) << channel;
  }

  LinkClaims far = SubjectClaims();
  far.issued_at = FromUnixMicros(std::numeric_limits<int64_t>::min());
  EXPECT_THAT(SignError(far), HasSubstr("issued_at"));
}

TEST(LinkSignerTest, SigningKeyIdMustFitTheToken) {
  EXPECT_NO_THROW(Signer(std::string(32, 'k') + ":" + kSecret1));
  EXPECT_THROW(Signer(std::string(33, 'k') + ":" + kSecret1), std::invalid_argument);
  EXPECT_THROW(LinkSigner(KeyRing({Key{"", FromHex(kSecret1)}})), std::invalid_argument);
  // An older key with an unusable id is just never matched.
  LinkSigner signer = Signer("k1:" + kSecret1 + "," + std::string(40, 'o') + ":" + kSecret2);
  EXPECT_EQ(signer.Verify(signer.Sign(SubjectClaims())), SubjectClaims());
}

}  // namespace
}  // namespace herald::crypto
