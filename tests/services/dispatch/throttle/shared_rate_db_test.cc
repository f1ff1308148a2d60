// The rate limits every heraldd process of a database shares (rate_buckets), each "process"
// here a SharedRate with its own connection pool.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cmath>
#include <thread>
#include <vector>

#include "common/error.h"
#include "services/dispatch/throttle/shared_rate.h"
#include "tests/support/test_database.h"

namespace herald::dispatch {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

struct Replica {
  explicit Replica(const std::string& dsn)
      : pool(dsn, 4, std::chrono::seconds(5)), rate(pool, metrics) {}
  db::Pool pool;
  prometheus::Registry metrics;
  SharedRate rate;
};

class SharedRateTest : public ::testing::Test {
 protected:
  void SetUp() override { db_ = testing::TestDatabase::Create(); }
  std::unique_ptr<testing::TestDatabase> db_;
};

TEST_F(SharedRateTest, TakesTheBurstAtOnceThenOneTokenPerIntervalOfTheRate) {
  HERALD_REQUIRE_DB(db_);
  Replica r(db_->dsn());
  // One token a second (so the statements' own time cannot matter), three at once.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.rate.TryAcquire("provider:sink", 1, 3), microseconds(0)) << "token " << i;
  }
  // The fourth is 1 s after the first (the wait is less the time the statements took).
  const microseconds wait = r.rate.TryAcquire("provider:sink", 1, 3);
  EXPECT_GT(wait, microseconds(0));
  EXPECT_LE(wait, std::chrono::seconds(1));
  // A refusal takes nothing: asking again is refused, for no longer than the first answer.
  const microseconds again = r.rate.TryAcquire("provider:sink", 1, 3);
  if (again > microseconds(0)) {
    EXPECT_LE(again, wait);
  }
  // Another limit is another row.
  EXPECT_EQ(r.rate.TryAcquire("campaign:c1", 1, 1), microseconds(0));
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM rate_buckets"), "2");
}

// The level a claim is sized by, read without taking anything: a limit never used is full,
// each token taken lowers it by one, and time refills it.
TEST_F(SharedRateTest, AvailableReadsTheLevelWithoutTakingAny) {
  HERALD_REQUIRE_DB(db_);
  Replica r(db_->dsn());
  EXPECT_DOUBLE_EQ(r.rate.Available("provider:sink", 1, 3), 3);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM rate_buckets"), "0");
  ASSERT_EQ(r.rate.TryAcquire("provider:sink", 1, 3), microseconds(0));
  ASSERT_EQ(r.rate.TryAcquire("provider:sink", 1, 3), microseconds(0));
  // Two taken of three, at one a second: a little over one left (the statements' own time).
  const double left = r.rate.Available("provider:sink", 1, 3);
  EXPECT_GE(left, 1);
  EXPECT_LT(left, 1.5);
  // Reading again finds at least as many: reading took none.
  EXPECT_GE(r.rate.Available("provider:sink", 1, 3), left) << "reading took a token";
  EXPECT_TRUE(std::isinf(r.rate.Available("provider:free", 0, 1)));
}

TEST_F(SharedRateTest, UnlimitedTakesNoTokenAndWritesNothing) {
  HERALD_REQUIRE_DB(db_);
  Replica r(db_->dsn());
  EXPECT_EQ(r.rate.TryAcquire("provider:free", 0, 1), microseconds(0));
  EXPECT_TRUE(r.rate.Acquire("provider:free", "provider:free", 0, 1, 1, [] { return false; }));
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM rate_buckets"), "0");
}

TEST_F(SharedRateTest, RefusesWhatCanNeverBeTaken) {
  HERALD_REQUIRE_DB(db_);
  Replica r(db_->dsn());
  auto code = [&](double rate, double burst, int n) {
    try {
      r.rate.TryAcquire("provider:x", rate, burst, n);
    } catch (const Error& e) {
      return e.code();
    }
    return ErrorCode::kInternal;
  };
  EXPECT_EQ(code(10, 2, 3), ErrorCode::kInvalidArgument);  // more than the burst
  EXPECT_EQ(code(10, 0.5, 1), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(10, NAN, 1), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code(INFINITY, 2, 1), ErrorCode::kInvalidArgument);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM rate_buckets"), "0");
}

