// Fair sending on a real PostgreSQL (docs/fair-sending.md): frequency caps taken as slots in
// the claiming transaction, two workers racing for a subject's last slot, quiet hours that
// hold a message in the queue until they end, service topics exempt from both, and the
// campaign estimate that waits for the quiet hours.
#include <gmock/gmock.h>

#include <atomic>
#include <future>
#include <thread>

#include "common/proto_time.h"
#include "services/dispatch/campaign_service.h"
#include "services/dispatch/message_service.h"
#include "services/dispatch/outbox/outbox.h"
#include "services/subscriptions/gate/frequency_slots.h"
#include "tests/services/subscriptions/registry_fixture.h"
#include "tests/support/eventually.h"

namespace herald::dispatch {
namespace {

using std::chrono::seconds;

class FairSendingTest : public subscriptions::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    messages_ = std::make_unique<MessageService>(*pool_, clock_, topics_, *gate_);
  }

  // The gate's fair-sending rules; set before anything is decided (as heraldd does).
  void Configure(const subscriptions::FairSendingSettings& s) { gate_->SetFairSending(s); }

  std::unique_ptr<Outbox> NewOutbox() {
    return std::make_unique<Outbox>(
        *pool_, clock_, *gate_, topics_,
        [](Channel ch, bool) -> std::optional<ProviderChoice> {
          return ProviderChoice{ch == Channel::kEmail ? "relay" : "sms-ru", "RU"};
        },
        RetryPolicy{});
  }

  std::string Send(const std::string& subject_id, v1::Channel channel, const std::string& topic,
                   const std::string& key) {
    v1::SendRequest r;
    r.set_idempotency_key(key);
    r.mutable_recipient()->set_subject_id(subject_id);
    r.set_channel(channel);
    r.set_topic(topic);
    if (channel == v1::EMAIL) r.mutable_content()->set_subject("News");
    r.mutable_content()->set_text("Hello");
    auto sent = messages_->Send(crm_, r);
    EXPECT_EQ(sent.status(), v1::QUEUED) << key;
    return sent.message_id();
  }

  std::string Status(const std::string& id) {
    return db_->Scalar(
        "SELECT status || coalesce('/' || deny_reason, '') FROM messages WHERE id = '" + id + "'");
  }

  // Messages per status ("sending=2 suppressed/11=1").
  std::string Statuses() {
    return db_->Scalar(
        "SELECT coalesce(string_agg(s || '=' || n, ' ' ORDER BY s), '') FROM ("
        "  SELECT status || coalesce('/' || deny_reason, '') AS s, count(*) AS n"
        "  FROM messages GROUP BY 1) x");
  }

  std::unique_ptr<MessageService> messages_;
};

subscriptions::FairSendingSettings Caps(int email_max, int window_hours = 24) {
  auto s = subscriptions::NoFairSending();
  s.email = {email_max, window_hours};
  return s;
}

// FAIR-1: with a cap of 2 e-mails a day, the third marketing e-mail is suppressed as
// FREQUENCY_CAPPED at the claim; CheckEligibility says so until the window has rolled on.
TEST_F(FairSendingTest, FAIR_1_ThirdMessageInTheWindowIsCapped) {
  Configure(Caps(2));
  std::string id = NewSubject("capped@example.com", "+994501234560");
  ConsentAll(id);
  // Another channel is not capped by e-mail's.
  Send(id, v1::SMS, "product_news", "sms");
  std::vector<std::string> sent;
  for (int i = 0; i < 3; ++i)
    sent.push_back(Send(id, v1::EMAIL, "product_news", "k" + std::to_string(i)));
  auto outbox = NewOutbox();
  auto claimed = outbox->Claim("w1", 10, seconds(60));
  EXPECT_EQ(claimed.size(), 3u);
  EXPECT_EQ(Statuses(), "sending=3 suppressed/11=1");
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::FREQUENCY_CAPPED);
  EXPECT_FALSE(Check(id, "", v1::EMAIL).allowed());
  // A service notice is not capped by it.
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "billing").allowed());
  // A day later the window holds no slot any more.
  clock_.Advance(std::chrono::hours(24) + seconds(1));
  EXPECT_TRUE(Check(id, "", v1::EMAIL).allowed());
  Send(id, v1::EMAIL, "product_news", "k-next-day");
  EXPECT_EQ(outbox->Claim("w1", 10, seconds(60)).size(), 1u);
  // The claim pruned the old slots: the row holds only the new one.
  EXPECT_EQ(db_->Scalar("SELECT cardinality(taken) FROM frequency_slots WHERE scope = ''"
                        " AND channel = 1"),
            "1");
}

