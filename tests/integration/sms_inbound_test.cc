// SMS replies end to end (STANDARDS S1-S2, DESIGN "One exception"): a real heraldd receives
// signed provider webhooks over HTTP, and its worker sends the confirmations through an
// in-test SMS provider speaking the Twilio and JSON APIs, where they are counted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <thread>

#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "services/inbound/sms/webhook_parsing.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/sms_provider_stand_in.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;

constexpr char kTwilioToken[] = "twilio-auth-token-for-tests";
constexpr char kJsonSecret[] = "json-shared-secret-for-tests";
constexpr char kBase[] = "https://herald.test";  // HeralddProcess's public_base_url

using Sent = testing::SmsRequest;

std::string Config(const testing::SmsProviderStandIn& fake) {
  return "providers:\n"
         "  - name: tw\n    kind: twilio\n    country: RU\n    priority: 1\n"
         "    settings:\n      base_url: " +
         fake.base_url() +
         "\n      account_sid: AC123\n      from: Herald\n"
         "  - name: js\n    kind: json_sms\n    country: RU\n    priority: 2\n"
         "    settings:\n      url: " +
         fake.json_url() +
         "\n"
         "      from: Herald\n      auth_header: X-Api-Key\n"
         "      body_template: '{\"to\":\"{{to}}\",\"text\":\"{{body}}\"}'\n";
}

class SmsInboundTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), Config(fake_));
    server_->AddEnv(std::string("HERALD_PROVIDER_TW_SECRET=") + kTwilioToken);
    server_->AddEnv(std::string("HERALD_PROVIDER_JS_SECRET=") + kJsonSecret);
    server_->Start();
    http_ = std::make_unique<httplib::Client>("127.0.0.1", server_->http_port());
  }

  // A Twilio-style webhook, signed as Twilio signs it unless `signature` is given.
  httplib::Result PostTwilio(const std::string& path,
                             const std::multimap<std::string, std::string>& params,
                             const std::optional<std::string>& signature = std::nullopt) {
    std::string body;
    for (const auto& [k, v] : params) {
      if (!body.empty()) body += "&";
      body += httplib::detail::encode_query_param(k) + "=" + httplib::detail::encode_query_param(v);
    }
    httplib::Headers h;
    std::string sig =
        signature.value_or(inbound::sms::TwilioSignature(kTwilioToken, kBase + path, params));
    if (!sig.empty()) h.emplace("X-Twilio-Signature", sig);
    return http_->Post(path, h, body, "application/x-www-form-urlencoded");
  }
  int TwilioInbound(const std::string& sid, const std::string& from, const std::string& text) {
    auto r = PostTwilio("/hooks/sms/tw/inbound",
                        {{"MessageSid", sid}, {"From", from}, {"To", "Herald"}, {"Body", text}});
    return r ? r->status : 0;
  }
  httplib::Result PostJson(const std::string& path, const std::string& body,
                           const std::optional<std::string>& signature = std::nullopt) {
    httplib::Headers h;
    std::string sig = signature.value_or(inbound::sms::JsonSignature(kJsonSecret, body));
    if (!sig.empty()) h.emplace("X-Herald-Signature", sig);
    return http_->Post(path, h, body, "application/json");
  }

  // Waits until the provider has received `n` messages and nothing is left to send.
  std::vector<Sent> WaitForSent(size_t n) {
    testing::Eventually(
        [&] {
          return fake_.sent().size() >= n &&
                 db_->Scalar(
                     "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending',"
                     " 'retrying')") == "0";
        },
        std::chrono::seconds(15), std::chrono::milliseconds(50));
    return fake_.sent();
  }

  v1::Decision Check(const std::string& subject_id, const std::string& address) {
    auto stub = v1::SubscriptionService::NewStub(server_->Channel());
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(subject_id);
    r.mutable_recipient()->set_address(address);
    r.set_channel(v1::SMS);
    r.set_topic("special_offers");
    v1::CheckEligibilityResponse resp;
    EXPECT_TRUE(stub->CheckEligibility(&ctx, r, &resp).ok());
    return resp.decision();
  }

  int64_t Count(const std::string& table) {
    return std::stoll(db_->Scalar("SELECT count(*) FROM " + table));
  }

  testing::SmsProviderStandIn fake_;
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<httplib::Client> http_;
};

