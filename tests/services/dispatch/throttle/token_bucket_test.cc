// TokenBucket under a ManualClock: no test sleeps or reads the wall clock.
#include "services/dispatch/throttle/token_bucket.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <latch>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/error.h"

namespace herald::dispatch {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::seconds;

Timestamp Start() { return FromUnixMicros(1'800'000'000'000'000); }

// How many of `attempts` single-token acquisitions succeed right now.
int Drain(TokenBucket& bucket, int attempts = 1000) {
  int granted = 0;
  for (int i = 0; i < attempts; ++i) granted += bucket.TryAcquire() ? 1 : 0;
  return granted;
}

TEST(TokenBucketTest, StartsFullAndGivesExactlyTheBurst) {
  ManualClock clock(Start());
  TokenBucket bucket(10, 5, clock);
  EXPECT_EQ(Drain(bucket), 5);
  EXPECT_FALSE(bucket.TryAcquire());
}

TEST(TokenBucketTest, RefillsAtTheRate) {
  ManualClock clock(Start());
  TokenBucket bucket(10, 5, clock);
  Drain(bucket);
  clock.Advance(milliseconds(99));
  EXPECT_FALSE(bucket.TryAcquire());
  clock.Advance(milliseconds(1));
  EXPECT_TRUE(bucket.TryAcquire());
  EXPECT_FALSE(bucket.TryAcquire());
  clock.Advance(milliseconds(300));
  EXPECT_EQ(Drain(bucket), 3);
}

// What a claim is sized by: the level now, fractional, never above the burst.
TEST(TokenBucketTest, AvailableIsTheLevelNow) {
  ManualClock clock(Start());
  TokenBucket bucket(10, 5, clock);
  EXPECT_DOUBLE_EQ(bucket.Available(), 5);
  Drain(bucket);
  EXPECT_DOUBLE_EQ(bucket.Available(), 0);
  clock.Advance(milliseconds(250));
  EXPECT_NEAR(bucket.Available(), 2.5, 1e-9);
  clock.Advance(std::chrono::hours(1));
  EXPECT_DOUBLE_EQ(bucket.Available(), 5);
  TokenBucket unlimited(0, 1, clock);
  EXPECT_TRUE(std::isinf(unlimited.Available()));
}

TEST(TokenBucketTest, IdleTimeFillsNoMoreThanTheBurst) {
  ManualClock clock(Start());
  TokenBucket bucket(10, 5, clock);
  Drain(bucket);
  clock.Advance(std::chrono::hours(1));
  EXPECT_EQ(Drain(bucket), 5);
}

TEST(TokenBucketTest, FractionalRate) {
  ManualClock clock(Start());
  TokenBucket bucket(0.5, 1, clock);  // one send every two seconds
  EXPECT_TRUE(bucket.TryAcquire());
  EXPECT_EQ(bucket.TimeUntilAvailable(), seconds(2));
  clock.Advance(seconds(2) - microseconds(1));
  EXPECT_FALSE(bucket.TryAcquire());
  clock.Advance(microseconds(1));
  EXPECT_TRUE(bucket.TryAcquire());
  clock.Advance(seconds(1));
  EXPECT_FALSE(bucket.TryAcquire());
  EXPECT_EQ(bucket.TimeUntilAvailable(), seconds(1));
}

TEST(TokenBucketTest, MultiTokenAcquireIsAllOrNothing) {
  ManualClock clock(Start());
  TokenBucket bucket(4, 10, clock);
  EXPECT_TRUE(bucket.TryAcquire(8));
  EXPECT_FALSE(bucket.TryAcquire(3));  // 2 left: takes none
  EXPECT_TRUE(bucket.TryAcquire(2));
  EXPECT_FALSE(bucket.TryAcquire());
}

TEST(TokenBucketTest, TimeUntilAvailableIsExact) {
  ManualClock clock(Start());
  TokenBucket bucket(4, 10, clock);
  EXPECT_EQ(bucket.TimeUntilAvailable(10), microseconds::zero());
  ASSERT_TRUE(bucket.TryAcquire(10));
  EXPECT_EQ(bucket.TimeUntilAvailable(3), milliseconds(750));
  clock.Advance(milliseconds(100));  // 0.4 tokens
  EXPECT_EQ(bucket.TimeUntilAvailable(1), milliseconds(150));
  EXPECT_EQ(bucket.TimeUntilAvailable(3), milliseconds(650));
  EXPECT_EQ(bucket.TimeUntilAvailable(11), microseconds::max());
}

// Waiting exactly the answer is enough, and one microsecond less is not, including rates
// and fill levels where the closed form lands a hair past a whole microsecond.
TEST(TokenBucketTest, WaitingTheAnswerIsEnoughAndNoLonger) {
  for (double rate : {0.3, 0.4, 3.0, 7.3, 0.7, 1000.0, 123456.0}) {
    for (int head_start_ms : {0, 455, 469, 854}) {
      for (int n = 1; n <= 3; ++n) {
        SCOPED_TRACE(testing::Message()
                     << "rate " << rate << " head start " << head_start_ms << " ms n " << n);
        ManualClock clock(Start());
        TokenBucket bucket(rate, 3, clock);
        ASSERT_TRUE(bucket.TryAcquire(3));
        clock.Advance(milliseconds(head_start_ms));
        const microseconds wait = bucket.TimeUntilAvailable(n);
        if (wait == microseconds::zero()) {
          EXPECT_TRUE(bucket.TryAcquire(n));
          continue;
        }
        clock.Advance(wait - microseconds(1));
        EXPECT_FALSE(bucket.TryAcquire(n));
        clock.Advance(microseconds(1));
        EXPECT_TRUE(bucket.TryAcquire(n));
      }
    }
  }
}

// A fill level where the closed form is one microsecond short: 0.22996 tokens at 1.25/s.
TEST(TokenBucketTest, WaitingTheAnswerIsEnoughWhenTheClosedFormFallsShort) {
  ManualClock clock(Start());
  TokenBucket bucket(1.25, 2, clock);
  ASSERT_TRUE(bucket.TryAcquire(2));
  clock.Advance(microseconds(983968));
  ASSERT_TRUE(bucket.TryAcquire());  // 1.22996 - 1 left
  const microseconds wait = bucket.TimeUntilAvailable();
  EXPECT_EQ(wait, microseconds(616033));
  clock.Advance(wait - microseconds(1));
  EXPECT_FALSE(bucket.TryAcquire());
  clock.Advance(microseconds(1));
  EXPECT_TRUE(bucket.TryAcquire());
}

TEST(TokenBucketTest, TimeUntilAvailableCountsFromWhereTheClockWas) {
  ManualClock clock(Start());
  TokenBucket bucket(1, 1, clock);
  clock.Advance(seconds(5));
  ASSERT_TRUE(bucket.TryAcquire());
  clock.Set(Start());  // 5 s back: earning resumes only once the clock passes 5 s again
  EXPECT_EQ(bucket.TimeUntilAvailable(), seconds(6));
}

TEST(TokenBucketTest, AcquiringMoreThanTheBurstNeverSucceeds) {
  ManualClock clock(Start());
  TokenBucket bucket(100, 5, clock);
  clock.Advance(std::chrono::hours(1));
  EXPECT_FALSE(bucket.TryAcquire(6));
  EXPECT_TRUE(bucket.TryAcquire(5));
}

TEST(TokenBucketTest, NonPositiveRateIsUnlimited) {
  ManualClock clock(Start());
  TokenBucket bucket(0, 1, clock);
  EXPECT_EQ(Drain(bucket, 10000), 10000);
  EXPECT_TRUE(bucket.TryAcquire(1000));
  EXPECT_EQ(bucket.TimeUntilAvailable(1000), microseconds::zero());
  TokenBucket negative(-1, 1, clock);
  EXPECT_EQ(Drain(negative), 1000);
}

TEST(TokenBucketTest, SetRateKeepsTokensEarnedAtTheOldRate) {
  ManualClock clock(Start());
  TokenBucket bucket(1, 10, clock);
  Drain(bucket);
  clock.Advance(seconds(2));  // 2 tokens at 1/s
  bucket.SetRate(10);
  EXPECT_EQ(bucket.TimeUntilAvailable(3), milliseconds(100));
  clock.Advance(milliseconds(100));
  EXPECT_EQ(Drain(bucket), 3);
}

TEST(TokenBucketTest, SetRateBetweenLimitedAndUnlimited) {
  ManualClock clock(Start());
  TokenBucket bucket(1, 2, clock);
  Drain(bucket);
  bucket.SetRate(0);
  EXPECT_EQ(Drain(bucket), 1000);
  bucket.SetRate(1);  // starts full again, like a new bucket
  EXPECT_EQ(Drain(bucket), 2);
  EXPECT_EQ(bucket.TimeUntilAvailable(), seconds(1));
}

TEST(TokenBucketTest, ClockSteppingBackMintsNothing) {
  ManualClock clock(Start());
  TokenBucket bucket(1, 3, clock);
  ASSERT_TRUE(bucket.TryAcquire(3));
  clock.Set(Start() + milliseconds(2500));
  ASSERT_TRUE(bucket.TryAcquire());         // 1.5 left
  clock.Set(Start() + milliseconds(1000));  // back 1.5 s: still 1.5, not less, not more
  EXPECT_TRUE(bucket.TryAcquire());         // 0.5 left
  EXPECT_FALSE(bucket.TryAcquire());
  // Forward again over time already counted: it is not counted twice.
  clock.Set(Start() + milliseconds(2500));
  EXPECT_FALSE(bucket.TryAcquire());
  EXPECT_EQ(bucket.TimeUntilAvailable(), milliseconds(500));
  clock.Set(Start() + milliseconds(3000));
  EXPECT_TRUE(bucket.TryAcquire());
}

TEST(TokenBucketTest, InvalidSettingsAreRefused) {
  ManualClock clock(Start());
  EXPECT_THROW(TokenBucket(1, 0.5, clock), Error);
  EXPECT_THROW(TokenBucket(1, std::nan(""), clock), Error);
  EXPECT_THROW(TokenBucket(std::nan(""), 1, clock), Error);
  TokenBucket bucket(1, 1, clock);
  EXPECT_THROW(bucket.SetRate(std::numeric_limits<double>::infinity()), Error);
  EXPECT_THROW(bucket.SetRate(0.0009), Error);
  EXPECT_NO_THROW(bucket.SetRate(0.001));
  try {
    TokenBucket(1, 0, clock);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_STREQ(e.what(), "burst: must be a finite number of at least 1");
  }
}

struct Simulation {
  double granted = 0;
  double earned = 0;        // rate × simulated time
  double worst_excess = 0;  // max over time of granted - (earned + burst)
  int last_refused = 0;     // size of the request that ended the final drain
};

// 10 simulated seconds of random steps (0–40 ms) and random requests of 1–3 tokens. A
// greedy caller asks until refused at every step; otherwise a coin decides.
Simulation Simulate(double rate, double burst, bool always_greedy, unsigned seed) {
  ManualClock clock(Start());
  TokenBucket bucket(rate, burst, clock);
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> step_us(0, 40'000);
  std::uniform_int_distribution<int> want(1, 3);
  std::bernoulli_distribution coin(0.5);
  Simulation sim;
  microseconds elapsed{0};
  bool first = true;
  while (elapsed < seconds(10)) {
    if (!first) {
      const microseconds step(step_us(rng));
      clock.Advance(step);
      elapsed += step;
    }
    first = false;
    sim.earned = rate * std::chrono::duration<double>(elapsed).count();
    const bool greedy = always_greedy || coin(rng);
    do {
      const int n = want(rng);
      if (!bucket.TryAcquire(n)) {
        sim.last_refused = n;
        break;
      }
      sim.granted += n;
      sim.worst_excess = std::max(sim.worst_excess, sim.granted - (sim.earned + burst));
    } while (greedy);
  }
  return sim;
}

// The rate limit's promise: over any stretch of time, no more than it earned plus the burst.
TEST(TokenBucketTest, NeverExceedsRateTimesTimePlusBurst) {
  for (double rate : {0.5, 3.0, 50.0, 997.0}) {
    for (unsigned seed : {1u, 2u, 3u}) {
      SCOPED_TRACE(testing::Message() << "rate " << rate << " seed " << seed);
      const Simulation sim = Simulate(rate, 7, /*always_greedy=*/false, seed);
      EXPECT_LE(sim.worst_excess, 1e-6);
      EXPECT_GT(sim.granted, 0);
    }
  }
}

// And it does not withhold: a caller that always drains it gets everything earned, less
// what remained for the request that was refused. (The burst exceeds one step's earnings,
// so the cap never discards any.)
TEST(TokenBucketTest, GreedyCallerGetsEverythingEarned) {
  for (double rate : {0.5, 3.0, 50.0, 997.0}) {
    SCOPED_TRACE(rate);
    const double burst = 50;
    const Simulation sim = Simulate(rate, burst, /*always_greedy=*/true, 20260115);
    EXPECT_LE(sim.granted, sim.earned + burst + 1e-6);
    EXPECT_GT(sim.granted, sim.earned + burst - sim.last_refused - 1e-6);
  }
}

TEST(TokenBucketTest, ConcurrentAcquirersShareExactlyTheBurst) {
  ManualClock clock(Start());  // never advanced: no refill during the test
  TokenBucket bucket(1000, 5000, clock);
  std::atomic<int> granted{0};
  std::latch start(8);
  std::vector<std::thread> threads;
  threads.reserve(8);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < 2000; ++i) {
        if (bucket.TryAcquire()) granted.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(granted.load(), 5000);
}

}  // namespace
}  // namespace herald::dispatch