// FAIR-1: a slot is taken once per message: a retry after a failed attempt is not capped by
// the slot its own first claim took, and takes no second one.
TEST_F(FairSendingTest, FAIR_1_ARetryKeepsItsSlot) {
  Configure(Caps(1));
  std::string id = NewSubject("retry@example.com");
  ConsentAll(id);
  auto m = Send(id, v1::EMAIL, "product_news", "retry");
  auto outbox = NewOutbox();
  auto claimed = outbox->Claim("w1", 10, seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  Outcome failed = OutcomeOf(claimed[0]);
  failed.started = failed.ended = clock_.Now();
  failed.result.outcome = DeliveryOutcome::kRetry;
  failed.result.code = 451;
  outbox->Complete({failed});
  ASSERT_EQ(Status(m), "retrying");
  clock_.Advance(std::chrono::hours(1));
  claimed = outbox->Claim("w1", 10, seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].attempt, 2);
  EXPECT_EQ(Status(m), "sending");
  EXPECT_EQ(db_->Scalar("SELECT cardinality(taken) FROM frequency_slots"), "1");
}

// FAIR-2: a topic's own cap counts that topic only, beside the channel's; a message the
// channel's cap refuses gives its topic slot back.
TEST_F(FairSendingTest, FAIR_2_TopicCapCountsItsTopicBesideTheChannel) {
  auto s = Caps(3);
  s.topics["special_offers"] = {1, 24};
  Configure(s);
  std::string id = NewSubject("offers@example.com");
  ConsentAll(id);
  auto a = Send(id, v1::EMAIL, "special_offers", "a");
  auto b = Send(id, v1::EMAIL, "special_offers", "b");
  auto c = Send(id, v1::EMAIL, "product_news", "c");
  NewOutbox()->Claim("w1", 10, seconds(60));
  // Whichever offer was claimed first went; the other is capped.
  EXPECT_THAT((std::vector<std::string>{Status(a), Status(b)}),
              ::testing::UnorderedElementsAre("sending", "suppressed/11"));
  EXPECT_EQ(Status(c), "sending");
  EXPECT_EQ(Check(id, "", v1::EMAIL, "special_offers").reason(), v1::FREQUENCY_CAPPED);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "events").allowed());  // channel: 2 of 3 used

  // Channel cap 1, topic cap 2: the second offer is refused by the channel, so its topic
  // slot goes back (one topic slot used, not two).
  std::string other = NewSubject("offers2@example.com");
  ConsentAll(other);
  auto s2 = Caps(1);
  s2.topics["special_offers"] = {2, 24};
  Configure(s2);
  Send(other, v1::EMAIL, "special_offers", "o1");
  Send(other, v1::EMAIL, "special_offers", "o2");
  NewOutbox()->Claim("w1", 10, seconds(60));
  EXPECT_EQ(db_->Scalar("SELECT cardinality(taken) FROM frequency_slots WHERE subject_id = '" +
                        other + "' AND scope = 'special_offers'"),
            "1");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM messages WHERE subject_id = '" + other +
                        "' AND deny_reason = 11"),
            "1");
}

// FAIR-3: service-topic messages are exempt from caps (and take no slot).
TEST_F(FairSendingTest, FAIR_3_ServiceTopicsAreNeverCapped) {
  Configure(Caps(1));
  std::string id = NewSubject("service@example.com");
  ConsentAll(id);
  for (int i = 0; i < 3; ++i) Send(id, v1::EMAIL, "billing", "bill" + std::to_string(i));
  EXPECT_EQ(NewOutbox()->Claim("w1", 10, seconds(60)).size(), 3u);
  EXPECT_EQ(Count("frequency_slots"), 0);
}

