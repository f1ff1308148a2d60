// The JSON API's reading and printing of messages (json_codec.h): strict, field-naming,
// value-free errors, and one fixed printing. Requirement ids: docs/requirements.md (J1-J4).
#include "services/web/json_api/json_codec.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/field_comparator.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "herald/v1/dispatch.pb.h"
#include "herald/v1/subscriptions.pb.h"

namespace herald::web::json_api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::optional<FieldProblem> Parse(const std::string& body, google::protobuf::Message& out) {
  return ParseRequest(body, out);
}

template <typename M>
FieldProblem Refusal(const std::string& body) {
  M m;
  auto p = ParseRequest(body, m);
  EXPECT_TRUE(p.has_value()) << body;
  return p.value_or(FieldProblem{"(none)", "(accepted)"});
}

TEST(JsonCodecTest, J1_AWellFormedRequestIsRead) {
  v1::CheckEligibilityRequest r;
  auto p = Parse(R"({"recipient": {"subject_id": "5b0c1f0e-8a4e-4c53-9a52-2f0e4f7f6a10"},
                     "channel": "SMS", "topic": "news", "provider_country": null})",
                 r);
  ASSERT_FALSE(p) << p->Text();
  EXPECT_EQ(r.recipient().subject_id(), "5b0c1f0e-8a4e-4c53-9a52-2f0e4f7f6a10");
  EXPECT_EQ(r.channel(), v1::SMS);
  EXPECT_EQ(r.topic(), "news");
}

// J1: what is read is what protobuf's own JSON reader makes of the same body, for every kind
// of field the requests use (the reader itself is the codec's: one walk checks and reads).
TEST(JsonCodecTest, J1_ReadsWhatProtobufsOwnReaderReads) {
  auto same = [](google::protobuf::Message& ours, google::protobuf::Message& theirs,
                 const std::string& body) {
    SCOPED_TRACE(body);
    auto p = ParseRequest(body, ours);
    ASSERT_FALSE(p) << p->Text();
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(body, &theirs).ok());
    google::protobuf::util::DefaultFieldComparator comparator;
    comparator.set_treat_nan_as_equal(true);
    google::protobuf::util::MessageDifferencer differencer;
    differencer.set_field_comparator(&comparator);
    EXPECT_TRUE(differencer.Compare(ours, theirs))
        << ours.DebugString() << " vs " << theirs.DebugString();
  };
  v1::SendRequest a, b;
  same(a, b, R"({"idempotency_key": "k", "recipient": {"subject_id": "s", "address": null},
                 "channel": "SMS", "topic": "t", "content": {"subject": "S", "text": "T\u00e9"},
                 "variables": {"first": "Анна", "second": ""}})");
  v1::CreateCampaignRequest c, d;
  same(c, d, R"({"name": "n", "variables": ["x", "y"], "rate_per_second": 2.5,
                 "start_time": "2026-12-01T13:00:00.250+03:00"})");
  v1::CreateCampaignRequest e, f;
  same(e, f, R"({"rate_per_second": "NaN", "start_time": "2026-12-01T10:00:00Z"})");
  v1::ListSubjectEventsRequest g, h;
  same(g, h, R"({"subject_id": "s", "page_size": "-0", "page_token": ""})");
  v1::RowError i, j;
  same(i, j, R"({"row": "-9223372036854775808", "reason": "r"})");
  v1::OptOutRequest k, l;
  same(k, l, R"({"address": "+994500000001", "scope": "CHANNEL", "channel": "SMS",
                 "proof": {"source": "CRM", "occurred_at": "2026-12-01T10:00:00Z"}})");
  v1::CheckEligibilityBatchRequest m, n;
  same(m, n, R"({"recipients": [{"subject_id": "a"}, {"address": "b"}, {}], "channel": "EMAIL"})");
  // A refused body leaves nothing behind.
  v1::SendRequest refused;
  EXPECT_TRUE(ParseRequest(R"({"topic": "t", "channel": 7})", refused));
  EXPECT_EQ(refused.ByteSizeLong(), 0u);
}

// J2: a typo never becomes a default value: "grantd" is not "granted": false.
TEST(JsonCodecTest, J2_AnUnknownFieldIsRefusedByName) {
  auto p = Refusal<v1::RecordConsentRequest>(R"({"subject_id": "x", "grantd": true})");
  EXPECT_EQ(p.field, "grantd");
  EXPECT_EQ(p.description, "unknown field");
  auto nested = Refusal<v1::CheckEligibilityRequest>(R"({"recipient": {"subjectid": "x"}})");
  EXPECT_EQ(nested.field, "recipient.subjectid");
}

