// The provider registry builds each provider from its kind's registration: a hand-made
// entry (not through LoadConfig) is checked by the same rules.
#include "services/dispatch/providers/provider_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <thread>

namespace herald::dispatch {
namespace {

using ::testing::HasSubstr;

ProviderConfig Twilio(std::map<std::string, std::string> settings) {
  ProviderConfig p;
  p.name = "tw";
  p.kind = "twilio";
  p.country = "RU";
  p.secret = "token";
  p.settings = std::move(settings);
  return p;
}

std::string BuildError(const ProviderConfig& p) {
  SystemClock clock;
  try {
    ProviderRegistry registry({p}, {"RU"}, clock);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ProviderRegistryTest, HandMadeEntriesAreCheckedByTheirKind) {
  EXPECT_THAT(
      BuildError(Twilio({{"account_sid", "AC1"}, {"from", "Herald"}, {"timeout_s", "15s"}})),
      HasSubstr("providers.tw.settings.timeout_s"));
  EXPECT_THAT(BuildError(Twilio({{"account_sid", "AC1"}, {"from", "Herald"}, {"port", "1"}})),
              HasSubstr("providers.tw.settings.port"));
  ProviderConfig unknown = Twilio({});
  unknown.kind = "fax";
  EXPECT_THAT(BuildError(unknown), HasSubstr("providers.tw.kind"));
}

TEST(ProviderRegistryTest, AValidEntryServesItsChannel) {
  SystemClock clock;
  ProviderRegistry registry({Twilio({{"account_sid", "AC1"}, {"from", "Herald"}})}, {"RU"}, clock);
  auto sms = registry.Pick(Channel::kSms, false);
  ASSERT_TRUE(sms.has_value());
  EXPECT_EQ(sms->name, "tw");
  EXPECT_FALSE(registry.Pick(Channel::kEmail, true).has_value());
}

class CountingTransport : public EmailTransport {
 public:
  explicit CountingTransport(std::atomic<int>& sends) : sends_(sends) {}
  DeliveryResult Send(const EmailMessage&) override {
    ++sends_;
    DeliveryResult r;
    r.outcome = DeliveryOutcome::kSent;
    return r;
  }

 private:
  std::atomic<int>& sends_;
};

// A send that waits for its rate limit asks its caller again when the wait ends: a message
// whose lease ran short meanwhile (another worker may have reclaimed and sent it) or whose
// worker stops is handed back unattempted, with the caller's reason, and never reaches the
// transport.
TEST(ProviderRegistryTest, ASendThatWaitedForItsLimitIsGivenUpWhenItsCallerSaysSo) {
  SystemClock clock;
  ProviderRegistry registry({}, {"RU"}, clock);
  ProviderConfig slow;
  slow.name = "slow";
  slow.kind = "smtp";
  slow.country = "RU";
  slow.rate_per_second = 0.01;  // the second token is 100 s away
  slow.burst = 1;
  std::atomic<int> sends{0};
  registry.AddEmail(slow, std::make_unique<CountingTransport>(sends));
  EmailMessage m;
  ASSERT_EQ(registry.SendEmail("slow", m).outcome, DeliveryOutcome::kSent);
  ASSERT_EQ(sends.load(), 1);

  const auto give_up_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  auto r = registry.SendEmail("slow", m, [&]() -> const char* {
    return std::chrono::steady_clock::now() >= give_up_at ? "lease nearly over" : nullptr;
  });
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_TRUE(r.not_attempted);
  EXPECT_EQ(r.detail, "lease nearly over");
  EXPECT_EQ(sends.load(), 1) << "the message reached the transport";
}

// FAULT-9: the worker's stop ends a wait for the rate limit at once, even for a caller that
// gives no reason to give up (the limit alone would keep it 100 s): nothing is sent.
TEST(ProviderRegistryTest, AStopEndsTheWaitForTheLimit) {
  SystemClock clock;
  ProviderRegistry registry({}, {"RU"}, clock);
  ProviderConfig slow;
  slow.name = "slow";
  slow.kind = "smtp";
  slow.country = "RU";
  slow.rate_per_second = 0.01;
  slow.burst = 1;
  std::atomic<int> sends{0};
  registry.AddEmail(slow, std::make_unique<CountingTransport>(sends));
  EmailMessage m;
  ASSERT_EQ(registry.SendEmail("slow", m).outcome, DeliveryOutcome::kSent);
  std::stop_source stop;
  std::atomic<bool> done{false};
  // Asked on every round of the wait and never giving up itself: two rounds mean the wait
  // is under way, so the stop below ends a wait in progress, not one that never began.
  std::atomic<int> rounds{0};
  auto count_rounds = [&]() -> const char* {
    ++rounds;
    return nullptr;
  };
  DeliveryResult r;
  std::thread waiting([&] {
    r = registry.SendEmail("slow", m, count_rounds, stop.get_token());
    done = true;
  });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (rounds < 2 && !done && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const bool waited = rounds >= 2 && !done;
  stop.request_stop();
  while (!done && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const bool ended = done.load();
  waiting.join();
  EXPECT_TRUE(waited) << "the send never waited for the limit";
  EXPECT_TRUE(ended) << "the wait for the limit outlived the stop";
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_TRUE(r.not_attempted);
  EXPECT_EQ(r.detail, "shutting down");
  EXPECT_EQ(sends.load(), 1);
}

// The tokens a provider can give within a time: those there now plus those falling due.
TEST(ProviderRegistryTest, TokensWithinCountsTheBucketAndItsRefill) {
  SystemClock clock;
  ProviderRegistry registry({}, {"RU"}, clock);
  ProviderConfig limited;
  limited.name = "limited";
  limited.kind = "smtp";
  limited.country = "RU";
  limited.rate_per_second = 2;
  limited.burst = 3;
  std::atomic<int> sends{0};
  registry.AddEmail(limited, std::make_unique<CountingTransport>(sends));
  ProviderConfig unlimited = limited;
  unlimited.name = "free";
  unlimited.rate_per_second = 0;
  registry.AddEmail(unlimited, std::make_unique<CountingTransport>(sends));
  EXPECT_NEAR(*registry.TokensWithin("limited", std::chrono::seconds(5)), 13, 0.1);
  EmailMessage m;
  ASSERT_EQ(registry.SendEmail("limited", m).outcome, DeliveryOutcome::kSent);
  EXPECT_NEAR(*registry.TokensWithin("limited", std::chrono::seconds(5)), 12, 0.1);
  EXPECT_FALSE(registry.TokensWithin("free", std::chrono::seconds(5)).has_value());
}

class ScriptedSms : public SmsTransport {
 public:
  explicit ScriptedSms(std::atomic<int>& sends) : sends_(sends) {}
  DeliveryResult Send(const SmsMessage&) override {
    ++sends_;
    DeliveryResult r;
    r.outcome = DeliveryOutcome::kRetry;
    r.code = 429;
    r.retry_after = std::chrono::seconds(4);
    return r;
  }

 private:
  std::atomic<int>& sends_;
};

class AcceptingSms : public SmsTransport {
 public:
  DeliveryResult Send(const SmsMessage&) override {
    DeliveryResult r;
    r.outcome = DeliveryOutcome::kSent;
    return r;
  }
};

// A 429 with Retry-After holds the provider, not only the message: nothing more is sent to
// it before then, its traffic moves to the next provider, and it is picked again afterwards.
TEST(ProviderRegistryTest, RetryAfterHoldsTheWholeProviderUntilItPasses) {
  ManualClock clock(ParseTimestamp("2026-12-06T09:00:00Z"));
  ProviderRegistry registry({}, {"RU"}, clock);
  ProviderConfig first;
  first.name = "first";
  first.kind = "json_sms";
  first.country = "RU";
  first.priority = 1;
  ProviderConfig second = first;
  second.name = "second";
  second.priority = 2;
  std::atomic<int> sends{0};
  registry.AddSms(first, std::make_unique<ScriptedSms>(sends));
  registry.AddSms(second, std::make_unique<AcceptingSms>());
  ASSERT_EQ(registry.Pick(Channel::kSms, false)->name, "first");

  auto r = registry.SendSms("first", {"m1", "+994501234567", "hi"});
  EXPECT_EQ(r.code, 429);
  EXPECT_EQ(sends.load(), 1);
  EXPECT_EQ(registry.Pick(Channel::kSms, false)->name, "second");
  EXPECT_FALSE(registry.PickNamed("first", Channel::kSms).has_value());
  // A message claimed for it before the 429 is not sent into the wait.
  r = registry.SendSms("first", {"m2", "+994501234568", "hi"});
  EXPECT_TRUE(r.not_attempted);
  EXPECT_THAT(r.detail, HasSubstr("Retry-After"));
  EXPECT_EQ(sends.load(), 1);

  clock.Advance(std::chrono::seconds(4));
  EXPECT_EQ(registry.Pick(Channel::kSms, false)->name, "first");
  registry.SendSms("first", {"m3", "+994501234569", "hi"});
  EXPECT_EQ(sends.load(), 2);
  // A clock set back does not turn the hold into an hour's.
  clock.Advance(-std::chrono::hours(1));
  EXPECT_EQ(registry.Pick(Channel::kSms, false)->name, "first");
}

}  // namespace
}  // namespace herald::dispatch