// FAIR-6: the slot is taken by a conditional update. While one claim holds a subject's last
// slot uncommitted, a second one reading alone would see room; its update waits for the
// first and, once that commits, finds the cap reached.
TEST_F(FairSendingTest, FAIR_6_SecondClaimWaitsAndFindsTheLastSlotTaken) {
  Configure(Caps(1));
  std::string id = NewSubject("race@example.com");
  const auto& fair = gate_->fair_sending();
  const std::vector<subscriptions::SlotNeed> need{{id, Channel::kEmail, "product_news"}};
  auto first_conn = pool_->Acquire();
  pqxx::work first(first_conn->raw());
  ASSERT_EQ(subscriptions::TakeFrequencySlots(*first_conn, first, fair, need, clock_.Now()),
            std::vector<bool>{true});
  auto second = std::async(std::launch::async, [&] {
    auto conn = pool_->Acquire();
    pqxx::work txn(conn->raw());
    // What a read-then-write claim would have gone by: room (the first is not committed).
    bool over = subscriptions::OverFrequencyCap(*conn, txn, fair, need, clock_.Now())[0];
    bool took = subscriptions::TakeFrequencySlots(*conn, txn, fair, need, clock_.Now())[0];
    txn.commit();
    return std::make_pair(over, took);
  });
  // The second waits on the first's row lock.
  ASSERT_TRUE(::herald::testing::Eventually([&] {
    return db_->Scalar(
               "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
               " AND query LIKE '%frequency_slots%'") == "1";
  }));
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  first.commit();
  auto [over, took] = second.get();
  EXPECT_FALSE(over);
  EXPECT_FALSE(took);
  EXPECT_EQ(db_->Scalar("SELECT cardinality(taken) FROM frequency_slots"), "1");
}

// FAIR-6: two workers claiming at once never both take a subject's last slot: with a cap of
// one, 40 subjects with two messages each get exactly one message sent each.
TEST_F(FairSendingTest, FAIR_6_TwoWorkersRacingNeverExceedTheCap) {
  Configure(Caps(1));
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    ids.push_back(NewSubject("racer" + std::to_string(i) + "@example.com"));
    ConsentAll(ids.back(), {v1::EMAIL});
    Send(ids.back(), v1::EMAIL, "product_news", "r" + std::to_string(i) + "a");
    Send(ids.back(), v1::EMAIL, "events", "r" + std::to_string(i) + "b");
  }
  auto w1 = NewOutbox(), w2 = NewOutbox();
  std::atomic<bool> go{false};
  auto run = [&](Outbox& o, const char* name) {
    while (!go) std::this_thread::yield();
    size_t n = 0;
    // Small batches, so the two workers interleave over the same subjects.
    for (;;) {
      auto got = o.Claim(name, 2, seconds(60));
      if (got.empty() &&
          db_->Scalar("SELECT count(*) FROM messages WHERE status = 'queued'") == "0") {
        break;
      }
      n += got.size();
    }
    return n;
  };
  auto a = std::async(std::launch::async, run, std::ref(*w1), "w1");
  auto b = std::async(std::launch::async, run, std::ref(*w2), "w2");
  go = true;
  const size_t sent = a.get() + b.get();
  EXPECT_EQ(sent, 40u);
  EXPECT_EQ(Statuses(), "sending=40 suppressed/11=40");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM (SELECT subject_id FROM messages"
                        " WHERE status = 'sending' GROUP BY 1 HAVING count(*) > 1) x"),
            "0");
}

subscriptions::FairSendingSettings Quiet() {
  auto s = subscriptions::NoFairSending();
  s.quiet_sms = "21:00-09:00";
  s.quiet_call = "21:00-09:00";
  s.time_zone = "Asia/Baku";
  return s;
}

void SetTimeZone(subscriptions::SubscriptionRegistry& registry, const Caller& caller,
                 const std::string& id, const std::string& zone) {
  v1::UpsertSubjectRequest r;
  v1::GetSubjectRequest g;
  g.set_subject_id(id);
  auto subject = registry.GetSubject(caller, g).subject();
  r.set_external_id(subject.external_id());
  for (const auto& e : subject.emails()) r.add_emails(e);
  for (const auto& p : subject.phones()) r.add_phones(p);
  r.set_time_zone(zone);
  registry.UpsertSubject(caller, r);
}

