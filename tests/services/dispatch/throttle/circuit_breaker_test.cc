// CircuitBreaker transitions under a ManualClock.
#include "services/dispatch/throttle/circuit_breaker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <latch>
#include <ostream>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace herald::dispatch {

// Readable failure output: "kHalfOpen" instead of "4-byte object <02-00 00-00>". Static: found
// by argument-dependent lookup, yet private to this file.
static void PrintTo(CircuitBreaker::State s, std::ostream* os) {
  switch (s) {
    case CircuitBreaker::State::kClosed:
      *os << "kClosed";
      return;
    case CircuitBreaker::State::kOpen:
      *os << "kOpen";
      return;
    case CircuitBreaker::State::kHalfOpen:
      *os << "kHalfOpen";
      return;
  }
}

namespace {

using State = CircuitBreaker::State;
using std::chrono::microseconds;
using std::chrono::seconds;

Timestamp Start() { return FromUnixMicros(1'800'000'000'000'000); }

CircuitBreaker::Options Opts(int threshold = 3, int open_for_s = 30, int max_open_for_s = 300) {
  CircuitBreaker::Options options;
  options.failure_threshold = threshold;
  options.open_for = seconds(open_for_s);
  options.max_open_for = seconds(max_open_for_s);
  return options;
}

void Fail(CircuitBreaker& breaker, int times) {
  for (int i = 0; i < times; ++i) breaker.RecordFailure();
}

// Expects the breaker to stay open for exactly `period` from now, then turn half-open.
void ExpectOpenFor(CircuitBreaker& breaker, ManualClock& clock, microseconds period) {
  ASSERT_EQ(breaker.state(), State::kOpen);
  EXPECT_FALSE(breaker.Allow());
  clock.Advance(period - microseconds(1));
  EXPECT_EQ(breaker.state(), State::kOpen);
  EXPECT_FALSE(breaker.Allow());
  clock.Advance(microseconds(1));
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
}

TEST(CircuitBreakerTest, StartsClosedAndAllows) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(), clock);
  EXPECT_EQ(breaker.state(), State::kClosed);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(breaker.Allow());
}

TEST(CircuitBreakerTest, DefaultOptions) {
  const CircuitBreaker::Options options;
  EXPECT_EQ(options.failure_threshold, 5);
  EXPECT_EQ(options.open_for, seconds(30));
  EXPECT_EQ(options.max_open_for, seconds(300));
}

TEST(CircuitBreakerTest, OpensAfterThresholdConsecutiveFailures) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3), clock);
  Fail(breaker, 2);
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_TRUE(breaker.Allow());
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), State::kOpen);
  EXPECT_FALSE(breaker.Allow());
}

TEST(CircuitBreakerTest, ThresholdOfOneOpensOnTheFirstFailure) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(1), clock);
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), State::kOpen);
}

TEST(CircuitBreakerTest, ASuccessResetsTheFailureCount) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3), clock);
  Fail(breaker, 2);
  breaker.RecordSuccess();
  Fail(breaker, 2);
  EXPECT_EQ(breaker.state(), State::kClosed);
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), State::kOpen);
}

TEST(CircuitBreakerTest, StaysOpenForOpenForThenTurnsHalfOpen) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3, 30), clock);
  Fail(breaker, 3);
  ExpectOpenFor(breaker, clock, seconds(30));
}

TEST(CircuitBreakerTest, HalfOpenLetsOneProbeThrough) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3, 30), clock);
  Fail(breaker, 3);
  clock.Advance(seconds(30));
  EXPECT_TRUE(breaker.Allow());
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
  EXPECT_FALSE(breaker.Allow());
  EXPECT_FALSE(breaker.Allow());
}

TEST(CircuitBreakerTest, ProbeSuccessCloses) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3, 30), clock);
  Fail(breaker, 3);
  clock.Advance(seconds(30));
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordSuccess();
  EXPECT_EQ(breaker.state(), State::kClosed);
  EXPECT_TRUE(breaker.Allow());
  EXPECT_TRUE(breaker.Allow());
  // The failure count starts from zero again.
  Fail(breaker, 2);
  EXPECT_EQ(breaker.state(), State::kClosed);
  breaker.RecordFailure();
  EXPECT_EQ(breaker.state(), State::kOpen);
}

TEST(CircuitBreakerTest, ProbeFailureReopensForTwiceAsLong) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3, 30), clock);
  Fail(breaker, 3);
  clock.Advance(seconds(30));
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordFailure();
  ExpectOpenFor(breaker, clock, seconds(60));
  EXPECT_TRUE(breaker.Allow());  // a new probe
  EXPECT_FALSE(breaker.Allow());
}