TEST(JsonCodecTest, J2_ACamelCaseNameIsRefusedWithTheProtoName) {
  auto p = Refusal<v1::CheckEligibilityRequest>(R"({"providerCountry": "AZ"})");
  EXPECT_EQ(p.field, "providerCountry");
  EXPECT_THAT(p.description, HasSubstr("\"provider_country\""));
}

TEST(JsonCodecTest, J2_AKeyTwiceIsRefused) {
  auto p = Refusal<v1::CheckEligibilityRequest>(R"({"topic": "a", "topic": "b"})");
  EXPECT_EQ(p.field, "topic");
  EXPECT_THAT(p.description, HasSubstr("twice"));
}

TEST(JsonCodecTest, J2_TwoMembersOfOneOneofAreRefused) {
  auto p = Refusal<v1::OptOutRequest>(R"({"subject_id": "a", "address": "b"})");
  EXPECT_EQ(p.field, "target");
  EXPECT_THAT(p.description, HasSubstr("subject_id, address"));
}

TEST(JsonCodecTest, J3_WrongTypesNameThePathAndTheExpectedType) {
  struct Case {
    std::string body, field, expected;
  };
  const Case cases[] = {
      {R"({"topic": 5})", "topic", "expected a string"},
      {R"({"recipient": "x"})", "recipient", "expected an object"},
      {R"({"recipient": {"subject_id": 7}})", "recipient.subject_id", "expected a string"},
      {R"({"channel": 1})", "channel", "expected the name of a value: CHANNEL_UNSPECIFIED, EMAIL"},
      {R"({"channel": "MAIL"})", "channel", "expected the name of a value"},
      {R"({"recipients": {}})", "recipients", "expected an array"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    FieldProblem p = c.field == "recipients" ? Refusal<v1::CheckEligibilityBatchRequest>(c.body)
                                             : Refusal<v1::CheckEligibilityRequest>(c.body);
    EXPECT_EQ(p.field, c.field);
    EXPECT_THAT(p.description, HasSubstr(c.expected));
  }
  auto element = Refusal<v1::CheckEligibilityBatchRequest>(
      R"({"recipients": [{"subject_id": "a"}, {"address": false}]})");
  EXPECT_EQ(element.field, "recipients[1].address");
  auto null_element = Refusal<v1::CheckEligibilityBatchRequest>(R"({"recipients": [null]})");
  EXPECT_EQ(null_element.field, "recipients[0]");
}

TEST(JsonCodecTest, J3_IntegersAreWholeAndInRange) {
  v1::ListSubjectEventsRequest ok;
  ASSERT_FALSE(Parse(R"({"page_size": 20})", ok));
  EXPECT_EQ(ok.page_size(), 20);
  ASSERT_FALSE(Parse(R"({"page_size": "30"})", ok));  // proto3 JSON: integers may be strings
  EXPECT_EQ(ok.page_size(), 30);
  for (const char* bad : {R"({"page_size": 2.5})", R"({"page_size": 2147483648})",
                          R"({"page_size": "12abc"})", R"({"page_size": true})"}) {
    auto p = Refusal<v1::ListSubjectEventsRequest>(bad);
    EXPECT_EQ(p.field, "page_size") << bad;
    EXPECT_THAT(p.description, HasSubstr("whole number from -2147483648 to 2147483647"));
  }
  v1::RowError wide;  // int64: a number or a decimal string
  ASSERT_FALSE(Parse(R"({"row": "9223372036854775807"})", wide));
  EXPECT_EQ(wide.row(), INT64_MAX);
  ASSERT_FALSE(Parse(R"({"row": -9223372036854775808})", wide));
  EXPECT_EQ(wide.row(), INT64_MIN);
  EXPECT_EQ(Refusal<v1::RowError>(R"({"row": "9223372036854775808"})").field, "row");
  EXPECT_EQ(Refusal<v1::RowError>(R"({"row": 18446744073709551615})").field, "row");
}

// Found by fuzz/json_api_fuzzer: a number beyond a double made nlohmann throw out_of_range,
// not parse_error, which left ParseRequest and became a 503 with Retry-After for a request
// that can never succeed.
TEST(JsonCodecTest, J3_ANumberBeyondADoubleIsRefusedAsABadBody) {
  for (const char* body : {R"({"page_size": 1e400})", R"({"page_size": -1e400})",
                           R"({"x": [1, 2, 33333333333333e3333333333]})", "1e999"}) {
    FieldProblem p = Refusal<v1::ListSubjectEventsRequest>(body);
    EXPECT_EQ(p.field, "") << body;
    EXPECT_EQ(p.description, "a number in the body is out of range") << body;
  }
  EXPECT_THAT(Refusal<v1::ListSubjectEventsRequest>(R"({"page_size": 1e400})").Text(),
              Not(HasSubstr("400")));
}

TEST(JsonCodecTest, J3_TimestampsAreRfc3339) {
  v1::CreateCampaignRequest ok;
  ASSERT_FALSE(Parse(R"({"start_time": "2026-12-01T10:00:00Z"})", ok));
  EXPECT_EQ(ok.start_time().seconds(), 1796119200);
  auto p = Refusal<v1::CreateCampaignRequest>(R"({"start_time": "01.12.2026 10:00"})");
  EXPECT_EQ(p.field, "start_time");
  EXPECT_THAT(p.description, HasSubstr("RFC 3339"));
}

// J3: a problem names where and what, never the value: bodies carry phone numbers and
// addresses, and these texts reach clients and logs.
TEST(JsonCodecTest, J3_NoProblemRepeatsAValueOfTheBody) {
  const std::string phone = "+994501234567";
  const std::string email = "anna.sokolova@example.com";
  const std::string bodies[] = {
      R"({"recipient": {"address": ["+994501234567"]}})",
      R"({"recipient": {"address": "anna.sokolova@example.com", "x": "+994501234567"}})",
      R"({"topic": "anna.sokolova@example.com", "channel": "+994501234567"})",
      R"({"recipient": {"address": "anna.sokolova@example.com"}, "topic": })",
      R"({"topic": "+994501234567)",
      R"({"anna.sokolova@example.com": 1})",
      R"({"+994501234567": 1})",
      R"(["+994501234567"])",
      R"({"provider_country": "AZ", "provider_country": "+994501234567"})",
  };
  for (const auto& body : bodies) {
    SCOPED_TRACE(body);
    FieldProblem p = Refusal<v1::CheckEligibilityRequest>(body);
    EXPECT_THAT(p.Text(), Not(HasSubstr("994501234567")));
    EXPECT_THAT(p.Text(), Not(HasSubstr("sokolova")));
  }
  auto malformed = Refusal<v1::CheckEligibilityRequest>(R"({"topic": "+994501234567)");
  EXPECT_THAT(malformed.description, HasSubstr("malformed JSON at byte"));
  EXPECT_EQ(Refusal<v1::CheckEligibilityRequest>(R"({"+994501234567": 1})").field, "");
}

