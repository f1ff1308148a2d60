// Fair sending end to end, checked where the recipient would see it: at the SMS provider
// stand-in. A frequency cap lets no more than its number of marketing SMS reach a subject
// (the rest suppressed as FREQUENCY_CAPPED, service messages untouched); quiet hours keep a
// marketing SMS away from the provider while a service SMS goes at once.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>

#include "common/proto_time.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/outbox.h"
#include "tests/support/sms_provider_stand_in.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;

constexpr char kCapped[] = "11111111-1111-1111-1111-111111111111";
constexpr char kOther[] = "22222222-2222-2222-2222-222222222222";

std::string Provider(const testing::SmsProviderStandIn& provider) {
  return "providers:\n  - name: sms\n    kind: twilio\n    country: RU\n"
         "    settings:\n      base_url: " +
         provider.base_url() + "\n      account_sid: AC123\n      from: Herald\n";
}

// Two subjects with consent to processing and to marketing SMS.
void SeedSubjects(const testing::TestDatabase& db) {
  db.Exec(
      "INSERT INTO subjects (id, surname, locale, processing_consent, marketing_channels,"
      " created_at, updated_at) VALUES"
      " ('11111111-1111-1111-1111-111111111111', 'A', 'en', true, 4, now(), now()),"
      " ('22222222-2222-2222-2222-222222222222', 'B', 'en', true, 4, now(), now())");
  db.Exec(
      "INSERT INTO addresses (subject_id, kind, value, match_key, added_at) VALUES"
      " ('11111111-1111-1111-1111-111111111111', 2, '+994501230001', '+994501230001', now()),"
      " ('22222222-2222-2222-2222-222222222222', 2, '+994501230002', '+994501230002', now())");
}

std::string Send(v1::DispatchService::Stub& stub, const std::string& subject,
                 const std::string& topic, const std::string& key) {
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
  v1::SendRequest r;
  r.set_idempotency_key(key);
  r.mutable_recipient()->set_subject_id(subject);
  r.set_channel(v1::SMS);
  r.set_topic(topic);
  r.mutable_content()->set_text("Hello");
  v1::SendResponse resp;
  auto st = stub.Send(&ctx, r, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.status(), v1::QUEUED) << key;
  return resp.message_id();
}

v1::Decision Check(HeralddProcess& server, const std::string& subject, const std::string& topic) {
  auto stub = v1::SubscriptionService::NewStub(server.Channel());
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kCrmKey);
  v1::CheckEligibilityRequest r;
  r.mutable_recipient()->set_subject_id(subject);
  r.set_channel(v1::SMS);
  r.set_topic(topic);
  v1::CheckEligibilityResponse resp;
  auto st = stub->CheckEligibility(&ctx, r, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return resp.decision();
}

size_t To(const testing::SmsProviderStandIn& provider, const std::string& number) {
  size_t n = 0;
  for (const auto& r : provider.sent()) n += r.to == number;
  return n;
}

// FAIR-1, FAIR-3: a cap of two marketing SMS a day; four marketing SMS and one service SMS to
// one subject, one marketing SMS to another.
TEST(FairSendingTest, FAIR_1_NoMoreThanTheCapReachesTheProvider) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  testing::SmsProviderStandIn provider;
  HeralddProcess server(
      db->dsn(), "frequency_caps:\n  sms: {max: 2, window_hours: 24}\n" + Provider(provider));
  server.AddEnv("HERALD_PROVIDER_SMS_SECRET=token-1");
  server.Start();
  SeedSubjects(*db);
  auto stub = v1::DispatchService::NewStub(server.Channel());
  for (int i = 0; i < 4; ++i) Send(*stub, kCapped, "special_offers", "m" + std::to_string(i));
  Send(*stub, kCapped, "service", "service");
  Send(*stub, kOther, "special_offers", "other");
  ASSERT_OUTBOX_SETTLED(*db);
  EXPECT_EQ(To(provider, "+994501230001"), 3u);  // two marketing, one service
  EXPECT_EQ(To(provider, "+994501230002"), 1u);
  EXPECT_EQ(db->Scalar("SELECT count(*) FROM messages WHERE status = 'suppressed'"
                       " AND deny_reason = 11"),
            "2");
  EXPECT_EQ(Check(server, kCapped, "product_news").reason(), v1::FREQUENCY_CAPPED);
  EXPECT_TRUE(Check(server, kCapped, "service").allowed());
  EXPECT_TRUE(Check(server, kOther, "product_news").allowed());
}

// "HH:MM" of the UTC time `minutes` from now.
std::string UtcClock(int minutes) {
  std::time_t t = std::time(nullptr) + minutes * 60;
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", utc.tm_hour, utc.tm_min);
  return buf;
}

// FAIR-4: quiet hours around the present moment (UTC, the operator's zone here): the
// marketing SMS waits in the queue with no request to the provider, while the service SMS
// goes; CheckEligibility names when it may go.
TEST(FairSendingTest, FAIR_4_QuietHoursKeepMarketingAwayFromTheProvider) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  testing::SmsProviderStandIn provider;
  const std::string end = UtcClock(180);
  HeralddProcess server(db->dsn(), "quiet_hours:\n  time_zone: UTC\n  sms: \"" + UtcClock(-60) +
                                       "-" + end + "\"\n" + Provider(provider));
  server.AddEnv("HERALD_PROVIDER_SMS_SECRET=token-1");
  server.Start();
  SeedSubjects(*db);
  auto stub = v1::DispatchService::NewStub(server.Channel());
  auto decision = Check(server, kCapped, "special_offers");
  EXPECT_TRUE(decision.allowed());
  ASSERT_TRUE(decision.has_not_before());
  auto not_before = std::chrono::system_clock::to_time_t(
      std::chrono::time_point_cast<std::chrono::system_clock::duration>(
          *FromProtoTimestamp(decision.not_before())));
  std::tm utc{};
  gmtime_r(&not_before, &utc);
  char hhmm[8];
  std::snprintf(hhmm, sizeof hhmm, "%02d:%02d", utc.tm_hour, utc.tm_min);
  EXPECT_EQ(hhmm, end);
  EXPECT_EQ(utc.tm_sec, 0);

  const std::string marketing = Send(*stub, kCapped, "special_offers", "quiet");
  Send(*stub, kOther, "service", "service");
  // The worker has claimed both: the service SMS is at the provider, the marketing one is
  // back in the queue until the quiet hours end, noted in its history.
  ASSERT_EVENTUALLY(To(provider, "+994501230002") == 1u, std::chrono::seconds(30));
  ASSERT_EVENTUALLY(db->Scalar("SELECT count(*) FROM message_history WHERE message_id = '" +
                               marketing + "' AND note LIKE 'quiet hours: waits until%'") == "1",
                    std::chrono::seconds(30));
  EXPECT_EQ(
      db->Scalar("SELECT status || ' ' || attempts FROM messages WHERE id = '" + marketing + "'"),
      "queued 0");
  EXPECT_EQ(To(provider, "+994501230001"), 0u);
  EXPECT_THAT(server.Log(), ::testing::Not(HasSubstr("994501230001")));
}

}  // namespace
}  // namespace herald
