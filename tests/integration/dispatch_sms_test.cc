// SMS end to end: heraldd's worker sends through a Twilio-style provider (an in-test HTTP
// server speaking the API) with the opt-out footer in the subject's language, records the
// encoding actually sent, and fails over to the next provider when the first keeps failing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "herald/v1/dispatch.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/sms_provider_stand_in.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;

// The bodies of every message a provider stand-in was sent.
std::vector<std::string> Bodies(const testing::SmsProviderStandIn& provider) {
  std::vector<std::string> out;
  for (const auto& r : provider.requests()) out.push_back(r.body);
  return out;
}

std::string Provider(const std::string& name, int priority,
                     const testing::SmsProviderStandIn& provider) {
  return "  - name: " + name +
         "\n    kind: twilio\n    country: RU\n    priority: " + std::to_string(priority) +
         "\n    breaker_failures: 2\n    breaker_open_s: 60\n" +
         "    settings:\n      base_url: " + provider.base_url() +
         "\n      account_sid: AC123\n      from: Herald\n";
}

TEST(DispatchSmsTest, FooterInTheSubjectsLanguageAndFailoverToTheNextProvider) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  testing::SmsProviderStandIn broken, healthy;
  broken.AnswerTwilioWith(500);
  std::string config =
      "sms:\n  footer_az: \"DAYAN → 1234\"\n  footer_ru: \"СТОП → 1234\"\n"
      "dispatch:\n  retry_base_s: 1\n"
      "providers:\n" +
      Provider("first", 1, broken) + Provider("second", 2, healthy);
  HeralddProcess server(db->dsn(), config);
  server.AddEnv("HERALD_PROVIDER_FIRST_SECRET=token-1");
  server.AddEnv("HERALD_PROVIDER_SECOND_SECRET=token-2");
  server.Start();
  db->Exec(
      "INSERT INTO subjects (id, surname, locale, processing_consent, marketing_channels,"
      " created_at, updated_at) VALUES"
      " ('11111111-1111-1111-1111-111111111111', 'A', 'az', true, 4, now(), now()),"
      " ('22222222-2222-2222-2222-222222222222', 'B', 'ru-RU', true, 4, now(), now())");
  db->Exec(
      "INSERT INTO addresses (subject_id, kind, value, match_key, added_at) VALUES"
      " ('11111111-1111-1111-1111-111111111111', 2, '+994501234567', '+994501234567', now()),"
      " ('22222222-2222-2222-2222-222222222222', 2, '+79161234567', '+79161234567', now())");
  auto stub = v1::DispatchService::NewStub(server.Channel());
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::SendRequest r;
    r.set_idempotency_key("sms-" + std::to_string(i));
    r.mutable_recipient()->set_subject_id(i % 2 ? "22222222-2222-2222-2222-222222222222"
                                                : "11111111-1111-1111-1111-111111111111");
    r.set_channel(v1::SMS);
    r.set_topic("special_offers");
    r.mutable_content()->set_text("Sale today");
    v1::SendResponse resp;
    ASSERT_TRUE(stub->Send(&ctx, r, &resp).ok());
    ASSERT_EQ(resp.status(), v1::QUEUED);
    ids.push_back(resp.message_id());
  }
  testing::Eventually(
      [&] { return db->Scalar("SELECT count(*) FROM messages WHERE status = 'sent'") == "6"; },
      std::chrono::seconds(30), std::chrono::milliseconds(100));
  ASSERT_EQ(db->Scalar("SELECT count(*) FROM messages WHERE status = 'sent'"), "6") << server.Log();
  // The broken provider was tried, then taken out; the healthy one carried everything.
  EXPECT_GE(Bodies(broken).size(), 2u);
  auto bodies = Bodies(healthy);
  ASSERT_EQ(bodies.size(), 6u);
  int az = 0, ru = 0;
  for (const auto& b : bodies) {
    EXPECT_THAT(b, HasSubstr("Sale today\n"));
    az += b.find("DAYAN → 1234") != std::string::npos;
    ru += b.find("СТОП → 1234") != std::string::npos;
  }
  EXPECT_EQ(az, 3);
  EXPECT_EQ(ru, 3);
  // '→' is not GSM-7: the footer made these UCS-2.
  EXPECT_EQ(db->Scalar("SELECT string_agg(DISTINCT sms_encoding, ',') FROM messages"), "UCS2");
  EXPECT_EQ(db->Scalar("SELECT count(*) FROM message_attempts WHERE provider = 'second'"
                       " AND outcome = 'SENT'"),
            "6");
}

}  // namespace
}  // namespace herald
