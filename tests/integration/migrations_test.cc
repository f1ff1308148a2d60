// heraldd's start-up against a database whose migrations disagree with the binary's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;

// An applied file edited afterwards: heraldd refuses to start, and says which and why.
TEST(HeralddMigrations, AChangedAppliedFileStopsStartUp) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  db->Exec("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 2");
  HeralddProcess server(db->dsn());
  try {
    server.Start();
    ADD_FAILURE() << "heraldd started on an edited migration";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_THAT(what, HasSubstr("exited during start-up"));
    EXPECT_THAT(what, HasSubstr("\"fatal\""));
    EXPECT_THAT(what, HasSubstr("V002"));
    EXPECT_THAT(what, HasSubstr("checksum"));
  }
}

// An older binary during a rolling upgrade: the schema is a release ahead; it logs that,
// starts and is ready.
TEST(HeralddMigrations, ANewerAppliedVersionIsLoggedAndServed) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  db->Exec(
      "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future',"
      " now())");
  HeralddProcess server(db->dsn());
  server.Start();  // returns once /readyz answers 200
  EXPECT_THAT(server.Log(), HasSubstr("newer than this binary"));
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace herald