TEST(CircuitBreakerTest, BackoffDoublesUpToTheCap) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3, 30, 300), clock);
  Fail(breaker, 3);
  ExpectOpenFor(breaker, clock, seconds(30));
  for (int expected : {60, 120, 240, 300, 300, 300}) {
    SCOPED_TRACE(expected);
    ASSERT_TRUE(breaker.Allow());
    breaker.RecordFailure();
    ExpectOpenFor(breaker, clock, seconds(expected));
  }
}

TEST(CircuitBreakerTest, ClosingResetsTheBackoff) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3, 30, 300), clock);
  Fail(breaker, 3);
  clock.Advance(seconds(30));
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordFailure();  // next period 60 s
  clock.Advance(seconds(60));
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordSuccess();
  ASSERT_EQ(breaker.state(), State::kClosed);
  Fail(breaker, 3);
  ExpectOpenFor(breaker, clock, seconds(30));
}

TEST(CircuitBreakerTest, OutcomesReportedWhileOpenAreIgnored) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3, 30), clock);
  Fail(breaker, 3);
  clock.Advance(seconds(10));
  breaker.RecordSuccess();  // a request let through before the breaker opened
  EXPECT_EQ(breaker.state(), State::kOpen);
  Fail(breaker, 10);  // does not extend the open period or grow the backoff
  clock.Advance(seconds(20));
  EXPECT_EQ(breaker.state(), State::kHalfOpen);
  ASSERT_TRUE(breaker.Allow());
  breaker.RecordFailure();
  ExpectOpenFor(breaker, clock, seconds(60));
}

TEST(CircuitBreakerTest, ALostProbeIsReplacedAfterTheOpenPeriod) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3, 30), clock);
  Fail(breaker, 3);
  clock.Advance(seconds(30));
  ASSERT_TRUE(breaker.Allow());  // this probe never reports
  clock.Advance(seconds(30) - microseconds(1));
  EXPECT_FALSE(breaker.Allow());
  clock.Advance(microseconds(1));
  EXPECT_TRUE(breaker.Allow());
  EXPECT_FALSE(breaker.Allow());
}

// 8 threads race for the probe, 300 times over: each time exactly one gets it.
TEST(CircuitBreakerTest, OnlyOneProbeAmongConcurrentCallers) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 300;
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(3, 30), clock);
  Fail(breaker, 3);
  std::atomic<int> allowed{0};
  std::vector<int> allowed_per_round;
  // Runs alone between rounds: records the round, fails the probe (re-opening the breaker)
  // and moves the clock past any open period, so the next round starts half-open again.
  auto between_rounds = [&]() noexcept {
    if (!allowed_per_round.empty() || allowed.load() != 0) {
      allowed_per_round.push_back(allowed.exchange(0));
      breaker.RecordFailure();
    }
    clock.Advance(std::chrono::hours(1));
  };
  between_rounds();
  std::barrier sync(kThreads, between_rounds);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int round = 0; round < kRounds; ++round) {
        for (int i = 0; i < 10; ++i) {
          if (breaker.Allow()) allowed.fetch_add(1, std::memory_order_relaxed);
        }
        sync.arrive_and_wait();
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_EQ(allowed_per_round.size(), static_cast<size_t>(kRounds));
  EXPECT_THAT(allowed_per_round, ::testing::Each(1));
}

TEST(CircuitBreakerTest, ConcurrentFailuresOpenOnce) {
  ManualClock clock(Start());
  CircuitBreaker breaker(Opts(5, 30), clock);
  std::latch start(8);
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < 100; ++i) breaker.RecordFailure();
    });
  }
  for (auto& thread : threads) thread.join();
  // The failures that arrive after opening are ignored: the period is the base one.
  ExpectOpenFor(breaker, clock, seconds(30));
}

TEST(CircuitBreakerTest, InvalidOptionsAreRefused) {
  ManualClock clock(Start());
  EXPECT_THROW(CircuitBreaker(Opts(0), clock), Error);
  EXPECT_THROW(CircuitBreaker(Opts(3, 0), clock), Error);
  EXPECT_THROW(CircuitBreaker(Opts(3, 30, 29), clock), Error);
  EXPECT_NO_THROW(CircuitBreaker(Opts(3, 30, 30), clock));
  try {
    CircuitBreaker(Opts(0), clock);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_STREQ(e.what(), "failure_threshold: must be at least 1");
  }
}

}  // namespace
}  // namespace herald::dispatch
