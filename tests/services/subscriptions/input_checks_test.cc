#include "services/subscriptions/input_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "common/error.h"

namespace herald::subscriptions {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Runs `fn`, expects herald::Error with kInvalidArgument, and returns its message ("" and a
// failure when nothing or something else is thrown).
std::string InvalidMessage(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected herald::Error";
  return "";
}

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

// --- RequireUuid / IsUuid. ---

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

TEST(IsUuidTest, AcceptsBothCases) {
  EXPECT_TRUE(IsUuid("00000000-0000-0000-0000-000000000000"));
  EXPECT_TRUE(IsUuid("ABCDEFAB-CDEF-ABCD-EFAB-CDEFABCDEFAB"));
  EXPECT_FALSE(IsUuid(""));
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
  TopicCatalog topics({{"webinars", true, "Online events"}});
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

// --- CheckProof. ---

// 2026-11-27T17:58:33.123456Z.
const Timestamp kNow = FromUnixMicros(1795802313123456);

v1::Proof GoodProof() {
  v1::Proof p;
  p.set_source(v1::WEB_FORM);
  p.set_form_id("signup-footer");
  p.set_document_version("policy-2026-01");
  p.set_ip("203.0.113.7");
  p.set_user_agent("Mozilla/5.0 (X11; Linux x86_64)");
  return p;
}

void SetOccurredAt(v1::Proof& p, int64_t unix_micros) {
  int64_t secs = unix_micros / 1000000;
  p.mutable_occurred_at()->set_seconds(secs);
  p.mutable_occurred_at()->set_nanos(static_cast<int32_t>((unix_micros - secs * 1000000) * 1000));
}

TEST(CheckProofTest, CopiesAValidProof) {
  v1::Proof p = GoodProof();
  SetOccurredAt(p, ToUnixMicros(kNow) - 3600000000);  // an hour ago
  CheckedProof c = CheckProof("proof", p, kNow, true);
  EXPECT_EQ(c.source, v1::WEB_FORM);
  EXPECT_EQ(c.form_id, "signup-footer");
  EXPECT_EQ(c.document_version, "policy-2026-01");
  EXPECT_EQ(ToUnixMicros(c.occurred_at), ToUnixMicros(kNow) - 3600000000);
  EXPECT_EQ(c.ip, "203.0.113.7");
  EXPECT_EQ(c.user_agent, "Mozilla/5.0 (X11; Linux x86_64)");
}

// The message a link or reply came from (issue 4): a UUID, stored lower-case.
TEST(CheckProofTest, MessageIdIsAUuidWhenGiven) {
  v1::Proof p = GoodProof();
  EXPECT_EQ(CheckProof("proof", p, kNow, false).message_id, "");
  p.set_message_id("0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D");
  EXPECT_EQ(CheckProof("proof", p, kNow, false).message_id,
            "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
  p.set_message_id("not-a-uuid-person@example.org");
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, false); });
  EXPECT_THAT(msg, HasSubstr("proof.message_id"));
  EXPECT_THAT(msg, Not(HasSubstr("person@example.org")));
}

TEST(CheckProofTest, OccurredAtDefaultsToNow) {
  CheckedProof c = CheckProof("proof", GoodProof(), kNow, true);
  EXPECT_EQ(c.occurred_at, kNow);
}

TEST(CheckProofTest, OccurredAtKeepsMicroseconds) {
  v1::Proof p = GoodProof();
  p.mutable_occurred_at()->set_seconds(1700000000);
  p.mutable_occurred_at()->set_nanos(123456789);  // sub-microsecond part is dropped
  EXPECT_EQ(ToUnixMicros(CheckProof("proof", p, kNow, true).occurred_at), 1700000000123456);
}

TEST(CheckProofTest, SourceIsRequired) {
  v1::Proof p = GoodProof();
  p.set_source(v1::SOURCE_UNSPECIFIED);
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, false); });
  EXPECT_THAT(msg, HasSubstr("proof.source"));
  EXPECT_THAT(msg, HasSubstr("required"));
}

TEST(CheckProofTest, UnknownSourceIsRejected) {
  v1::Proof p = GoodProof();
  p.set_source(static_cast<v1::Source>(99));
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, false); }),
              HasSubstr("proof.source"));
}

TEST(CheckProofTest, DocumentVersionRequiredWhenGranting) {
  v1::Proof p = GoodProof();
  p.clear_document_version();
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
  EXPECT_THAT(msg, HasSubstr("proof.document_version"));
  EXPECT_THAT(msg, HasSubstr("required"));
}

TEST(CheckProofTest, DocumentVersionOptionalWhenWithdrawing) {
  v1::Proof p = GoodProof();
  p.clear_document_version();
  EXPECT_EQ(CheckProof("proof", p, kNow, false).document_version, "");
}

TEST(CheckProofTest, FutureOccurredAtIsRejected) {
  v1::Proof p = GoodProof();
  SetOccurredAt(p, ToUnixMicros(kNow) + 3600000000);  // an hour ahead
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
  EXPECT_THAT(msg, HasSubstr("proof.occurred_at"));
  EXPECT_THAT(msg, HasSubstr("future"));
}