constexpr char kSubject[] = "11111111-1111-1111-1111-111111111111";
constexpr char kNumber[] = "+994501234567";

void AddSmsSubject(testing::TestDatabase& db) {
  db.Exec(std::string("INSERT INTO subjects (id, surname, locale, processing_consent,"
                      " marketing_channels, created_at, updated_at) VALUES ('") +
          kSubject + "', 'A', 'az', true, 4, now(), now())");
  db.Exec(std::string("INSERT INTO addresses (subject_id, kind, value, match_key, added_at)"
                      " VALUES ('") +
          kSubject + "', 2, '" + kNumber + "', '" + kNumber + "', now())");
}

TEST_F(SmsInboundTest, S1_BadSignaturesAndMalformedBodiesAreRefusedAndChangeNothing) {
  std::multimap<std::string, std::string> stop = {
      {"MessageSid", "SM1"}, {"From", kNumber}, {"Body", "STOP"}};
  auto none = PostTwilio("/hooks/sms/tw/inbound", stop, "");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 403);
  EXPECT_THAT(none->body, HasSubstr("X-Twilio-Signature"));
  EXPECT_EQ(PostTwilio("/hooks/sms/tw/inbound", stop, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")->status, 403);
  // Signed for another URL, or with another token.
  EXPECT_EQ(PostTwilio("/hooks/sms/tw/inbound", stop,
                       inbound::sms::TwilioSignature(
                           kTwilioToken, "https://evil.test/hooks/sms/tw/inbound", stop))
                ->status,
            403);
  EXPECT_EQ(PostTwilio("/hooks/sms/tw/inbound", stop,
                       inbound::sms::TwilioSignature(
                           "wrong", std::string(kBase) + "/hooks/sms/tw/inbound", stop))
                ->status,
            403);
  std::string json = R"({"message_id":"J1","from":"+994501234567","text":"STOP"})";
  EXPECT_EQ(PostJson("/hooks/sms/js/inbound", json, "")->status, 403);
  EXPECT_EQ(
      PostJson("/hooks/sms/js/inbound", json, inbound::sms::JsonSignature("wrong", json))->status,
      403);
  EXPECT_EQ(
      PostJson("/hooks/sms/js/inbound", json + " ", inbound::sms::JsonSignature(kJsonSecret, json))
          ->status,
      403);
  // The JSON signature does not open the Twilio door.
  EXPECT_EQ(PostJson("/hooks/sms/tw/inbound", json)->status, 403);
  // Unknown provider; an SMTP provider is not an SMS provider either.
  EXPECT_EQ(PostJson("/hooks/sms/nobody/inbound", json)->status, 404);
  // Malformed, though signed: precise 400s naming the field, never the value.
  auto bad_json = PostJson("/hooks/sms/js/inbound", "{\"message_id\":");
  EXPECT_EQ(bad_json->status, 400);
  auto no_from = PostJson("/hooks/sms/js/inbound", R"({"message_id":"J2","text":"STOP"})");
  EXPECT_EQ(no_from->status, 400);
  EXPECT_THAT(no_from->body, HasSubstr("from"));
  auto bad_from = PostJson("/hooks/sms/js/inbound",
                           R"({"message_id":"J3","from":"12ab-not-a-number","text":"STOP"})");
  EXPECT_EQ(bad_from->status, 400);
  EXPECT_EQ(bad_from->body.find("12ab"), std::string::npos);
  auto bad_form =
      http_->Post("/hooks/sms/tw/inbound", "Body=%zz", "application/x-www-form-urlencoded");
  EXPECT_EQ(bad_form->status, 400);
  auto bad_receipt = PostJson("/hooks/sms/js/status", R"({"message_id":"x"})");
  EXPECT_EQ(bad_receipt->status, 400);
  EXPECT_THAT(bad_receipt->body, HasSubstr("status"));

  EXPECT_EQ(Count("inbound_sms"), 0);
  EXPECT_EQ(Count("suppressions"), 0);
  EXPECT_EQ(Count("events"), 0);
  EXPECT_EQ(Count("messages"), 0);
}

TEST_F(SmsInboundTest, S1_S2_StopStartStopSendsExactlyTheRightConfirmations) {
  AddSmsSubject(*db_);
  EXPECT_TRUE(Check(kSubject, "").allowed());

  ASSERT_EQ(TwilioInbound("SM1", kNumber, "Stop"), 200);
  auto sent = WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u) << server_->Log();
  EXPECT_EQ(sent[0].to, kNumber);
  EXPECT_THAT(sent[0].body, HasSubstr("imtina"));  // the subject's language: az
  EXPECT_EQ(Check(kSubject, "").reason(), v1::ADDRESS_SUPPRESSED);

  // A repeat STOP (another message) sends none.
  ASSERT_EQ(TwilioInbound("SM2", kNumber, "  СТОП "), 200);
  EXPECT_EQ(db_->Scalar("SELECT outcome FROM inbound_sms WHERE provider_message_id = 'SM2'"),
            "already_stopped");

  ASSERT_EQ(TwilioInbound("SM3", kNumber, "START"), 200);
  sent = WaitForSent(2);
  ASSERT_EQ(sent.size(), 2u) << server_->Log();
  EXPECT_THAT(sent[1].body, HasSubstr("abunə"));
  EXPECT_TRUE(Check(kSubject, "").allowed());

  ASSERT_EQ(TwilioInbound("SM4", kNumber, "dayan"), 200);
  sent = WaitForSent(3);
  ASSERT_EQ(sent.size(), 3u) << server_->Log();
  EXPECT_EQ(sent[2].to, kNumber);
  EXPECT_EQ(Check(kSubject, "").reason(), v1::ADDRESS_SUPPRESSED);

  // The provider re-posts the first STOP: idempotent, no second confirmation.
  ASSERT_EQ(TwilioInbound("SM1", kNumber, "Stop"), 200);
  EXPECT_EQ(Count("messages WHERE reply_to_inbound IS NOT NULL"), 3);
  // Any other message to the stopped number is still refused: only replies pass.
  auto stub = v1::DispatchService::NewStub(server_->Channel());
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
  v1::SendRequest send;
  send.set_idempotency_key("offer-1");
  send.mutable_recipient()->set_subject_id(kSubject);
  send.set_channel(v1::SMS);
  send.set_topic("special_offers");
  send.mutable_content()->set_text("Sale today");
  v1::SendResponse sent_offer;
  ASSERT_TRUE(stub->Send(&ctx, send, &sent_offer).ok());
  EXPECT_EQ(sent_offer.status(), v1::SUPPRESSED);
  EXPECT_EQ(sent_offer.deny_reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(WaitForSent(3).size(), 3u);
  // Every confirmation went out under the gate's keyword-reply rule: a real message each.
  EXPECT_EQ(db_->Scalar("SELECT string_agg(DISTINCT status, ',') FROM messages"
                        " WHERE reply_to_inbound IS NOT NULL"),
            "sent");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM consents WHERE source = 4"), "3");
}

TEST_F(SmsInboundTest, S1_UnknownNumberStopHonouredHelpChangesNothingAndReceipts) {
  // A STOP from a number nobody owns, through the JSON dialect.
  std::string stop = R"({"message_id":"J1","from":"+79161234567","text":"stop"})";
  auto r = PostJson("/hooks/sms/js/inbound", stop);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_THAT(r->body, HasSubstr("\"outcome\":\"stopped\""));
  auto sent = WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u) << server_->Log();
  EXPECT_EQ(sent[0].to, "+79161234567");
  EXPECT_EQ(sent[0].via, "json");  // back through the provider the keyword came in by
  EXPECT_THAT(sent[0].body, HasSubstr("отписались"));  // +7: Russian
  EXPECT_EQ(Check("", "+79161234567").reason(), v1::ADDRESS_SUPPRESSED);

  // HELP answers and changes nothing.
  int64_t suppressions = Count("suppressions"), consents = Count("consents");
  ASSERT_EQ(TwilioInbound("SM9", "+447911123456", "help"), 200);
  sent = WaitForSent(2);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_THAT(sent[1].body, HasSubstr("Reply STOP"));  // +44: English
  EXPECT_EQ(sent[1].via, "twilio");
  EXPECT_EQ(Count("suppressions"), suppressions);
  EXPECT_EQ(Count("consents"), consents);

  // Delivery receipts, found by the provider message id recorded on the attempt.
  std::string message_id = db_->Scalar(
      "SELECT message_id FROM message_attempts WHERE provider = 'tw'"
      " AND provider_message_id = 'SMout2'");
  auto receipt = PostTwilio("/hooks/sms/tw/status",
                            {{"MessageSid", "SMout2"}, {"MessageStatus", "delivered"}});
  ASSERT_EQ(receipt->status, 200);
  EXPECT_THAT(receipt->body, HasSubstr("delivered"));
  auto unknown = PostTwilio("/hooks/sms/tw/status",
                            {{"MessageSid", "SMnever"}, {"MessageStatus", "delivered"}});
  ASSERT_EQ(unknown->status, 200);  // answered, ignored: the provider must not retry forever
  EXPECT_THAT(unknown->body, HasSubstr("unknown"));
  auto unsigned_receipt = PostTwilio(
      "/hooks/sms/tw/status", {{"MessageSid", "SMout2"}, {"MessageStatus", "undelivered"}}, "");
  EXPECT_EQ(unsigned_receipt->status, 403);

  auto stub = v1::DispatchService::NewStub(server_->Channel());
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
  v1::GetMessageRequest get;
  get.set_message_id(message_id);
  v1::Message m;
  ASSERT_TRUE(stub->GetMessage(&ctx, get, &m).ok());
  EXPECT_EQ(m.status(), v1::DELIVERED);
  ASSERT_FALSE(m.history().empty());
  EXPECT_EQ(m.history().rbegin()->status(), v1::DELIVERED);
  // The JSON dialect's receipt: {"message_id", "status"}; failed means undelivered.
  auto json_receipt =
      PostJson("/hooks/sms/js/status", R"({"message_id":"J-out-1","status":"failed"})");
  ASSERT_EQ(json_receipt->status, 200);
  EXPECT_EQ(db_->Scalar("SELECT status FROM messages WHERE id <> '" + message_id + "'"),
            "undelivered");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM message_history WHERE note LIKE"
                        " 'delivery receipt%'"),
            "2");

  std::string metrics;
  ASSERT_EQ(testing::HttpGet(server_->ops_port(), "/metrics", &metrics), 200);
  EXPECT_THAT(metrics, HasSubstr("herald_sms_inbound_total{keyword=\"stop\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("herald_sms_inbound_total{keyword=\"help\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("herald_sms_receipts_total{status=\"delivered\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("herald_sms_receipts_total{status=\"unknown\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("herald_sms_receipts_total{status=\"undelivered\"} 1"));
  // No number in the log.
  EXPECT_EQ(server_->Log().find("79161234567"), std::string::npos);
  EXPECT_EQ(server_->Log().find("447911123456"), std::string::npos);
}

}  // namespace
}  // namespace herald