// REPL-3 at its root: two processes, two threads each, taking tokens of one limit as fast as
// it lets them. Together they stay within rate × elapsed + burst (elapsed measured outside
// the first and the last statement, so it is never shorter than PostgreSQL's), and each gets
// a share. Two separate buckets would let through about twice as many.
TEST_F(SharedRateTest, TwoProcessesTogetherStayWithinOneLimit) {
  HERALD_REQUIRE_DB(db_);
  constexpr double kRate = 40, kBurst = 4;
  Replica a(db_->dsn()), b(db_->dsn());
  std::atomic<int> taken_a{0}, taken_b{0};
  std::atomic<bool> stop{false};
  auto run = [&](Replica& r, std::atomic<int>& taken) {
    while (r.rate.Acquire("provider:sink", "provider:sink", kRate, kBurst, 1,
                          [&] { return stop.load(); })) {
      ++taken;
    }
  };
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i) {
    threads.emplace_back(run, std::ref(a), std::ref(taken_a));
    threads.emplace_back(run, std::ref(b), std::ref(taken_b));
  }
  std::this_thread::sleep_for(milliseconds(1500));  // the measured span, not a wait for an event
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const int total = taken_a + taken_b;
  EXPECT_LE(total, kRate * elapsed + kBurst) << "a " << taken_a << ", b " << taken_b;
  EXPECT_GT(taken_a.load(), 0);
  EXPECT_GT(taken_b.load(), 0);
  // The per-process counters add up to what was taken.
  auto counted = [](prometheus::Registry& m) {
    for (const auto& f : m.Collect()) {
      if (f.name != "herald_rate_limit_tokens_total") continue;
      for (const auto& metric : f.metric) return metric.counter.value;
    }
    return 0.0;
  };
  EXPECT_EQ(counted(a.metrics), taken_a.load());
  EXPECT_EQ(counted(b.metrics), taken_b.load());
}

// A send waiting for a token gives up when its worker stops, and takes nothing.
TEST_F(SharedRateTest, StoppingEndsTheWaitWithoutTakingAToken) {
  HERALD_REQUIRE_DB(db_);
  Replica r(db_->dsn());
  ASSERT_EQ(r.rate.TryAcquire("campaign:slow", 0.01, 1), microseconds(0));  // next in 100 s
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(200));
    stop = true;
  });
  EXPECT_FALSE(
      r.rate.Acquire("campaign:slow", "campaign", 0.01, 1, 1, [&] { return stop.load(); }));
  stopper.join();
  // Still the one token's 100 s (less the time passed): a second token would have made it 200.
  const microseconds wait = r.rate.TryAcquire("campaign:slow", 0.01, 1);
  EXPECT_GT(wait, std::chrono::seconds(90));
  EXPECT_LE(wait, std::chrono::seconds(100));
}

// With PostgreSQL away nothing is sent: the wait goes on (until stopped), never past it.
TEST_F(SharedRateTest, NoDatabaseNoToken) {
  HERALD_REQUIRE_DB(db_);
  // A port nothing listens on: the pool cannot connect.
  Replica r("postgresql://postgres@127.0.0.1:1/none?connect_timeout=1");
  std::atomic<bool> stop{false};
  std::thread stopper([&] {
    std::this_thread::sleep_for(milliseconds(300));
    stop = true;
  });
  EXPECT_FALSE(
      r.rate.Acquire("provider:sink", "provider:sink", 10, 1, 1, [&] { return stop.load(); }));
  stopper.join();
}

// An idle row is the same limit as no row, so housekeeping may drop it: only rows idle for an
// hour go, and a limit in use keeps its state.
TEST_F(SharedRateTest, PurgeDropsOnlyRowsIdleForAnHour) {
  HERALD_REQUIRE_DB(db_);
  Replica r(db_->dsn());
  ASSERT_EQ(r.rate.TryAcquire("campaign:ended", 10, 1), microseconds(0));
  ASSERT_EQ(r.rate.TryAcquire("provider:busy", 0.01, 1), microseconds(0));  // next in 100 s
  db_->Exec(
      "UPDATE rate_buckets SET tat = now() - interval '2 hours' WHERE name = 'campaign:ended'");
  EXPECT_EQ(r.rate.PurgeIdle(), 1);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(name, ',') FROM rate_buckets"), "provider:busy");
  EXPECT_GT(r.rate.TryAcquire("provider:busy", 0.01, 1), std::chrono::seconds(90));
}

}  // namespace
}  // namespace herald::dispatch
