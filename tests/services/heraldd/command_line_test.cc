// heraldd's own arguments are as strict as its config: a number with a unit is refused
// before anything starts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Outcome {
  int exit_code = -1;
  std::string output;
};

// Runs heraldd with `args` and its output on stdout, in an environment of its own (heraldd
// refuses HERALD_* variables it does not know, such as the test runner's). The suppression
// keys keep a config error from masking what the arguments did; the database is a closed port.
Outcome Heraldd(const std::string& args) {
  std::string command = "env -i HERALD_SUPPRESSION_KEYS=k1:" + std::string(64, 'a') +
                        " HERALD_DATABASE_URL='postgresql://127.0.0.1:1/none?connect_timeout=1' " +
                        HERALD_HERALDD_PATH + " " + args + " 2>&1 </dev/null";
  Outcome r;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  char buf[512];
  while (fgets(buf, sizeof buf, p)) r.output += buf;
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(HeralddCommandLineTest, WaitForDbTakesWholeSecondsOnly) {
  for (const char* bad : {"30s", "-1", "", "1e3", "86401", "thirty", " 5"}) {
    Outcome r = Heraldd(std::string("migrate --wait-for-db '") + bad + "'");
    EXPECT_EQ(r.exit_code, 2) << "'" << bad << "': " << r.output;
    EXPECT_THAT(r.output, HasSubstr("--wait-for-db")) << bad;
  }
}

TEST(HeralddCommandLineTest, AWholeNumberIsAcceptedAndStartUpGoesOn) {
  // Accepted: start-up goes on to the database, which is not there, and gives up at once
  // with its own error rather than the argument's.
  Outcome r = Heraldd("migrate --wait-for-db 0");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, Not(HasSubstr("--wait-for-db")));
}

TEST(HeralddCommandLineTest, VersionIsPrintedWithoutStartingAnything) {
  Outcome r = Heraldd("--version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, ::testing::MatchesRegex("heraldd [0-9]+\\.[0-9]+\\.[0-9]+\n"));
}

}  // namespace