// FAIR-4: a marketing SMS claimed at 22:00 in the recipient's zone stays queued until 09:00
// there (no attempt counted); CheckEligibility says ALLOW with that not_before; a subject's
// own zone beats the operator's; a service SMS goes at once.
TEST_F(FairSendingTest, FAIR_4_QuietHoursHoldTheMessageUntilMorning) {
  Configure(Quiet());
  clock_.Set(ParseTimestamp("2026-11-27T18:00:00Z"));  // 22:00 in Baku, 18:00 in London
  std::string baku = NewSubject("", "+994501234567");
  std::string london = NewSubject("", "+994501234568");
  std::string kamchatka = NewSubject("", "+994501234569");
  for (const auto& id : {baku, london, kamchatka}) ConsentAll(id, {v1::SMS, v1::CALL});
  SetTimeZone(*registry_, crm_, london, "Europe/London");
  SetTimeZone(*registry_, crm_, kamchatka, "Asia/Kamchatka");
  v1::GetSubjectRequest g;
  g.set_subject_id(london);
  EXPECT_EQ(registry_->GetSubject(crm_, g).subject().time_zone(), "Europe/London");

  auto d = Check(baku, "", v1::SMS);
  EXPECT_TRUE(d.allowed());
  ASSERT_TRUE(d.has_not_before());
  EXPECT_EQ(FromProtoTimestamp(d.not_before()), ParseTimestamp("2026-11-28T05:00:00Z"));
  // Calls too; e-mail has no quiet hours here.
  EXPECT_TRUE(Check(baku, "", v1::CALL).has_not_before());
  EXPECT_FALSE(Check(baku, "", v1::EMAIL, "product_news").has_not_before());
  EXPECT_FALSE(Check(london, "", v1::SMS).has_not_before());
  EXPECT_EQ(FromProtoTimestamp(Check(kamchatka, "", v1::SMS).not_before()),
            ParseTimestamp("2026-11-27T21:00:00Z"));
  EXPECT_FALSE(Check(baku, "", v1::SMS, "billing").has_not_before());

  auto m_baku = Send(baku, v1::SMS, "product_news", "b");
  auto m_london = Send(london, v1::SMS, "product_news", "l");
  auto m_service = Send(baku, v1::SMS, "billing", "s");
  auto outbox = NewOutbox();
  auto claimed = outbox->Claim("w1", 10, seconds(60));
  ASSERT_EQ(claimed.size(), 2u);
  EXPECT_EQ(Status(m_baku), "queued");
  EXPECT_EQ(Status(m_london), "sending");
  EXPECT_EQ(Status(m_service), "sending");
  EXPECT_EQ(db_->Scalar("SELECT attempts || ' ' || (next_attempt_at = "
                        "'2026-11-28T05:00:00Z'::timestamptz) FROM messages WHERE id = '" +
                        m_baku + "'"),
            "0 true");
  // Nothing more goes out before 09:00 in Baku...
  clock_.Set(ParseTimestamp("2026-11-28T04:59:00Z"));
  EXPECT_TRUE(outbox->Claim("w1", 10, seconds(60)).empty());
  // ... and then it does.
  clock_.Set(ParseTimestamp("2026-11-28T05:00:01Z"));
  claimed = outbox->Claim("w1", 10, seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, m_baku);
  EXPECT_EQ(claimed[0].attempt, 1);
}

TEST_F(FairSendingTest, FAIR_4_UnknownTimeZoneIsRefused) {
  std::string id = NewSubject("tz@example.com");
  auto e = CatchError([&] { SetTimeZone(*registry_, crm_, id, "MSK"); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.what(), ::testing::HasSubstr("time_zone"));
  EXPECT_EQ(db_->Scalar("SELECT coalesce(time_zone, 'none') FROM subjects"), "none");
}

// FAIR-5: a running campaign's estimate leaves out the quiet hours: an hour of SMS at one a
// second, from 20:30 in Baku, ends at 09:30 the next morning.
TEST_F(FairSendingTest, FAIR_5_CampaignEstimateWaitsForQuietHours) {
  Configure(Quiet());
  clock_.Set(ParseTimestamp("2026-11-27T16:30:00Z"));
  CampaignService campaigns(*pool_, clock_, topics_, *gate_);
  auto conn = pool_->Acquire();
  pqxx::work txn(conn->raw());
  v1::Campaign c;
  c.set_id("00000000-0000-0000-0000-0000000000aa");  // no messages yet: all still to come
  c.set_status(v1::RUNNING);
  c.set_channel(v1::SMS);
  c.set_topic("product_news");
  c.set_rate_per_second(1);
  c.set_pending_recipients(3600);
  campaigns.EstimateFinish(*conn, txn, c);
  ASSERT_TRUE(c.has_estimated_finish_time());
  EXPECT_EQ(FromProtoTimestamp(c.estimated_finish_time()), ParseTimestamp("2026-11-28T05:30:00Z"));
  // The same on e-mail, which has no quiet hours: an hour from now.
  c.set_channel(v1::EMAIL);
  campaigns.EstimateFinish(*conn, txn, c);
  EXPECT_EQ(FromProtoTimestamp(c.estimated_finish_time()), ParseTimestamp("2026-11-27T17:30:00Z"));
  // A finished campaign has no estimate.
  v1::Campaign done;
  done.set_status(v1::FINISHED);
  campaigns.EstimateFinish(*conn, txn, done);
  EXPECT_FALSE(done.has_estimated_finish_time());
}

}  // namespace
}  // namespace herald::dispatch
