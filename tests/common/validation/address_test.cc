#include "common/validation/address.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace herald::validation {
namespace {

using namespace std::string_literals;

enum class Fn { kEmail, kPhone, kAddress };

// One row of the table. A row expects success when `error` is empty; then
// `value` and `match_key` must match exactly. Otherwise the exact error
// message is expected.
struct Case {
  std::string name;  // Used as the gtest parameter name: [A-Za-z0-9_] only.
  Fn fn;
  std::string input;
  std::string region = "RU";
  std::string value{};
  std::string match_key{};
  std::string error{};
};

// Keeps gtest's failure output readable (and free of raw control bytes).
void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

AddressResult RunCase(const Case& c) {
  switch (c.fn) {
    case Fn::kEmail:
      return NormalizeEmail(c.input);
    case Fn::kPhone:
      return NormalizePhone(c.input, c.region);
    case Fn::kAddress:
      return NormalizeAddress(c.input, c.region);
  }
  return AddressError{"unreachable"};
}

std::string_view TrimForTest(std::string_view s) {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  const auto end = s.find_last_not_of(kSpace);
  return s.substr(begin, end - begin + 1);
}

// Messages shared by many rows.
constexpr char kBadPhone[] = "phone number is not a valid number";
constexpr char kExtension[] = "phone extensions are not supported";
constexpr char kLetters[] = "phone number must not contain letters";
constexpr char kBadRegion[] = "default region is not a known ISO 3166 region code";
constexpr char kControl[] = "e-mail address contains control characters";
constexpr char kBadLocalChar[] = "e-mail local part contains a character that is not allowed";
constexpr char kBadLabelChar[] = "e-mail domain label contains a character that is not allowed";
constexpr char kBadIdn[] = "e-mail domain is not a valid internationalized domain name";

Case Email(std::string name, std::string input, std::string value, std::string match_key) {
  return {.name = std::move(name),
          .fn = Fn::kEmail,
          .input = std::move(input),
          .value = std::move(value),
          .match_key = std::move(match_key)};
}

Case EmailError(std::string name, std::string input, std::string error) {
  return {.name = std::move(name),
          .fn = Fn::kEmail,
          .input = std::move(input),
          .error = std::move(error)};
}

Case Phone(std::string name, std::string input, std::string region, const std::string& e164) {
  return {.name = std::move(name),
          .fn = Fn::kPhone,
          .input = std::move(input),
          .region = std::move(region),
          .value = e164,
          .match_key = e164};
}

Case PhoneError(std::string name, std::string input, std::string region, std::string error) {
  return {.name = std::move(name),
          .fn = Fn::kPhone,
          .input = std::move(input),
          .region = std::move(region),
          .error = std::move(error)};
}

Case Dispatch(std::string name, std::string input, std::string region, std::string value,
              std::string match_key) {
  return {.name = std::move(name),
          .fn = Fn::kAddress,
          .input = std::move(input),
          .region = std::move(region),
          .value = std::move(value),
          .match_key = std::move(match_key)};
}

Case DispatchError(std::string name, std::string input, std::string region, std::string error) {
  return {.name = std::move(name),
          .fn = Fn::kAddress,
          .input = std::move(input),
          .region = std::move(region),
          .error = std::move(error)};
}

std::vector<Case> Cases() {
  const std::string local64(64, 'a');
  const std::string label63(63, 'b');
  const std::string label64(64, 'c');
  // 63 + 1 + 63 + 1 + 57 + 4 = 189 bytes; with a 64-byte local part and '@'
  // the address is exactly 254 bytes.
  const std::string domain189 =
      std::string(63, 'd') + "." + std::string(63, 'e') + "." + std::string(57, 'f') + ".com";

  // Each "é." is 3 bytes of UTF-8 but 8 bytes ("xn--9ca.") as an A-label.
  std::string accented_labels25;
  for (int i = 0; i < 25; ++i) accented_labels25 += "é.";
  std::string accented_labels40;
  for (int i = 0; i < 40; ++i) accented_labels40 += "é.";
  // 30 distinct CJK ideographs (90 bytes) in one label: the A-label exceeds 63.
  std::string long_cjk_label;
  for (char32_t cp = 0x4e00; cp < 0x4e00 + 30 * 397; cp += 397) {
    long_cjk_label += static_cast<char>(0xe0 | (cp >> 12));
    long_cjk_label += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    long_cjk_label += static_cast<char>(0x80 | (cp & 0x3f));
  }

  return {
      // ---- E-mail: accepted ------------------------------------------------
      Email("EmailPlain", "user@example.com", "user@example.com", "user@example.com"),
      Email("EmailMixedCaseKeepsLocalCase", "John.Doe@Example.COM", "John.Doe@example.com",
            "john.doe@example.com"),
      Email("EmailPlusTagKept", "Ivan+News@Mail.Ru", "Ivan+News@mail.ru", "ivan+news@mail.ru"),
      Email("EmailDotsKept", "i.v.a.n@gmail.com", "i.v.a.n@gmail.com", "i.v.a.n@gmail.com"),
      Email("EmailSurroundingWhitespaceTrimmed", " \t user@example.com \r\n", "user@example.com",
            "user@example.com"),
      Email("EmailAllAtextSpecials", "!#$%&'*+/=?^_`{|}~-@example.com",
            "!#$%&'*+/=?^_`{|}~-@example.com", "!#$%&'*+/=?^_`{|}~-@example.com"),
      Email("EmailCyrillicDomain", "info@пример.рф", "info@xn--e1afmkfd.xn--p1ai",
            "info@xn--e1afmkfd.xn--p1ai"),
      Email("EmailCyrillicDomainUpperCase", "Info@Пример.РФ", "Info@xn--e1afmkfd.xn--p1ai",
            "info@xn--e1afmkfd.xn--p1ai"),
      Email("EmailALabelInputLowerCased", "user@XN--E1AFMKFD.XN--P1AI",
            "user@xn--e1afmkfd.xn--p1ai", "user@xn--e1afmkfd.xn--p1ai"),
      // Dotless ı is its own letter: bakı.az and baki.az are different domains.
      Email("EmailAzerbaijaniDotlessI", "info@Bakı.az", "info@xn--bak-lua.az",
            "info@xn--bak-lua.az"),
      Email("EmailAsciiBakiIsNotDotless", "info@BAKI.AZ", "info@baki.az", "info@baki.az"),
      Email("EmailAzerbaijaniSchwaUpperCase", "info@Əli.az", "info@xn--li-tfb.az",
            "info@xn--li-tfb.az"),
      // UTS #46 maps İ (U+0130) to "i" + U+0307, not to plain "i".
      Email("EmailDottedCapitalI", "info@İstanbul.az", "info@xn--istanbul-o0e.az",
            "info@xn--istanbul-o0e.az"),
      // Non-transitional IDNA2008 keeps ß (transitional would give strasse.de).
      Email("EmailGermanSharpS", "post@Straße.de", "post@xn--strae-oqa.de",
            "post@xn--strae-oqa.de"),
      Email("EmailGermanSsAscii", "post@STRASSE.de", "post@strasse.de", "post@strasse.de"),
      Email("EmailFullwidthDomainMapped", "user@ＥＸＡＭＰＬＥ.com", "user@example.com",
            "user@example.com"),
      Email("EmailIdeographicFullStop", "user@例え。テスト", "user@xn--r8jz45g.xn--zckzah",
            "user@xn--r8jz45g.xn--zckzah"),
      Email("EmailDecomposedAccentNfc", "user@e\u0301xample.com", "user@xn--xample-9ua.com",
            "user@xn--xample-9ua.com"),
      // Rejected by non-transitional processing, accepted by the transitional
      // fallback, which drops the zero-width joiner.
      Email("EmailZeroWidthJoinerDropped", "user@a\u200db.com", "user@ab.com", "user@ab.com"),
      Email("EmailEmojiDomainViaTransitional", "user@\U0001F600.com", "user@xn--e28h.com",
            "user@xn--e28h.com"),
      // Valid host name that IDNA2008 would reject; ASCII domains skip libidn2.
      Email("EmailTripleHyphenAsciiLabel", "user@r3---sn-abc.example.net",
            "user@r3---sn-abc.example.net", "user@r3---sn-abc.example.net"),
      Email("EmailLocal64", local64 + "@example.com", local64 + "@example.com",
            local64 + "@example.com"),
      Email("EmailLabel63", "user@" + label63 + ".com", "user@" + label63 + ".com",
            "user@" + label63 + ".com"),
      // 55 x 'a' + 'é' encodes to exactly 63 characters: "xn--aaa…a-u3e".
      Email("EmailIdnLabel63", "user@" + std::string(55, 'a') + "é.com",
            "user@xn--" + std::string(55, 'a') + "-u3e.com",
            "user@xn--" + std::string(55, 'a') + "-u3e.com"),
      Email("EmailExactly254", local64 + "@" + domain189, local64 + "@" + domain189,
            local64 + "@" + domain189),

      // ---- E-mail: rejected ------------------------------------------------
      EmailError("EmailEmpty", "", "e-mail address is empty"),
      EmailError("EmailOnlyWhitespace", " \t\r\n ", "e-mail address is empty"),
      EmailError("EmailTooLong", "a" + local64 + "@" + domain189,
                 "e-mail address is longer than 254 bytes"),
      EmailError("EmailTooLongAfterIdn", local64 + "@" + accented_labels25 + "com",
                 "e-mail address is longer than 254 bytes after domain conversion"),
      EmailError("EmailDomainTooLongAfterIdn", "user@" + accented_labels40 + "com",
                 "e-mail domain is longer than 253 bytes"),
      EmailError("EmailIdnLabel64", "user@" + std::string(56, 'a') + "é.com",
                 "e-mail domain label is longer than 63 characters"),
      EmailError("EmailIdnLabelTooLong", "user@" + long_cjk_label + ".com",
                 "e-mail domain label is longer than 63 characters"),
      EmailError("EmailCrInside", "user@exa\rmple.com", kControl),
      EmailError("EmailHeaderInjection", "user@example.com\r\nBcc: evil@example.org", kControl),
      EmailError("EmailNulInside", "user\0@example.com"s, kControl),
      EmailError("EmailTabInside", "user\t@example.com", kControl),
      EmailError("EmailDelInside", "user\x7f@example.com", kControl),
      EmailError("EmailSpaceInside", "us er@example.com",
                 "e-mail address must not contain white space"),
      EmailError("EmailTwoAt", "a@b@example.com", "e-mail address has more than one '@'"),
      EmailError("EmailNoAt", "user.example.com", "e-mail address has no '@'"),
      EmailError("EmailQuotedLocal", "\"john.doe\"@example.com",
                 "quoted e-mail local parts are not supported"),
      EmailError("EmailQuotedLocalWithAt", "\"a@b\"@example.com",
                 "e-mail address has more than one '@'"),
      EmailError("EmailQuotedLocalWithSpace", "\"john doe\"@example.com",
                 "e-mail address must not contain white space"),
      EmailError("EmailUtf8Local", "иван@example.com", "e-mail local part must be ASCII"),
      EmailError("EmailLocal65", "a" + local64 + "@example.com",
                 "e-mail local part is longer than 64 bytes"),
      EmailError("EmailEmptyLocal", "@example.com", "e-mail local part is empty"),
      EmailError("EmailEmptyDomain", "user@", "e-mail domain is empty"),
      EmailError("EmailLeadingDotLocal", ".user@example.com",
                 "e-mail local part must not start or end with a dot"),
      EmailError("EmailTrailingDotLocal", "user.@example.com",
                 "e-mail local part must not start or end with a dot"),
      EmailError("EmailDoubleDotLocal", "us..er@example.com",
                 "e-mail local part must not contain consecutive dots"),
      EmailError("EmailCommentInLocal", "user(comment)@example.com", kBadLocalChar),
      EmailError("EmailBackslashInLocal", "us\\er@example.com", kBadLocalChar),
      EmailError("EmailLabel64", "user@" + label64 + ".com",
                 "e-mail domain label is longer than 63 characters"),
      EmailError("EmailTrailingDotDomain", "user@example.com.",
                 "e-mail domain must not end with a dot"),
      // U+FF0E FULLWIDTH FULL STOP is mapped to '.', so this is a trailing dot too.
      EmailError("EmailFullwidthTrailingDot", "user@пример.рф．",
                 "e-mail domain must not end with a dot"),
      EmailError("EmailIpv4Literal", "user@[192.0.2.1]",
                 "IP-literal e-mail domains are not supported"),
      EmailError("EmailIpv6Literal", "user@[IPv6:2001:db8::1]",
                 "IP-literal e-mail domains are not supported"),
      EmailError("EmailBareIpv4", "user@192.0.2.1",
                 "e-mail top-level domain must not be all digits"),
      EmailError("EmailNoDotInDomain", "user@localhost",
                 "e-mail domain must contain at least one dot"),
      EmailError("EmailEmptyDomainLabel", "user@example..com",
                 "e-mail domain contains an empty label"),
      EmailError("EmailUnderscoreInDomain", "user@my_host.example.com", kBadLabelChar),
      EmailError("EmailLeadingHyphenLabel", "user@-example.com",
                 "e-mail domain label must not start or end with a hyphen"),
      EmailError("EmailNoBreakSpaceInDomain", "user@exa\u00a0mple.com", kBadLabelChar),
      EmailError("EmailLeadingCombiningMark", "user@\u0301example.com", kBadIdn),
      EmailError("EmailInvalidUtf8", "user@exa\xffmple.com", "e-mail address is not valid UTF-8"),
      EmailError("EmailOverlongUtf8", "user@exa\xc0\xafmple.com",
                 "e-mail address is not valid UTF-8"),

      // ---- Phone: accepted -------------------------------------------------
      Phone("PhoneRuTrunk8", "8 (916) 123-45-67", "RU", "+79161234567"),
      Phone("PhoneRuPlus7", "+7 916 123 45 67", "RU", "+79161234567"),
      Phone("PhoneRuDigitsOnly", "89161234567", "RU", "+79161234567"),
      Phone("PhoneRuWithoutTrunk", "9161234567", "RU", "+79161234567"),
      Phone("PhoneRuTollFree", "8 800 555 35 35", "RU", "+78005553535"),
      Phone("PhoneRuDots", "+7.916.123.45.67", "RU", "+79161234567"),
      Phone("PhoneRuSlashes", "+7/916/1234567", "RU", "+79161234567"),
      Phone("PhoneParenthesisedCountryCode", "(+7) 916 123 45 67", "RU", "+79161234567"),
      Phone("PhoneSurroundingWhitespace", "\t +7 916 123 45 67 \n", "RU", "+79161234567"),
      Phone("PhoneAzInternationalRuRegion", "+994 50 123 45 67", "RU", "+994501234567"),
      Phone("PhoneAzInternationalAzRegion", "+994 50 123 45 67", "AZ", "+994501234567"),
      Phone("PhoneAzNational", "050 123 45 67", "AZ", "+994501234567"),
      Phone("PhoneAzNationalDashes", "050-123-45-67", "AZ", "+994501234567"),
      Phone("PhoneAzNationalNoTrunk", "501234567", "AZ", "+994501234567"),
      Phone("PhoneAzBakuLandline", "(012) 498-12-34", "AZ", "+994124981234"),
      Phone("PhoneAzIddPrefix00", "00994501234567", "AZ", "+994501234567"),
      Phone("PhoneRuIddPrefix810", "810 994 50 123 45 67", "RU", "+994501234567"),
      Phone("PhoneKzMobileRuRegion", "+7 701 123 4567", "RU", "+77011234567"),
      Phone("PhoneKzMobileKzTrunk", "8 701 123 4567", "KZ", "+77011234567"),
      Phone("PhoneKzAlmatyLandline", "+7 727 258 1234", "AZ", "+77272581234"),
      Phone("PhoneRuFromAzRegion", "+7 916 123 45 67", "AZ", "+79161234567"),
      Phone("PhoneUsFromRuRegion", "+1 650 253 0000", "RU", "+16502530000"),
      Phone("PhoneLowerCaseRegion", "050 123 45 67", "az", "+994501234567"),
      Phone("PhoneDoublePlus", "++7 916 123 45 67", "RU", "+79161234567"),

      // ---- Phone: rejected -------------------------------------------------
      // Parsed as Russian +7 050..., which is not a valid Russian number.
      PhoneError("PhoneAzNationalRuRegion", "050 123 45 67", "RU", kBadPhone),
      // "00" is not an international prefix in Russia (it is 810).
      PhoneError("PhoneRuRegionIddPrefix00", "00994501234567", "RU", kBadPhone),
      PhoneError("PhoneRuTrunkAzRegion", "8 (916) 123-45-67", "AZ", kBadPhone),
      PhoneError("PhoneVanityLetters", "8 800 CALL-NOW", "RU", kLetters),
      PhoneError("PhoneTelUri", "tel:+79161234567", "RU", kLetters),
      PhoneError("PhoneExtensionExt", "+7 916 123-45-67 ext. 12", "RU", kExtension),
      PhoneError("PhoneExtensionX", "+7 916 123-45-67 x12", "RU", kExtension),
      PhoneError("PhoneExtensionHash", "+7 916 123-45-67 #12", "RU", kExtension),
      PhoneError("PhoneExtensionRussianDob", "+7 916 123-45-67 доб. 12", "RU", kExtension),
      PhoneError("PhoneTooShort", "+7 916 123 45", "RU", kBadPhone),
      PhoneError("PhoneTooLong", "+7 916 123 45 678", "RU", kBadPhone),
      PhoneError("PhoneWayTooLong", "+7 916 123 45 67" + std::string(60, '0'), "RU",
                 "phone number is longer than 64 bytes"),
      PhoneError("PhoneEmpty", "", "RU", "phone number is empty"),
      PhoneError("PhoneOnlyWhitespace", "  \t ", "RU", "phone number is empty"),
      PhoneError("PhoneOnlyPlus", "+", "RU", kBadPhone),
      PhoneError("PhoneShortCode", "112", "RU", kBadPhone),
      PhoneError("PhoneUssdCode", "*100#", "RU",
                 "phone number contains characters that are not allowed"),
      PhoneError("PhoneFullwidthDigits", "＋７ ９１６ １２３ ４５ ６７", "RU",
                 "phone number contains characters that are not allowed"),
      PhoneError("PhoneInvalidCountryCode", "+0 916 123 45 67", "RU",
                 "phone number has an invalid country calling code"),
      PhoneError("PhoneNewlineInside", "+7 916\n123 45 67", "RU",
                 "phone number contains control characters"),
      PhoneError("PhoneNulInside", "+7 916\0 123 45 67"s, "RU",
                 "phone number contains control characters"),
      PhoneError("PhoneInvalidUtf8", "+7 916 123 45 67\xff", "RU",
                 "phone number is not valid UTF-8"),
      PhoneError("PhoneEmptyRegion", "+994 50 123 45 67", "", kBadRegion),
      PhoneError("PhoneUnknownRegion", "+994 50 123 45 67", "ZZ", kBadRegion),
      PhoneError("PhoneThreeLetterRegion", "+7 916 123 45 67", "RUS", kBadRegion),
      PhoneError("PhoneNonGeographicRegion", "+7 916 123 45 67", "001", kBadRegion),

      // ---- NormalizeAddress dispatch ---------------------------------------
      // E-mail does not need a region, so an empty one is fine here.
      Dispatch("AddressEmail", " User@Example.COM ", "", "User@example.com", "user@example.com"),
      Dispatch("AddressEmailIdn", "info@пример.рф", "AZ", "info@xn--e1afmkfd.xn--p1ai",
               "info@xn--e1afmkfd.xn--p1ai"),
      Dispatch("AddressPhoneRu", "8 (916) 123-45-67", "RU", "+79161234567", "+79161234567"),
      Dispatch("AddressPhoneAz", "050 123 45 67", "AZ", "+994501234567", "+994501234567"),
      DispatchError("AddressBareAt", "@", "RU", "e-mail local part is empty"),
      DispatchError("AddressEmailError", "a@b@example.com", "RU",
                    "e-mail address has more than one '@'"),
      // Without '@' the input is treated as a phone number.
      DispatchError("AddressEmailWithoutAt", "user.example.com", "RU", kLetters),
      DispatchError("AddressPhoneLetters", "8 800 CALL-NOW", "RU", kLetters),
      DispatchError("AddressPhoneEmptyRegion", "+994 50 123 45 67", "", kBadRegion),
      DispatchError("AddressEmpty", "", "RU", "phone number is empty"),
  };
}

class AddressTableTest : public ::testing::TestWithParam<Case> {};

TEST_P(AddressTableTest, NormalizesOrRejects) {
  const Case& c = GetParam();
  const AddressResult result = RunCase(c);
  if (c.error.empty()) {
    const auto* address = std::get_if<NormalizedAddress>(&result);
    ASSERT_NE(address, nullptr) << "unexpected error: " << std::get<AddressError>(result).message;
    const AddressKind expected_kind =
        c.value.find('@') != std::string::npos ? AddressKind::kEmail : AddressKind::kPhone;
    EXPECT_EQ(address->kind, expected_kind);
    EXPECT_EQ(address->value, c.value);
    EXPECT_EQ(address->match_key, c.match_key);
  } else {
    const auto* error = std::get_if<AddressError>(&result);
    ASSERT_NE(error, nullptr) << "unexpectedly accepted as: "
                              << std::get<NormalizedAddress>(result).value;
    EXPECT_EQ(error->message, c.error);
  }
}

INSTANTIATE_TEST_SUITE_P(Table, AddressTableTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(AddressTest, TableHasEnoughCases) { EXPECT_GE(Cases().size(), 45u); }

// Error messages end up in logs, so they must never echo the address.
TEST(AddressTest, ErrorMessagesDoNotContainInput) {
  int checked = 0;
  for (const Case& c : Cases()) {
    if (c.error.empty()) continue;
    SCOPED_TRACE(c.name);
    const AddressResult result = RunCase(c);
    const auto* error = std::get_if<AddressError>(&result);
    ASSERT_NE(error, nullptr);
    const std::string_view trimmed = TrimForTest(c.input);
    if (trimmed.size() < 3) continue;
    EXPECT_EQ(error->message.find(trimmed), std::string::npos) << error->message;
    ++checked;
  }
  EXPECT_GT(checked, 40);
}

// Normalizing the normalized form must be a no-op, otherwise a stored value
// and a re-submitted one could produce different match keys.
TEST(AddressTest, NormalizationIsIdempotent) {
  for (const Case& c : Cases()) {
    if (!c.error.empty()) continue;
    SCOPED_TRACE(c.name);
    const AddressResult again = NormalizeAddress(c.value, "RU");
    const auto* address = std::get_if<NormalizedAddress>(&again);
    ASSERT_NE(address, nullptr) << std::get<AddressError>(again).message;
    EXPECT_EQ(address->value, c.value);
    EXPECT_EQ(address->match_key, c.match_key);
  }
}

}  // namespace
}  // namespace herald::validation
