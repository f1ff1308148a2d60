// Migrations and the connection pool against a real PostgreSQL.
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <thread>

#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/error.h"
#include "tests/support/test_database.h"

namespace herald::db {
namespace {

class FreshDatabase : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* url = std::getenv("HERALD_TEST_DATABASE_URL");
    if (!url || !*url) {
      if (herald::testing::InCi()) FAIL() << "HERALD_TEST_DATABASE_URL is not set under CI";
      GTEST_SKIP() << "HERALD_TEST_DATABASE_URL is not set";
    }
    admin_ = url;
    name_ = "herald_mig_" + std::to_string(getpid());
    pqxx::connection admin(admin_);
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + name_);
    dsn_ = herald::testing::WithDatabase(admin_, name_);
  }
  void TearDown() override {
    if (name_.empty()) return;
    pqxx::connection admin(admin_);
    pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  }
  std::string admin_, name_, dsn_;
};

TEST_F(FreshDatabase, ReplicasStartingTogetherApplyEachMigrationOnce) {
  std::vector<std::thread> replicas;
  std::atomic<int> applied{0}, errors{0};
  for (int i = 0; i < 4; ++i) {
    replicas.emplace_back([&] {
      try {
        pqxx::connection conn(dsn_);
        applied += ApplyMigrations(conn, BuiltInMigrations());
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  for (auto& r : replicas) r.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(applied.load(), static_cast<int>(BuiltInMigrations().size()));
  pqxx::connection conn(dsn_);
  EXPECT_TRUE(MigrationsCurrent(conn, BuiltInMigrations()));
  EXPECT_EQ(ApplyMigrations(conn, BuiltInMigrations()), 0);
}

TEST_F(FreshDatabase, NotCurrentBeforeMigrating) {
  pqxx::connection conn(dsn_);
  EXPECT_FALSE(MigrationsCurrent(conn, BuiltInMigrations()));
}

TEST_F(FreshDatabase, PoolHandsOutWholeConnectionsAndTimesOut) {
  Pool pool(dsn_, 2, std::chrono::milliseconds(200));
  {
    Lease a = pool.Acquire();
    Lease b = pool.Acquire();
    EXPECT_EQ(pool.Stats().in_use, 2);
    try {
      pool.Acquire();
      ADD_FAILURE() << "a third lease from a pool of two";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
    }
  }
  auto s = pool.Stats();
  EXPECT_EQ(s.in_use, 0);
  EXPECT_EQ(s.open, 2);
}

TEST_F(FreshDatabase, PoolDropsABrokenConnectionAndReconnects) {
  Pool pool(dsn_, 1, std::chrono::seconds(2));
  int pid;
  {
    Lease l = pool.Acquire();
    pid = pqxx::nontransaction(l->raw()).exec("SELECT pg_backend_pid()")[0][0].as<int>();
  }
  {
    pqxx::connection killer(dsn_);
    pqxx::nontransaction(killer).exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  }
  {
    Lease l = pool.Acquire();
    EXPECT_THROW(pqxx::nontransaction(l->raw()).exec("SELECT 1"), pqxx::broken_connection);
  }
  Lease l = pool.Acquire();
  EXPECT_EQ(pqxx::nontransaction(l->raw()).exec("SELECT 41 + 1")[0][0].as<int>(), 42);
}

// Three small migrations standing in for a binary's list.
std::vector<Migration> Known(const std::vector<int>& versions) {
  std::vector<Migration> out;
  for (int v : versions) {
    out.push_back({v, "t" + std::to_string(v), "CREATE TABLE t" + std::to_string(v) + " (x int)"});
  }
  return out;
}

// The message of what ApplyMigrations threw ("" when it did not throw).
std::string ApplyError(pqxx::connection& conn, const std::vector<Migration>& migrations) {
  try {
    ApplyMigrations(conn, migrations);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST_F(FreshDatabase, AChangedFileStopsStartUpNamingItsVersion) {
  pqxx::connection conn(dsn_);
  ASSERT_EQ(ApplyMigrations(conn, Known({1, 2, 3})), 3);
  auto edited = Known({1, 2, 3});
  edited[1].sql += " -- edited after release";
  std::string error = ApplyError(conn, edited);
  EXPECT_NE(error.find("V002"), std::string::npos) << error;
  EXPECT_NE(error.find("checksum"), std::string::npos) << error;
  EXPECT_FALSE(MigrationsCurrent(conn, edited));
}

TEST_F(FreshDatabase, AGapOrAnOutOfOrderNumberInTheBinaryStopsStartUp) {
  pqxx::connection conn(dsn_);
  std::string gap = ApplyError(conn, Known({1, 2, 4}));
  EXPECT_NE(gap.find("V003"), std::string::npos) << gap;
  EXPECT_NE(gap.find("missing"), std::string::npos) << gap;
  std::string order = ApplyError(conn, Known({1, 3, 2}));
  EXPECT_NE(order.find("V002"), std::string::npos) << order;
  EXPECT_NE(order.find("order"), std::string::npos) << order;
  // Nothing of either list was applied.
  EXPECT_EQ(pqxx::nontransaction(conn).exec("SELECT to_regclass('t1') IS NULL")[0][0].as<bool>(),
            true);
}

// The runner used to skip every version below the highest applied one, so a migration
// merged late under a lower number never ran. It is an error now.
TEST_F(FreshDatabase, AnUnappliedVersionBelowTheHighestAppliedStopsStartUp) {
  pqxx::connection conn(dsn_);
  ASSERT_EQ(ApplyMigrations(conn, Known({1})), 1);
  // A database where V003 ran and V002 did not (as a late merge under a lower number leaves).
  pqxx::nontransaction(conn).exec(
      "CREATE TABLE t3 (x int); INSERT INTO schema_migrations (version, name, applied_at)"
      " VALUES (3, 't3', now())");
  std::string error = ApplyError(conn, Known({1, 2, 3}));
  EXPECT_NE(error.find("V002"), std::string::npos) << error;
  EXPECT_NE(error.find("not applied"), std::string::npos) << error;
  EXPECT_FALSE(MigrationsCurrent(conn, Known({1, 2, 3})));
}

// An older binary during a rolling upgrade meets a schema one release ahead: it logs that
// and runs, and stays ready (migrations are expand-only for a release).
TEST_F(FreshDatabase, AnAppliedVersionNewerThanTheBinaryIsAllowed) {
  pqxx::connection conn(dsn_);
  ASSERT_EQ(ApplyMigrations(conn, Known({1, 2, 3})), 3);
  EXPECT_EQ(ApplyMigrations(conn, Known({1, 2})), 0);
  EXPECT_TRUE(MigrationsCurrent(conn, Known({1, 2})));
}

// A database migrated by a binary that kept no checksums gets them on the first run of one
// that does, and a later edit is then caught.
TEST_F(FreshDatabase, ADatabaseWithoutChecksumsGetsThemFilled) {
  pqxx::connection conn(dsn_);
  ASSERT_EQ(ApplyMigrations(conn, Known({1, 2})), 2);
  pqxx::nontransaction(conn).exec("ALTER TABLE schema_migrations DROP COLUMN IF EXISTS checksum");
  EXPECT_EQ(ApplyMigrations(conn, Known({1, 2, 3})), 1);
  EXPECT_EQ(pqxx::nontransaction(conn)
                .exec("SELECT count(*) FROM schema_migrations WHERE checksum IS NOT NULL")[0][0]
                .as<int>(),
            3);
  auto edited = Known({1, 2, 3});
  edited[0].sql += ";";
  EXPECT_NE(ApplyError(conn, edited).find("V001"), std::string::npos);
}

TEST(UnreachableDatabase, PoolAnswersUnavailable) {
  Pool pool("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", 1, std::chrono::seconds(1));
  try {
    pool.Acquire();
    ADD_FAILURE() << "connected to nothing";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnavailable);
  }
  EXPECT_EQ(pool.Stats().open, 0);
}

}  // namespace
}  // namespace herald::db
