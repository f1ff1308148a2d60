#include "common/validation/input_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/validation/uuid.h"
#include "tests/support/invalid_argument.h"

namespace herald::validation {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::InvalidMessage;

// --- CheckText. ---

TEST(CheckTextTest, AcceptsCyrillicAndAzerbaijani) {
  EXPECT_NO_THROW(CheckText("surname", "Иванов", 256));
  EXPECT_NO_THROW(CheckText("given_name", "Пётр", 256));
  EXPECT_NO_THROW(CheckText("surname", "Əliyev", 256));
  EXPECT_NO_THROW(CheckText("given_name", "Şəhriyar Ğülüş İsmayılzadə", 256));
  EXPECT_NO_THROW(CheckText("patronymic", "O'Neil-Smith Jr.", 256));
  EXPECT_NO_THROW(CheckText("note", "emoji 😀 and CJK 日本", 256));
  EXPECT_NO_THROW(CheckText("patronymic", "", 256));
  // U+00A0 (first code point after the C1 range) and U+10FFFF (the last) are text.
  EXPECT_NO_THROW(CheckText("f", "\xc2\xa0", 256));
  EXPECT_NO_THROW(CheckText("f", "\xf4\x8f\xbf\xbf", 256));
}

struct BadText {
  const char* name;
  std::string value;
};

void PrintTo(const BadText& b, std::ostream* os) { *os << b.name; }

class CheckTextRejectsTest : public ::testing::TestWithParam<BadText> {};

TEST_P(CheckTextRejectsTest, RejectsNamingFieldNotValue) {
  // The bad byte sits between recognisable text, which must not reach the message.
  const std::string value = "Secretvalue" + GetParam().value + "Tail";
  std::string msg = InvalidMessage([&] { CheckText("surname", value, 256); });
  EXPECT_THAT(msg, HasSubstr("surname"));
  EXPECT_THAT(msg, Not(HasSubstr("Secretvalue")));
  EXPECT_THAT(msg, Not(HasSubstr("Tail")));
}

INSTANTIATE_TEST_SUITE_P(
    ControlAndInvalid, CheckTextRejectsTest,
    ::testing::Values(
        BadText{"CR", "\r"}, BadText{"LF", "\n"}, BadText{"CRLF", "\r\n"},
        BadText{"NUL", std::string(1, '\0')}, BadText{"TAB", "\t"}, BadText{"ESC", "\x1b"},
        BadText{"US", "\x1f"}, BadText{"DEL", "\x7f"}, BadText{"C1_U0080", "\xc2\x80"},
        BadText{"C1_NEL_U0085", "\xc2\x85"}, BadText{"C1_U009F", "\xc2\x9f"},
        BadText{"LineSeparator_U2028", "\xe2\x80\xa8"},
        BadText{"ParagraphSeparator_U2029", "\xe2\x80\xa9"}, BadText{"LoneContinuation", "\x80"},
        BadText{"ByteFF", "\xff"}, BadText{"ByteFE", "\xfe"}, BadText{"TruncatedTwoByte", "\xd0"},
        BadText{"TruncatedThreeByte", "\xe2\x80"},
        BadText{"LeadThenAscii",
                "\xd0"
                "A"},
        BadText{"OverlongSlashC0", "\xc0\xaf"}, BadText{"OverlongNulC0", "\xc0\x80"},
        BadText{"OverlongC1", "\xc1\xbf"}, BadText{"OverlongThreeByte", "\xe0\x80\xaf"},
        BadText{"OverlongFourByte", "\xf0\x80\x80\xaf"}, BadText{"HighSurrogate", "\xed\xa0\x80"},
        BadText{"LowSurrogate", "\xed\xbf\xbf"}, BadText{"AboveU10FFFF", "\xf4\x90\x80\x80"},
        BadText{"FiveByteForm", "\xf8\x88\x80\x80\x80"}),
    [](const ::testing::TestParamInfo<BadText>& info) { return info.param.name; });

TEST(CheckTextTest, RejectsTruncatedSequenceAtEnd) {
  // Without trailing text: the sequence runs past the end of the string.
  EXPECT_THAT(InvalidMessage([] { CheckText("surname", "Ив\xd0", 256); }), HasSubstr("surname"));
  EXPECT_THAT(InvalidMessage([] { CheckText("surname", "\xf0\x9f\x98", 256); }),
              HasSubstr("surname"));
}

TEST(CheckTextTest, LengthLimitCountsCodePointsNotBytes) {
  // Five Cyrillic letters are ten bytes.
  EXPECT_NO_THROW(CheckText("surname", "Ивано", 5));
  EXPECT_NO_THROW(CheckText("surname", "ƏƏƏƏƏ", 5));
  EXPECT_NO_THROW(CheckText("surname", "😀😀😀😀😀", 5));  // 20 bytes
  EXPECT_THAT(InvalidMessage([] { CheckText("surname", "Иванов", 5); }),
              HasSubstr("longer than 5"));
  EXPECT_THAT(InvalidMessage([] { CheckText("surname", "abcdef", 5); }), HasSubstr("surname"));
}

TEST(CheckTextTest, ExactlyAtLimitIsAccepted) {
  EXPECT_NO_THROW(CheckText("surname", std::string(256, 'a'), 256));
  EXPECT_THAT(InvalidMessage([] { CheckText("surname", std::string(257, 'a'), 256); }),
              HasSubstr("surname"));
}

TEST(CheckTextTest, TenThousandCharacterNameIsRejectedWithoutEchoingIt) {
  std::string name;
  for (int i = 0; i < 10000; ++i) name += "Я";
  std::string msg = InvalidMessage([&] { CheckText("given_name", name, 256); });
  EXPECT_THAT(msg, HasSubstr("given_name"));
  EXPECT_THAT(msg, Not(HasSubstr("ЯЯЯ")));
  EXPECT_LT(msg.size(), 200u);
}

// --- RequireUuid. ---

TEST(RequireUuidTest, ReturnsLowerCase) {
  EXPECT_EQ(RequireUuid("subject_id", "0F8FAD5B-D9CB-469F-A165-70867728950E"),
            "0f8fad5b-d9cb-469f-a165-70867728950e");
  EXPECT_EQ(RequireUuid("subject_id", "0f8fad5b-d9cb-469f-a165-70867728950e"),
            "0f8fad5b-d9cb-469f-a165-70867728950e");
}

TEST(RequireUuidTest, EmptyIsRequired) {
  std::string msg = InvalidMessage([] { RequireUuid("subject_id", ""); });
  EXPECT_THAT(msg, HasSubstr("subject_id"));
  EXPECT_THAT(msg, HasSubstr("required"));
}

TEST(RequireUuidTest, MalformedIsRejectedWithoutEchoingIt) {
  for (const std::string& bad :
       std::vector<std::string>{"0f8fad5bd9cb469fa16570867728950e",        // no dashes
                                "0f8fad5b-d9cb-469f-a165-70867728950",     // 35 chars
                                "0f8fad5b-d9cb-469f-a165-70867728950e0",   // 37 chars
                                "0f8fad5b-d9cb-469f-a165-70867728950g",    // non-hex
                                "0f8fad5bd-9cb-469f-a165-70867728950e",    // dash misplaced
                                "{0f8fad5b-d9cb-469f-a165-70867728950e}",  // braces
                                "0f8fad5b-d9cb-469f-a165 70867728950e",    // space for dash
                                "Robert'); DROP TABLE subjects;--"}) {
    std::string msg = InvalidMessage([&] { RequireUuid("recipients[3].subject_id", bad); });
    EXPECT_THAT(msg, HasSubstr("recipients[3].subject_id")) << bad;
    EXPECT_THAT(msg, HasSubstr("UUID")) << bad;
    EXPECT_THAT(msg, Not(HasSubstr(bad))) << bad;
    EXPECT_FALSE(IsUuid(bad)) << bad;
  }
}

// --- RequireChannel. ---

TEST(RequireChannelTest, MapsKnownNumbers) {
  EXPECT_EQ(RequireChannel("channel", 1), Channel::kEmail);
  EXPECT_EQ(RequireChannel("channel", 2), Channel::kSms);
  EXPECT_EQ(RequireChannel("channel", 3), Channel::kCall);
}

TEST(RequireChannelTest, UnspecifiedIsRequired) {
  std::string msg = InvalidMessage([] { RequireChannel("scope.channel", 0); });
  EXPECT_THAT(msg, HasSubstr("scope.channel"));
  EXPECT_THAT(msg, HasSubstr("required"));
}

TEST(RequireChannelTest, UnknownNumbersAreRejected) {
  for (int bad : {4, -1, 99}) {
    std::string msg = InvalidMessage([&] { RequireChannel("channel", bad); });
    EXPECT_THAT(msg, HasSubstr("channel")) << bad;
    EXPECT_THAT(msg, HasSubstr("unknown")) << bad;
  }
}

// --- RequireTopic. ---

TEST(RequireTopicTest, FindsBuiltInAndConfiguredTopics) {
  TopicCatalog topics({{"webinars", true, {{"en", "Webinars"}}, {{"en", "Online events"}}}});
  EXPECT_EQ(RequireTopic(topics, "topic", "product_news").name, "product_news");
  EXPECT_FALSE(RequireTopic(topics, "topic", "service").marketing);
  EXPECT_EQ(RequireTopic(topics, "topic", "webinars").name, "webinars");
  EXPECT_THAT(InvalidMessage([&] { RequireTopic(topics, "topic", ""); }), HasSubstr("required"));
  std::string msg = InvalidMessage([&] { RequireTopic(topics, "topic", "casino_bonus"); });
  EXPECT_THAT(msg, HasSubstr("topic"));
  EXPECT_THAT(msg, Not(HasSubstr("casino_bonus")));
}

// --- CheckCountry. ---

TEST(CheckCountryTest, UpperCasesOrPassesEmpty) {
  EXPECT_EQ(CheckCountry("provider_country", ""), "");
  EXPECT_EQ(CheckCountry("provider_country", "ru"), "RU");
  EXPECT_EQ(CheckCountry("provider_country", "Az"), "AZ");
  EXPECT_EQ(CheckCountry("provider_country", "DE"), "DE");
}

TEST(CheckCountryTest, RejectsNonAlpha2WithoutEchoingIt) {
  for (const std::string& bad :
       std::vector<std::string>{"RUS", "R", "R1", "12", "R ", "Рф", "\xd0\xa0"}) {
    std::string msg = InvalidMessage([&] { CheckCountry("provider_country", bad); });
    EXPECT_THAT(msg, HasSubstr("provider_country")) << bad;
    EXPECT_THAT(msg, Not(HasSubstr(": " + bad))) << bad;
  }
}

// --- CheckLocale. ---

TEST(CheckLocaleTest, AcceptsBcp47Tags) {
  for (const std::string& tag : std::vector<std::string>{"az", "ru", "en", "ru-RU", "en_GB",
                                                         "az-Latn-AZ", "zh-Hant-TW", "de-1996"}) {
    EXPECT_NO_THROW(CheckLocale("locale", tag)) << tag;
  }
}

TEST(CheckLocaleTest, RejectsWhatIsNotATagWithoutEchoingIt) {
  for (const std::string& bad : std::vector<std::string>{
           "", "a", "r", "ru-", "-ru", "ru--RU", "ru RU", "ru.RU", "toolongxx", "ru-toolongxx",
           "ру", std::string(36, 'a'), "az-" + std::string(9, 'b'), std::string("ru\0", 3)}) {
    std::string msg = InvalidMessage([&] { CheckLocale("update_fields.locale", bad); });
    EXPECT_THAT(msg, HasSubstr("update_fields.locale")) << bad;
    EXPECT_THAT(msg, HasSubstr("BCP 47")) << bad;
    if (bad.size() > 2) {
      EXPECT_THAT(msg, Not(HasSubstr(bad))) << bad;
    }
  }
}

// --- Pagination. ---

TEST(PageSizeTest, DefaultsAndClamps) {
  EXPECT_EQ(PageSize(0), 50);
  EXPECT_EQ(PageSize(1), 1);
  EXPECT_EQ(PageSize(77), 77);
  EXPECT_EQ(PageSize(500), 500);
  EXPECT_EQ(PageSize(501), 500);
  EXPECT_EQ(PageSize(1000000), 500);
}

TEST(PageSizeTest, NegativeIsRejected) {
  std::string msg = InvalidMessage([] { PageSize(-1); });
  EXPECT_THAT(msg, HasSubstr("page_size"));
}

TEST(PageTokenTest, RoundTrips) {
  for (const std::string& key : std::vector<std::string>{
           std::string("12345"), std::string("0f8fad5b-d9cb-469f-a165-70867728950e"),
           std::string("\x00\xff\x10 ,\"", 6), std::string("Иванов")}) {
    const std::string token = EncodePageToken(key);
    EXPECT_NE(token, key);
    EXPECT_EQ(DecodePageToken(token), key);
  }
}

TEST(PageTokenTest, EmptyTokenMeansFirstPage) { EXPECT_EQ(DecodePageToken(""), ""); }

TEST(PageTokenTest, BadTokensAreRejectedWithoutEchoingThem) {
  for (const std::string& bad :
       std::vector<std::string>{"zz", "abc", "hello world!", std::string(258, 'a')}) {
    std::string msg = InvalidMessage([&] { DecodePageToken(bad); });
    EXPECT_THAT(msg, HasSubstr("page_token")) << bad;
    EXPECT_THAT(msg, Not(HasSubstr(bad))) << bad;
  }
}

}  // namespace
}  // namespace herald::validation
