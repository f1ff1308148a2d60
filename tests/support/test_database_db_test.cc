// Test databases are copies of one template the migrations built once: each copy carries
// every migration, and copies made at the same time from many threads all succeed.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "common/db/migrations.h"
#include "tests/support/test_database.h"

namespace herald::testing {
namespace {

TEST(TestDatabaseTest, ACopyCarriesEveryMigration) {
  auto db = TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  EXPECT_EQ(db->Scalar("SELECT count(*) FROM schema_migrations"),
            std::to_string(db::BuiltInMigrations().size()));
  EXPECT_EQ(db->Scalar("SELECT to_regclass('messages') IS NOT NULL"), "t");
  // The copy is its own database: what a test writes stays out of the template.
  db->Exec("CREATE TABLE test_database_scratch (x int)");
  auto other = TestDatabase::Create();
  EXPECT_EQ(other->Scalar("SELECT to_regclass('test_database_scratch') IS NULL"), "t");
}

TEST(TestDatabaseTest, TheTemplateIsNamedAfterTheMigrations) {
  auto db = TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  EXPECT_EQ(db->Scalar("SELECT count(*) FROM pg_database WHERE datname = '" + TemplateName() + "'"),
            "1");
  EXPECT_EQ(db->Scalar("SELECT count(*) FROM pg_database WHERE datname LIKE "
                       "'herald\\_template\\_%'"),
            "1")
      << "a template of an older migration set was left behind";
}

TEST(TestDatabaseTest, ConcurrentCopiesAllSucceed) {
  auto probe = TestDatabase::Create();
  HERALD_REQUIRE_DB(probe);
  std::vector<std::unique_ptr<TestDatabase>> dbs(6);
  std::vector<std::thread> threads;
  for (auto& slot : dbs) {
    threads.emplace_back([&slot] { slot = TestDatabase::Create(); });
  }
  for (auto& t : threads) t.join();
  std::set<std::string> names;
  for (const auto& db : dbs) {
    ASSERT_TRUE(db);
    names.insert(db->name());
    EXPECT_EQ(db->Scalar("SELECT count(*) FROM schema_migrations"),
              std::to_string(db::BuiltInMigrations().size()));
  }
  EXPECT_EQ(names.size(), dbs.size());
}

}  // namespace
}  // namespace herald::testing
