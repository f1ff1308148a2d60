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

TEST(UnreachableDatabase, PoolAnswersUnavailable) {
  Pool pool("postgresql://postgres@127.0.0.1:1/none?connect_timeout=2", 1,
            std::chrono::seconds(1));
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