TEST(CheckProofTest, SmallClockSkewIsTolerated) {
  // Up to five minutes ahead of the server is accepted; one microsecond more is not.
  v1::Proof p = GoodProof();
  SetOccurredAt(p, ToUnixMicros(kNow) + 300000000);
  EXPECT_EQ(ToUnixMicros(CheckProof("proof", p, kNow, true).occurred_at),
            ToUnixMicros(kNow) + 300000000);
  SetOccurredAt(p, ToUnixMicros(kNow) + 300000001);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }), HasSubstr("future"));
}

TEST(CheckProofTest, InvalidOccurredAtIsRejected) {
  v1::Proof p = GoodProof();
  p.mutable_occurred_at()->set_seconds(-1);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
              HasSubstr("proof.occurred_at"));
  p.mutable_occurred_at()->set_seconds(1700000000);
  p.mutable_occurred_at()->set_nanos(1000000000);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
              HasSubstr("proof.occurred_at"));
  p.mutable_occurred_at()->set_nanos(-1);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
              HasSubstr("proof.occurred_at"));
}

TEST(CheckProofTest, FarFutureOccurredAtIsRejected) {
  // Regression (was a bug, now fixed): services/subscriptions/input_checks.cc:117 computes ts.seconds() * 1000000 in
  // int64_t without a range check. For seconds >= ~9.22e12 (far past year 9999, the end of
  // google.protobuf.Timestamp's valid range) the product overflows (undefined behaviour; in
  // practice it wraps to a large negative number), the result looks like a time long
  // before 1970, and the "is in the future" check passes: an absurd consent time is
  // accepted.
  v1::Proof p = GoodProof();
  p.mutable_occurred_at()->set_seconds(10000000000000);  // 1e13 s: year ~318,857
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
  EXPECT_THAT(msg, HasSubstr("proof.occurred_at"));
}

TEST(CheckProofTest, BeyondTimestampRangeIsRejected) {
  // Year 10000: past google.protobuf.Timestamp's range; rejected (as "in the future").
  v1::Proof p = GoodProof();
  p.mutable_occurred_at()->set_seconds(253402300800);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
              HasSubstr("proof.occurred_at"));
}

TEST(CheckProofTest, Ipv4AndIpv6AreAccepted) {
  for (const std::string& ip : std::vector<std::string>{
           "203.0.113.7", "0.0.0.0", "2001:db8::1", "::1", "fe80::1ff:fe23:4567:890a",
           "::ffff:192.0.2.1", "2001:0db8:0000:0000:0000:ff00:0042:8329"}) {
    v1::Proof p = GoodProof();
    p.set_ip(ip);
    EXPECT_EQ(CheckProof("proof", p, kNow, true).ip, ip);
  }
}

TEST(CheckProofTest, EmptyIpIsAllowed) {
  v1::Proof p = GoodProof();
  p.clear_ip();
  EXPECT_EQ(CheckProof("proof", p, kNow, true).ip, "");
}

TEST(CheckProofTest, BadIpIsRejectedWithoutEchoingIt) {
  for (const std::string& ip : std::vector<std::string>{
           "999.1.1.1", "203.0.113", "203.0.113.7 ", " 203.0.113.7", "example.com", "2001:db8:::1",
           "203.0.113.7/24", "fe80::1%eth0", "1.2.3.4:80", std::string(46, '1')}) {
    v1::Proof p = GoodProof();
    p.set_ip(ip);
    std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
    EXPECT_THAT(msg, HasSubstr("proof.ip")) << ip;
    EXPECT_THAT(msg, Not(HasSubstr(ip))) << ip;
  }
}

TEST(CheckProofTest, IpWithEmbeddedNulIsRejected) {
  // Regression (was a bug, now fixed): services/subscriptions/input_checks.cc:124 passes proof.ip().c_str() to inet_pton,
  // which stops at the first NUL byte, so "203.0.113.7\0<anything>" validates as the
  // address before the NUL and the whole value (NUL and trailing bytes included) is kept
  // in CheckedProof::ip and later written to the event trail's personal data (JSON with
  // "\u0000", which PostgreSQL jsonb refuses).
  v1::Proof p = GoodProof();
  p.set_ip(std::string("203.0.113.7\0<script>", 20));
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
  EXPECT_THAT(msg, HasSubstr("proof.ip"));
}

TEST(CheckProofTest, TextFieldsAreChecked) {
  {
    v1::Proof p = GoodProof();
    p.set_user_agent("Mozilla\r\nX-Injected: 1");
    std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
    EXPECT_THAT(msg, HasSubstr("proof.user_agent"));
    EXPECT_THAT(msg, Not(HasSubstr("Injected")));
  }
  {
    v1::Proof p = GoodProof();
    p.set_user_agent(std::string(513, 'a'));
    EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
                HasSubstr("proof.user_agent"));
    p.set_user_agent(std::string(512, 'a'));
    EXPECT_EQ(CheckProof("proof", p, kNow, true).user_agent.size(), 512u);
  }
  {
    v1::Proof p = GoodProof();
    p.set_form_id(std::string(129, 'f'));
    EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
                HasSubstr("proof.form_id"));
  }
  {
    v1::Proof p = GoodProof();
    p.set_document_version("v1\xff");
    EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
                HasSubstr("proof.document_version"));
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
}  // namespace herald::subscriptions
