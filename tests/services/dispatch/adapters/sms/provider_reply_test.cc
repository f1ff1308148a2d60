#include "services/dispatch/adapters/sms/provider_reply.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/services/dispatch/adapters/delivery_printers.h"

namespace herald::dispatch::sms {
namespace {

using ::std::chrono::seconds;

// A fixed "now" so HTTP-date arithmetic is exact.
constexpr Timestamp kNow{std::chrono::microseconds(1795802313000000)};  // 2026-11-27T17:58:33Z

TEST(ProviderReplyTest, OutcomeForStatus) {
  struct Row {
    int status;
    DeliveryOutcome outcome;
  };
  for (const Row& row : {Row{200, DeliveryOutcome::kSent}, Row{201, DeliveryOutcome::kSent},
                         Row{202, DeliveryOutcome::kSent}, Row{204, DeliveryOutcome::kSent},
                         Row{400, DeliveryOutcome::kFailed}, Row{401, DeliveryOutcome::kRetry},
                         Row{403, DeliveryOutcome::kRetry}, Row{404, DeliveryOutcome::kFailed},
                         Row{422, DeliveryOutcome::kFailed}, Row{408, DeliveryOutcome::kRetry},
                         Row{429, DeliveryOutcome::kRetry}, Row{500, DeliveryOutcome::kRetry},
                         Row{502, DeliveryOutcome::kRetry}, Row{503, DeliveryOutcome::kRetry},
                         Row{504, DeliveryOutcome::kRetry}, Row{301, DeliveryOutcome::kRetry},
                         Row{307, DeliveryOutcome::kRetry}}) {
    EXPECT_EQ(OutcomeForStatus(row.status), row.outcome) << row.status;
  }
}

// A request abandoned on the worker's stop before it was written in full: the provider cannot
// have it, so it is handed back unattempted (no attempt used, nothing for the breaker).
TEST(ProviderReplyTest, AbandonedOnStopIsNotAttempted) {
  HttpReply reply;
  reply.transport_error = "Operation was aborted by an application callback";
  reply.stopped = true;
  DeliveryResult r = ResultFromReply(reply, kNow);
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_TRUE(r.not_attempted);
  EXPECT_EQ(r.detail, "shutting down");
}

TEST(ProviderReplyTest, RetryAfterSeconds) {
  EXPECT_EQ(ParseRetryAfter("7", kNow), seconds(7));
  EXPECT_EQ(ParseRetryAfter("0", kNow), seconds(0));
  EXPECT_EQ(ParseRetryAfter("86400", kNow), seconds(86400));
}

TEST(ProviderReplyTest, RetryAfterHttpDateInAllThreeForms) {
  EXPECT_EQ(ParseRetryAfter("Fri, 27 Nov 2026 18:00:33 GMT", kNow), seconds(120));
  EXPECT_EQ(ParseRetryAfter("Friday, 27-Nov-26 18:00:33 GMT", kNow), seconds(120));
  EXPECT_EQ(ParseRetryAfter("Fri Nov 27 18:00:33 2026", kNow), seconds(120));
}

TEST(ProviderReplyTest, RetryAfterDateInThePastMeansNow) {
  EXPECT_EQ(ParseRetryAfter("Fri, 27 Nov 2026 17:00:00 GMT", kNow), seconds(0));
}

TEST(ProviderReplyTest, RetryAfterGarbageIsIgnored) {
  EXPECT_EQ(ParseRetryAfter("", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-5", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", kNow), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", kNow), std::nullopt);
}

TEST(ProviderReplyTest, TransportFailureIsRetryWithCodeZero) {
  HttpReply reply;
  reply.transport_error = "Connection refused";
  DeliveryResult r = ResultFromReply(reply, kNow);
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.detail, "Connection refused");
  EXPECT_FALSE(r.retry_after.has_value());
}

TEST(ProviderReplyTest, NoAnswerAfterTheWholeRequestIsMaybeSent) {
  HttpReply reply;
  reply.transport_error = "Operation timed out after 1000 milliseconds with 0 bytes received";
  reply.request_sent = true;
  reply.retry_after = "7";  // cannot come without an answer; ignored if it did
  DeliveryResult r = ResultFromReply(reply, kNow);
  EXPECT_EQ(r.outcome, DeliveryOutcome::kMaybeSent);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.detail,
            "no answer after the whole request was sent, may have been delivered: Operation "
            "timed out after 1000 milliseconds with 0 bytes received");
  EXPECT_FALSE(r.retry_after.has_value());
}

TEST(ProviderReplyTest, RetryAfterIsKeptOnlyForRetries) {
  HttpReply reply;
  reply.retry_after = "30";
  reply.status = 503;
  EXPECT_EQ(ResultFromReply(reply, kNow).retry_after, seconds(30));
  reply.status = 400;  // a refusal with Retry-After is still a refusal
  EXPECT_FALSE(ResultFromReply(reply, kNow).retry_after.has_value());
}

TEST(ProviderReplyTest, DetailTextIsCutAtACharacterAndMadeValid) {
  EXPECT_EQ(DetailText("short"), "short");
  EXPECT_EQ(DetailText(std::string(400, 'a')).size(), 300u);
  EXPECT_EQ(DetailText("abcə", 4), "abc");  // "ə" is 2 bytes: it goes whole or not at all
  EXPECT_EQ(DetailText(std::string("a\xff") + "b"), std::string("a\uFFFD") + "b");
  EXPECT_EQ(DetailText(std::string("a\0b", 3)), "a?b");
}

TEST(ProviderReplyTest, ScalarAtReadsStringsAndNumbers) {
  auto doc = nlohmann::json::parse(R"({"sid":"SM1","code":21610,"ok":true,"obj":{},"arr":[1]})");
  using P = nlohmann::json::json_pointer;
  EXPECT_EQ(ScalarAt(doc, P("/sid")), "SM1");
  EXPECT_EQ(ScalarAt(doc, P("/code")), "21610");
  EXPECT_EQ(ScalarAt(doc, P("/ok")), "true");
  EXPECT_EQ(ScalarAt(doc, P("/obj")), "");
  EXPECT_EQ(ScalarAt(doc, P("/missing")), "");
  EXPECT_EQ(ScalarAt(doc, P("/arr/x")), "");
  EXPECT_EQ(ScalarAt(doc, P("/sid/deeper")), "");
  EXPECT_EQ(ScalarAt(nlohmann::json(), P("/sid")), "");  // a body that was not JSON
}

}  // namespace
}  // namespace herald::dispatch::sms
