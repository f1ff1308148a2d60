// heraldctl against a running heraldd: the campaign commands end to end (content from files,
// recipients from a CSV file and from standard input, start, pause, resume, get, list,
// cancel), bad input refused by line with nothing added, and the shared exit statuses.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using ::testing::MatchesRegex;
using ::testing::Not;

class HeraldctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    server_ = std::make_unique<HeralddProcess>(db_->dsn());
    server_->Start();
    char dir[] = "/tmp/heraldctl-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }

  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
  }

  // Writes `text` to a file in the test's folder; returns its path.
  std::string File(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // Runs heraldctl with the CRM key and `input` on standard input; returns its exit status
  // and its output (stdout + stderr).
  int Ctl(const std::string& args, std::string* out, const std::string& input = "") {
    std::string in = File("stdin", input);
    std::string cmd = "HERALDCTL_ADDR=" + server_->grpc_target() +
                      " HERALDCTL_API_KEY=" + HeralddProcess::kCrmKey + " " +
                      HERALD_HERALDCTL_PATH + " " + args + " < " + in + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    out->clear();
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Runs heraldctl on a terminal (script(1) gives it a pseudo-terminal for stdin, stdout and
  // stderr); returns its exit status and what the terminal showed.
  int CtlOnTerminal(const std::string& args, std::string* out) {
    std::string cmd = "script -qec 'HERALDCTL_ADDR=" + server_->grpc_target() +
                      " HERALDCTL_API_KEY=" + HeralddProcess::kCrmKey + " " +
                      HERALD_HERALDCTL_PATH + " " + args + "' /dev/null < /dev/null";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[4096];
    out->clear();
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Creates an e-mail campaign whose content comes from files; returns its id.
  std::string CreateCampaign(const std::string& key, const std::string& extra) {
    std::string subject = File("subject.txt", "Offer for {{surname}}");
    std::string text = File("text.txt", "Dear {{surname}},\nyour code is {{code}}.\n");
    std::string html = File("body.html", "<p>Your code is <b>{{code}}</b></p>");
    std::string out;
    EXPECT_EQ(Ctl("--json campaign create --idempotency-key " + key + " --name 'Spring " + key +
                      "' --channel email --topic special_offers --subject-file " + subject +
                      " --text-file " + text + " --html-file " + html + " --var code " + extra,
                  &out),
              0)
        << out;
    EXPECT_THAT(out, HasSubstr(R"("subject":"Offer for {{surname}}")"));
    EXPECT_THAT(out, HasSubstr(R"("text":"Dear {{surname}},\nyour code is {{code}}.\n")"));
    EXPECT_THAT(out, HasSubstr(R"("html":"\u003cp\u003eYour code is)"));
    std::smatch m;
    static const std::regex kId(R"re("id":"([0-9a-f-]{36})")re");
    EXPECT_TRUE(std::regex_search(out, m, kId)) << out;
    return m.size() > 1 ? m[1].str() : "";
  }

  void Subjects(int n) {
    for (int i = 1; i <= n; ++i) {
      std::string out, id = std::to_string(i);
      ASSERT_EQ(Ctl("upsert-subject --external-id ext-" + id + " --surname S" + id + " --email s" +
                        id + "@example.com",
                    &out),
                0)
          << out;
    }
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
  std::string dir_;
};

TEST_F(HeraldctlTest, CampaignFromFilesRecipientsFromCsvAndStdinThroughItsLife) {
  Subjects(3);
  std::string id = CreateCampaign("life", "--start-at 2099-01-01T00:00:00Z");
  ASSERT_FALSE(id.empty());
  std::string out;

  // From a file: by CRM id or by bare address, a quoted value with a comma.
  std::string csv = File("r.csv",
                         "external_id,address,code\n"
                         "ext-1,,A1\n"
                         "ext-2,,\"B,2\"\n"
                         ",bare@example.com,C3\n");
  ASSERT_EQ(Ctl("campaign add-recipients --campaign-id " + id + " --file " + csv, &out), 0) << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*received: +3\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*added: +3\n(.|\n)*"));
  // No terminal: no progress bar on stderr.
  EXPECT_THAT(out, Not(HasSubstr("sending recipients")));

  // From standard input, the id as a positional argument; one row repeats a recipient and
  // one names a subject the server does not know (reported by its line).
  ASSERT_EQ(Ctl("campaign add-recipients " + id, &out,
                "external_id,code\next-3,D4\next-1,A1\nnobody,E5\n"),
            0)
      << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*added: +1\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*duplicates: +1\n(.|\n)*"));
  EXPECT_THAT(out, HasSubstr("line 4: unknown subject"));

  // --no-wait answers with what was received; get-upload shows the report once resolved.
  ASSERT_EQ(Ctl("campaign add-recipients --no-wait " + id, &out, "external_id,code\next-2,B2\n"), 0)
      << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*received: +1\n(.|\n)*"));
  std::smatch upload;
  ASSERT_TRUE(std::regex_search(out, upload, std::regex("upload: +([0-9a-f-]{36})"))) << out;
  const std::string get_upload = "campaign get-upload " + id + " --upload-id " + upload[1].str();
  EXPECT_EVENTUALLY(Ctl(get_upload, &out) == 0 && out.find("resolved") != std::string::npos, 20000)
      << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*duplicates: +1\n(.|\n)*"));

  // Bad input: a precise message naming the line, exit 2, nothing added.
  std::string bad = File("bad.csv", "external_id,code\next-4,X\next-5\next-6,Y\n");
  EXPECT_EQ(Ctl("campaign add-recipients --campaign-id " + id + " --file " + bad, &out), 2);
  EXPECT_THAT(out, HasSubstr(bad + " line 3: 1 fields, the header has 2")) << out;
  EXPECT_EQ(Ctl("campaign add-recipients --campaign-id " + id, &out,
                "address,code\n\"open@example.com,1\n"),
            2);
  EXPECT_THAT(out, HasSubstr("standard input line 2: a quoted field is not closed")) << out;
  EXPECT_EQ(Ctl("campaign add-recipients --campaign-id " + id, &out, "address\nz@example.com\n"),
            2);
  EXPECT_THAT(out, HasSubstr("the campaign declares variable 'code'")) << out;
  EXPECT_EQ(
      Ctl("campaign add-recipients --campaign-id " + id + " --file " + dir_ + "/missing.csv", &out),
      2);
  EXPECT_THAT(out, HasSubstr("cannot read")) << out;
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM messages WHERE campaign_id = '" + id + "'"), "4");

  // Start (scheduled: its start time is in the future), pause, resume.
  ASSERT_EQ(Ctl("campaign start --campaign-id " + id, &out), 0) << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*status: +SCHEDULED\n(.|\n)*"));
  ASSERT_EQ(Ctl("campaign pause --campaign-id " + id, &out), 0) << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*status: +PAUSED\n(.|\n)*"));
  EXPECT_EQ(Ctl("campaign pause --campaign-id " + id, &out), 1);
  EXPECT_THAT(out, HasSubstr("FAILED_PRECONDITION"));
  ASSERT_EQ(Ctl("campaign resume --campaign-id " + id, &out), 0) << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*status: +SCHEDULED\n(.|\n)*"));

  // Get: live counts by status.
  ASSERT_EQ(Ctl("campaign get --campaign-id " + id, &out), 0) << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*recipients: +4\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*by status:\n +QUEUED +4\n(.|\n)*"));

  // List: the campaign with its status and name.
  ASSERT_EQ(Ctl("campaign list", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("RECIPIENTS"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*" + id + " +SCHEDULED +EMAIL +special_offers +4 (.|\n)*"));
  EXPECT_THAT(out, HasSubstr("Spring life"));

  // Cancel: its messages are cancelled; a second cancel is refused.
  ASSERT_EQ(Ctl("campaign cancel --campaign-id " + id, &out), 0) << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*status: +CANCELLED\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*by status:\n +CANCELLED +4\n(.|\n)*"));
  EXPECT_EQ(Ctl("campaign cancel --campaign-id " + id, &out), 1);
  EXPECT_THAT(out, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_EQ(Ctl("campaign add-recipients --campaign-id " + id, &out, "address,code\nq@x.org,1\n"),
            1);
  EXPECT_THAT(out, HasSubstr("FAILED_PRECONDITION"));
}

TEST_F(HeraldctlTest, CampaignGetShowsLiveCountsByDenyReason) {
  Subjects(2);  // none of them has consented
  std::string id = CreateCampaign("now", "");
  ASSERT_FALSE(id.empty());
  std::string out;
  // On a terminal, a progress bar on stderr.
  std::string csv = File("r.csv", "external_id,code\next-1,A\next-2,B\n");
  ASSERT_EQ(CtlOnTerminal("campaign add-recipients --campaign-id " + id + " --file " + csv, &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("sending recipients [##############################] 100% 2/2"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*added: +2\r?\n(.|\n)*"));
  ASSERT_EQ(Ctl("campaign start --campaign-id " + id, &out), 0) << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*status: +RUNNING\n(.|\n)*"));
  // No --start-at: no start time at all, not the epoch.
  EXPECT_THAT(out, MatchesRegex("(.|\n)*start at: +-\n(.|\n)*"));
  // The gate refuses both as they are claimed; get follows it live until the end.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool finished = false;
  while (!finished && std::chrono::steady_clock::now() < deadline) {
    ASSERT_EQ(Ctl("campaign get --campaign-id " + id, &out), 0) << out;
    finished = out.find("FINISHED") != std::string::npos;
    if (!finished) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(finished) << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*progress: +100.0%\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*by status:\n +SUPPRESSED +2\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*by deny reason:\n +[A-Z_]+ +2\n(.|\n)*"));
  ASSERT_EQ(Ctl("--json campaign get --campaign-id " + id, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr(R"("counts_by_deny_reason":{")"));
}

// CALL-4: `call-outcome` records a wrong number: the number leaves the subject and the gate
// refuses it; a number the subject does not have is refused (exit 1) without repeating it.
TEST_F(HeraldctlTest, CALL4_CallOutcomeDetachesAWrongNumber) {
  std::string out;
  ASSERT_EQ(Ctl("--json upsert-subject --external-id call-1 --phone +994501234567 "
                "--phone +994501234568",
                &out),
            0)
      << out;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"re("id":"([0-9a-f-]{36})")re"))) << out;
  const std::string id = m[1].str();
  EXPECT_EQ(Ctl("call-outcome --subject-id " + id +
                    " --phone +994509999999 --outcome wrong-number --agent agent-7",
                &out),
            1);
  EXPECT_THAT(out, HasSubstr("FAILED_PRECONDITION"));
  EXPECT_THAT(out, Not(HasSubstr("9999999")));
  EXPECT_EQ(Ctl("call-outcome --subject-id " + id + " --phone +994501234567 --outcome bogus " +
                    "--agent agent-7",
                &out),
            2);
  EXPECT_THAT(out, HasSubstr("--outcome: unknown value"));

  ASSERT_EQ(Ctl("call-outcome --subject-id " + id +
                    " --phone +994501234567 --outcome wrong-number --agent agent-7 "
                    "--idempotency-key call-1",
                &out),
            0)
      << out;
  EXPECT_THAT(out, MatchesRegex("(.|\n)*address_detached: +yes\n(.|\n)*"));
  EXPECT_THAT(out, MatchesRegex("(.|\n)*suppression_added: +yes\n(.|\n)*"));
  ASSERT_EQ(Ctl("get-subject --subject-id " + id, &out), 0) << out;
  EXPECT_THAT(out, Not(HasSubstr("+994501234567")));
  EXPECT_THAT(out, HasSubstr("+994501234568"));
  ASSERT_EQ(Ctl("check --channel sms --topic product_news --address +994501234567", &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("DENY ADDRESS_SUPPRESSED"));
}

TEST_F(HeraldctlTest, OneExitStatusRuleAndHelpForEveryCommand) {
  std::string out;
  EXPECT_EQ(Ctl("--help", &out), 0);
  EXPECT_THAT(out, HasSubstr("Exit status"));
  EXPECT_THAT(out, HasSubstr("campaign"));
  EXPECT_THAT(out, HasSubstr("privacy"));
  EXPECT_THAT(out, HasSubstr("inbound-mail"));
  EXPECT_EQ(Ctl("", &out), 2);
  EXPECT_EQ(Ctl("campaign add-recipients --help", &out), 0);
  EXPECT_THAT(out, HasSubstr("external_id"));
  EXPECT_THAT(out, HasSubstr("--campaign-id ID"));
  EXPECT_EQ(Ctl("campaign frobnicate", &out), 2);
  EXPECT_THAT(out, HasSubstr("unknown command 'campaign frobnicate'"));
  EXPECT_EQ(Ctl("campaign start", &out), 2);
  EXPECT_THAT(out, HasSubstr("--campaign-id is required"));
  // A forgotten value is not taken from the next flag.
  EXPECT_EQ(Ctl("campaign get --campaign-id --json", &out), 2);
  EXPECT_THAT(out, HasSubstr("--campaign-id needs a value"));
  EXPECT_EQ(Ctl("campaign get --campaign-id x --campaign-id y", &out), 2);
  EXPECT_EQ(Ctl("campaign list --timeout soon", &out), 2);
  EXPECT_THAT(out, HasSubstr("--timeout"));
  // The server's refusals are exit 1 with the status named, for every service.
  EXPECT_EQ(Ctl("campaign get --campaign-id 00000000-0000-4000-8000-000000000000", &out), 1);
  EXPECT_THAT(out, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(Ctl("get-subject --subject-id 00000000-0000-4000-8000-000000000000", &out), 1);
  EXPECT_THAT(out, HasSubstr("NOT_FOUND"));
  // Global flags go before or after the command.
  EXPECT_EQ(Ctl("campaign list --json --timeout 5", &out), 0) << out;
  EXPECT_EQ(Ctl("--timeout 5 topics", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("special_offers"));
}

}  // namespace
}  // namespace herald