TEST(JsonCodecTest, J3_NotAnObjectAndDeepNestingAreRefused) {
  EXPECT_EQ(Refusal<v1::ListTopicsRequest>("[]").description, "expected a JSON object");
  EXPECT_EQ(Refusal<v1::ListTopicsRequest>("").description.rfind("malformed JSON", 0), 0u);
  std::string deep(100000, '[');
  EXPECT_THAT(Refusal<v1::ListTopicsRequest>(deep).description, HasSubstr("nested too deeply"));
}

TEST(JsonCodecTest, J3_MapValuesAreChecked) {
  v1::AddRecipientsRequest ok;
  ASSERT_FALSE(Parse(R"({"rows": [{"variables": {"first_name": "Anna"}}]})", ok));
  EXPECT_EQ(ok.rows(0).variables().at("first_name"), "Anna");
  auto p = Refusal<v1::AddRecipientsRequest>(R"({"rows": [{"variables": {"n": 5}}]})");
  EXPECT_EQ(p.field, "rows[0].variables");
  EXPECT_EQ(p.description, "expected a string");
}

// J4: every field is printed, defaults included, enums by name, int64 as strings, names as
// in the .proto; what protobuf's own printer gives with the documented options.
TEST(JsonCodecTest, J4_AnswersPrintEveryFieldByTheFixedOptions) {
  v1::CheckEligibilityResponse r;
  r.mutable_decision()->set_allowed(false);
  EXPECT_EQ(PrintAnswer(r),
            R"({"decision":{"allowed":false,"reason":"DENY_REASON_UNSPECIFIED","address":"",)"
            R"("decided_by":"DECIDING_FACT_UNSPECIFIED","deciding_subject_id":"",)"
            R"("explanation":""}})");
  v1::AddRecipientsResponse counts;
  counts.set_received(3);
  (*counts.mutable_skipped_by_reason())["NO_CONSENT"] = 1;
  EXPECT_EQ(PrintAnswer(counts),
            R"({"received":"3","skipped":"0",)"
            R"("skipped_by_reason":{"NO_CONSENT":"1"},"errors":[],"upload_id":""})");
}

}  // namespace
}  // namespace herald::web::json_api
