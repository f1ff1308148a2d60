// Readiness probes PostgreSQL on a connection of its own: a pool busy with calls is a healthy
// instance under load, not an unready one.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <vector>

#include "common/db/pool.h"
#include "services/heraldd/readiness.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

TEST(ReadinessDb, ABusyPoolLeavesTheInstanceReady) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  db::Pool pool(db->dsn(), 2, std::chrono::milliseconds(200));
  // Every connection of the pool on loan, as under a burst of calls.
  std::vector<db::Lease> held;
  held.push_back(pool.Acquire());
  held.push_back(pool.Acquire());
  std::atomic<int> changes{0};
  Readiness readiness(DatabaseProbe(db->dsn()), [&](bool) { ++changes; });
  readiness.Start();  // probes once before returning
  std::string why;
  EXPECT_TRUE(readiness.Ready(&why)) << why;
  EXPECT_EQ(changes.load(), 1);
  readiness.Stop();
}

}  // namespace
}  // namespace herald
