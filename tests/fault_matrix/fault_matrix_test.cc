// The fault matrix (tests/fault_matrix/README.md), FAULT-1 to FAULT-7 and FAULT-9: a campaign to
// the capturing SMTP sink (the SMS stand-ins for FAULT-6) with opt-outs racing it, one fault per
// row, judged at the sink and never from heraldd's own counters: nothing lost, nobody reached
// after an acknowledged opt-out beyond what it reported in flight, duplicates against the row's
// target, and no recipient's name, address or number in any log. Each row prints one
// "FAULT-ROW" line of figures for tests/fault_matrix/run. FAULT-8 (clock jumps) is in-process:
// clock_jump_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/fault_matrix/matrix_support.h"
#include "tests/support/eventually.h"
#include "tests/support/faulty_smtp_relay.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/sms_provider_stand_in.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald::fault_matrix {
namespace {

using testing::Eventually;
using testing::HeralddProcess;

// A database test environment is required (as for every db and integration test): locally
// the rows skip without one, under CI they fail.
#define FAULT_REQUIRE_ENVIRONMENT()                                      \
  do {                                                                   \
    if (!std::getenv("HERALD_TEST_DATABASE_URL")) {                      \
      if (::herald::testing::InCi()) FAIL() << "no PostgreSQL under CI"; \
      GTEST_SKIP() << "HERALD_TEST_DATABASE_URL is not set";             \
    }                                                                    \
  } while (0)

// The settings of one row's heraldd processes.
struct Settings {
  int threads = 2;  // outbox threads per worker process
  int batch_size = 50;
  int lease_s = 30;
  int send_concurrency = 4;
  int retry_base_s = 2;
  int breaker_failures = 5;
  int breaker_open_s = 5;
};

std::string SmtpConfig(const std::string& roles, int sink_port, const Settings& s) {
  return "roles: [" + roles +
         "]\n"
         "email:\n  from_address: news@herald.test\n"
         "dispatch:\n  workers: " +
         std::to_string(s.threads) + "\n  batch_size: " + std::to_string(s.batch_size) +
         "\n  lease_s: " + std::to_string(s.lease_s) +
         "\n  send_concurrency: " + std::to_string(s.send_concurrency) +
         "\n  retry_base_s: " + std::to_string(s.retry_base_s) +
         "\n"
         "providers:\n  - name: relay\n    kind: smtp\n    country: RU\n"
         "    breaker_failures: " +
         std::to_string(s.breaker_failures) +
         "\n    breaker_open_s: " + std::to_string(s.breaker_open_s) +
         "\n    settings:\n      url: smtp://127.0.0.1:" + std::to_string(sink_port) +
         "\n      starttls: none\n      max_connections: 16\n";
}

// A worker process's lease owner prefix (heraldd's main.cc: "<hostname>-<pid>").
std::string WorkerName(const HeralddProcess& worker) {
  char host[256] = "heraldd";
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(worker.pid());
}

int64_t HeldBy(const std::string& dsn, const std::string& worker) {
  pqxx::connection conn(dsn);
  pqxx::read_transaction txn(conn);
  return txn
      .exec_params(
          "SELECT count(*) FROM messages WHERE status = 'sending'"
          " AND (lease_owner = $1 OR starts_with(lease_owner, $1 || '-'))",
          worker)[0][0]
      .as<int64_t>();
}

// Waits until `worker` is in the middle of a batch: it still holds at least `min_held`
// messages and has claimed none for `quiet`, so part of its batch went out meanwhile. A kill
// then lands where sent messages whose outcomes are recorded only at the end of the batch
// would go out again; one at a random moment may hit a batch just claimed.
bool WaitMidBatch(const std::string& dsn, const std::string& worker, int64_t min_held,
                  std::chrono::milliseconds quiet) {
  std::set<std::string> seen;
  auto last_claim = std::chrono::steady_clock::now();
  return Eventually(
      [&] {
        pqxx::connection conn(dsn);
        pqxx::read_transaction txn(conn);
        auto held = txn.exec_params(
            "SELECT id::text FROM messages WHERE status = 'sending'"
            " AND (lease_owner = $1 OR starts_with(lease_owner, $1 || '-'))",
            worker);
        for (const auto& r : held) {
          if (seen.insert(r[0].as<std::string>()).second) {
            last_claim = std::chrono::steady_clock::now();
          }
        }
        return static_cast<int64_t>(held.size()) >= min_held &&
               std::chrono::steady_clock::now() - last_claim >= quiet;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(20));
}

// A random tenth of the recipients (fixed seed).
std::vector<std::string> Victims(std::vector<std::string> subjects, int n) {
  std::mt19937 rng(20261206);
  std::shuffle(subjects.begin(), subjects.end(), rng);
  subjects.resize(std::min<size_t>(subjects.size(), static_cast<size_t>(n)));
  return subjects;
}

// The pause between one client's opt-outs that spreads them over `seconds`.
std::chrono::milliseconds Spread(double seconds, int opt_outs, int clients = 1) {
  return std::chrono::milliseconds(
      std::max<int64_t>(2, static_cast<int64_t>(seconds * 1000 * clients / opt_outs)));
}

// Seconds the campaign takes when nothing goes wrong: the sink's delay over the lanes.
double ExpectedSeconds(const Size& size, int lanes) {
  return size.recipients * (size.sink_delay_ms / 1000.0) / lanes;
}

std::vector<std::string> Logs(const std::vector<const HeralddProcess*>& processes) {
  std::vector<std::string> logs;
  for (const auto* p : processes) logs.push_back(p->Log());
  return logs;
}

// Whether a process is still alive (not exited by itself).
bool Alive(const HeralddProcess& p) { return p.running() && kill(p.pid(), 0) == 0; }

std::vector<std::pair<std::string, std::string>> Figures(const Judgement& j, const Size& size) {
  return {{"recipients", std::to_string(size.recipients)},
          {"duplicates", std::to_string(j.duplicates)},
          {"lost", std::to_string(j.lost)},
          {"opted_out_reached", std::to_string(j.opted_out_reached)},
          {"acked_opt_outs", std::to_string(j.acked_opt_outs)},
          {"failed", std::to_string(j.failed)},
          {"suppressed", std::to_string(j.suppressed)},
          {"sent_not_delivered", std::to_string(j.sent_not_delivered)}};
}

// The log scan's positive control: a line that names a recipient, shows their address in
// another case or quotes their number is found; ordinary lines are not.
TEST(FaultMatrixLogScan, FindsPlantedPersonalData) {
  const std::string clean = R"({"level":"info","msg":"rpc","method":"OptOut"})";
  EXPECT_TRUE(PersonalDataInLogs({clean + "\n"}).empty());
  auto hits = PersonalDataInLogs({clean + "\n" + R"({"msg":"x","to":"FMZQ17@Example.com"})" + "\n",
                                  R"({"msg":"y","number":"+994550000017"})"
                                  "\n"
                                  R"({"msg":"z","who":"fmzq3"})"});
  EXPECT_EQ(hits.size(), 3u);
}

class FaultMatrix : public ::testing::Test {
 protected:
  std::unique_ptr<HeralddProcess> Start(const std::string& dsn, const std::string& config) {
    auto p = std::make_unique<HeralddProcess>(dsn, config);
    p->Start();  // throws (failing the row) when it does not become ready
    return p;
  }

  // Waits until `n` messages arrived at the sink (the fault must strike mid-campaign).
  static bool WaitForArrivals(const testing::SmtpCapture& sink, size_t n,
                              std::chrono::seconds timeout = std::chrono::seconds(60)) {
    return Eventually([&] { return sink.Arrivals().size() >= n; }, timeout,
                      std::chrono::milliseconds(50));
  }

  Size size_ = SizeFromEnvironment();
};

// FAULT-1: PostgreSQL stopped mid-campaign for the outage, then started again: heraldd recovers
// without a restart, sends nothing twice, and sending stalls no longer than the outage.
TEST_F(FaultMatrix, PostgresRestartMidCampaign) {
  FAULT_REQUIRE_ENVIRONMENT();
  OwnCluster pg("pg-restart");
  const std::string dsn = pg.CreateDatabase();
  auto subjects = MakeRecipients(dsn, size_.recipients);
  testing::SmtpCapture sink({"--index-only", "--delay-ms", std::to_string(size_.sink_delay_ms)});
  Settings s;
  s.lease_s = size_.lease_s;
  s.send_concurrency = size_.send_concurrency;
  auto worker_a = Start(dsn, SmtpConfig("worker", sink.port(), s));
  auto worker_b = Start(dsn, SmtpConfig("worker", sink.port(), s));
  auto api = Start(dsn, SmtpConfig("api", sink.port(), s));
  auto victims = Victims(subjects, size_.opt_outs);
  const double started = Now();
  StartCampaign(*api, subjects, v1::EMAIL, "pg-restart");
  const double expected = ExpectedSeconds(size_, 2 * s.threads * s.send_concurrency);
  OptOutRace race([&] { return api->Channel(); }, victims, 1,
                  Spread(expected + size_.pg_outage_s, size_.opt_outs));
  ASSERT_TRUE(WaitForArrivals(sink, subjects.size() / 4)) << worker_a->Log();
  ASSERT_GT(HeldBy(dsn, WorkerName(*worker_a)) + HeldBy(dsn, WorkerName(*worker_b)), 0)
      << "no message was in flight when PostgreSQL stopped";

  const double stopped = Now();
  pg.Stop();
  // The outage itself: PostgreSQL stays away this long whatever heraldd does.
  std::this_thread::sleep_for(std::chrono::seconds(size_.pg_outage_s));
  pg.Start();
  const double back = Now();
  race.Join();
  const bool settled =
      WaitUntilSettled(dsn, std::chrono::seconds(size_.lease_s * 3 + size_.pg_outage_s + 60));
  const double done = Now();
  auto arrivals = ByAddress(sink);
  auto j = Judge(dsn, v1::EMAIL, arrivals, race.acknowledged());
  auto times = AllTimes(arrivals);
  const double stall = LongestGap(times, stopped, done);
  const bool both_alive = Alive(*worker_a) && Alive(*worker_b) && Alive(*api);
  auto figures = Figures(j, size_);
  figures.insert(figures.end(), {{"outage_s", std::to_string(size_.pg_outage_s)},
                                 {"stall_s", Fixed(stall)},
                                 {"settled_after_s", Fixed(done - back)},
                                 {"elapsed_s", Fixed(done - started)}});
  PrintRow("pg_restart", figures);

  ASSERT_TRUE(settled) << "the campaign never finished after PostgreSQL came back";
  EXPECT_TRUE(both_alive) << "a heraldd process did not survive the outage";
  EXPECT_EQ(j.duplicates, 0) << "messages sent twice across a PostgreSQL restart";
  EXPECT_LE(stall, size_.pg_outage_s + 5.0) << "sending stalled beyond the outage";
  ExpectNothingLostAndOptOutsKept(j);
  ExpectNoPersonalData(Logs({worker_a.get(), worker_b.get(), api.get()}));
}

// Three rounds of a worker thread's lanes at the sink's pace (a dozen messages of a batch of
// 50 with four lanes): well inside a batch, past its first few messages.
std::chrono::milliseconds MidBatch(const Size& size) {
  return std::chrono::milliseconds(std::max(300, 3 * size.sink_delay_ms));
}

// FAULT-2, with two workers: one is killed with SIGKILL mid-campaign; the other finishes, and
// only what the dead one had in flight may go out twice (send_concurrency per outbox thread;
// one thread here, so the bound is send_concurrency).
TEST_F(FaultMatrix, KillNineOfOneOfTwoWorkers) {
  FAULT_REQUIRE_ENVIRONMENT();
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  const std::string dsn = db->dsn();
  auto subjects = MakeRecipients(dsn, size_.recipients);
  testing::SmtpCapture sink({"--index-only", "--delay-ms", std::to_string(size_.sink_delay_ms)});
  Settings s;
  s.threads = 1;
  s.lease_s = 10;  // the survivor reclaims the dead worker's leases when they run out
  s.send_concurrency = size_.send_concurrency;
  auto victim = Start(dsn, SmtpConfig("worker", sink.port(), s));
  auto survivor = Start(dsn, SmtpConfig("worker", sink.port(), s));
  auto api = Start(dsn, SmtpConfig("api", sink.port(), s));
  const std::string victim_name = WorkerName(*victim);
  auto victims = Victims(subjects, size_.opt_outs);
  const double started = Now();
  StartCampaign(*api, subjects, v1::EMAIL, "kill-one-of-two");
  OptOutRace race([&] { return api->Channel(); }, victims, 1,
                  Spread(ExpectedSeconds(size_, 2 * s.send_concurrency), size_.opt_outs));
  ASSERT_TRUE(WaitForArrivals(sink, subjects.size() / 4));
  ASSERT_TRUE(WaitMidBatch(dsn, victim_name, 2 * s.send_concurrency, MidBatch(size_)))
      << "the worker to kill was never in the middle of a batch";
  const std::string victim_log = victim->Log();
  EXPECT_EQ(victim->Stop(SIGKILL), 128 + SIGKILL);
  const int64_t held = HeldBy(dsn, victim_name);
  race.Join();
  const bool settled = WaitUntilSettled(dsn, std::chrono::seconds(s.lease_s * 3 + 90));
  const double done = Now();
  auto arrivals = ByAddress(sink);
  auto j = Judge(dsn, v1::EMAIL, arrivals, race.acknowledged());
  const int64_t bound = static_cast<int64_t>(s.send_concurrency) * s.threads;
  auto figures = Figures(j, size_);
  figures.insert(figures.end(), {{"held_at_kill", std::to_string(held)},
                                 {"bound", std::to_string(bound)},
                                 {"elapsed_s", Fixed(done - started)}});
  PrintRow("kill9_worker_of_two", figures);

  ASSERT_TRUE(settled) << "the surviving worker did not finish the campaign";
  EXPECT_LE(j.duplicates, bound) << "more duplicates than the killed worker had in flight";
  ExpectNothingLostAndOptOutsKept(j);
  ExpectNoPersonalData({victim_log, survivor->Log(), api->Log()});
}

// FAULT-2, alone: the only worker is killed with SIGKILL mid-campaign; the next start finishes,
// with at most send_concurrency duplicates.
TEST_F(FaultMatrix, KillNineOfTheOnlyWorkerThenRestart) {
  FAULT_REQUIRE_ENVIRONMENT();
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  const std::string dsn = db->dsn();
  auto subjects = MakeRecipients(dsn, size_.recipients);
  testing::SmtpCapture sink({"--index-only", "--delay-ms", std::to_string(size_.sink_delay_ms)});
  Settings s;
  s.threads = 1;
  s.lease_s = 10;
  s.send_concurrency = size_.send_concurrency;
  auto worker = Start(dsn, SmtpConfig("worker", sink.port(), s));
  auto api = Start(dsn, SmtpConfig("api", sink.port(), s));
  const std::string worker_name = WorkerName(*worker);
  auto victims = Victims(subjects, size_.opt_outs);
  const double started = Now();
  StartCampaign(*api, subjects, v1::EMAIL, "kill-alone");
  OptOutRace race([&] { return api->Channel(); }, victims, 1,
                  Spread(ExpectedSeconds(size_, s.send_concurrency), size_.opt_outs));
  ASSERT_TRUE(WaitForArrivals(sink, subjects.size() / 4));
  ASSERT_TRUE(WaitMidBatch(dsn, worker_name, 2 * s.send_concurrency, MidBatch(size_)))
      << "the worker was never in the middle of a batch";
  std::vector<std::string> logs;
  logs.push_back(worker->Log());
  EXPECT_EQ(worker->Stop(SIGKILL), 128 + SIGKILL);
  const int64_t held = HeldBy(dsn, worker_name);
  const double killed = Now();
  auto next = Start(dsn, SmtpConfig("worker", sink.port(), s));
  race.Join();
  const bool settled = WaitUntilSettled(dsn, std::chrono::seconds(s.lease_s * 3 + 90));
  const double done = Now();
  auto arrivals = ByAddress(sink);
  auto j = Judge(dsn, v1::EMAIL, arrivals, race.acknowledged());
  const int64_t bound = static_cast<int64_t>(s.send_concurrency) * s.threads;
  auto figures = Figures(j, size_);
  figures.insert(figures.end(), {{"held_at_kill", std::to_string(held)},
                                 {"bound", std::to_string(bound)},
                                 {"stall_s", Fixed(LongestGap(AllTimes(arrivals), killed, done))},
                                 {"elapsed_s", Fixed(done - started)}});
  PrintRow("kill9_only_worker", figures);

  ASSERT_TRUE(settled) << "the next start did not finish the campaign";
  EXPECT_LE(j.duplicates, bound) << "more duplicates than the killed worker had in flight";
  ExpectNothingLostAndOptOutsKept(j);
  logs.push_back(next->Log());
  logs.push_back(api->Log());
  ExpectNoPersonalData(logs);
}

// FAULT-3: the api process taking opt-outs is killed with SIGKILL while several clients opt
// out through it; they go on through a second api process. Every opt-out that was
// acknowledged is recorded and honoured at the sink.
TEST_F(FaultMatrix, KillNineOfTheApiDuringOptOuts) {
  FAULT_REQUIRE_ENVIRONMENT();
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  const std::string dsn = db->dsn();
  auto subjects = MakeRecipients(dsn, size_.recipients);
  testing::SmtpCapture sink({"--index-only", "--delay-ms", std::to_string(size_.sink_delay_ms)});
  Settings s;
  s.lease_s = size_.lease_s;
  s.send_concurrency = size_.send_concurrency;
  auto worker = Start(dsn, SmtpConfig("worker", sink.port(), s));
  auto api_a = Start(dsn, SmtpConfig("api", sink.port(), s));
  auto api_b = Start(dsn, SmtpConfig("api", sink.port(), s));
  // Half the recipients, by eight clients at once with hardly a pause: calls are in flight
  // when the process dies.
  auto victims = Victims(subjects, size_.recipients / 2);
  std::atomic<bool> a_dead{false};
  auto channel_a = api_a->Channel();
  auto channel_b = api_b->Channel();
  const double started = Now();
  StartCampaign(*api_a, subjects, v1::EMAIL, "kill-api");
  OptOutRace race([&] { return a_dead ? channel_b : channel_a; }, victims, 8,
                  std::chrono::milliseconds(1));
  ASSERT_TRUE(Eventually(
      [&] {
        return Count(dsn,
                     "SELECT count(*) FROM events WHERE type ="
                     " 'opt_out'") >= static_cast<int64_t>(victims.size() / 3);
      },
      std::chrono::seconds(60), std::chrono::milliseconds(5)));
  const std::string a_log = api_a->Log();
  EXPECT_EQ(api_a->Stop(SIGKILL), 128 + SIGKILL);
  a_dead = true;
  race.Join();
  const bool settled = WaitUntilSettled(dsn, std::chrono::seconds(s.lease_s * 3 + 90));
  const double done = Now();
  auto arrivals = ByAddress(sink);
  auto j = Judge(dsn, v1::EMAIL, arrivals, race.acknowledged());
  auto figures = Figures(j, size_);
  figures.insert(figures.end(), {{"opt_outs_failed_at_kill", std::to_string(race.failed())},
                                 {"elapsed_s", Fixed(done - started)}});
  PrintRow("kill9_api", figures);

  ASSERT_TRUE(settled);
  EXPECT_GT(race.acknowledged().size(), victims.size() / 2) << "the second api took no opt-outs";
  EXPECT_GT(race.failed(), 0) << "no opt-out was in flight when the api died: nothing raced";
  ExpectNothingLostAndOptOutsKept(j);
  ExpectNoPersonalData({worker->Log(), a_log, api_b->Log()});
}

// FAULT-4: the relay refuses every connection for the outage (and drops the open ones): the
// breaker opens, nothing is lost or marked failed (the outage is well within max age and
// attempts), and sending resumes once the relay is back.
TEST_F(FaultMatrix, RelayRefusesConnections) {
  FAULT_REQUIRE_ENVIRONMENT();
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  const std::string dsn = db->dsn();
  auto subjects = MakeRecipients(dsn, size_.recipients);
  testing::SmtpCapture sink({"--index-only", "--delay-ms", std::to_string(size_.sink_delay_ms)});
  Settings s;
  s.lease_s = size_.lease_s;
  s.send_concurrency = size_.send_concurrency;
  auto worker = Start(dsn, SmtpConfig("worker", sink.port(), s));
  auto api = Start(dsn, SmtpConfig("api", sink.port(), s));
  auto victims = Victims(subjects, size_.opt_outs);
  const double started = Now();
  StartCampaign(*api, subjects, v1::EMAIL, "relay-down");
  const double expected = ExpectedSeconds(size_, s.threads * s.send_concurrency);
  OptOutRace race([&] { return api->Channel(); }, victims, 1,
                  Spread(expected + size_.relay_outage_s, size_.opt_outs));
  ASSERT_TRUE(WaitForArrivals(sink, subjects.size() / 4));

  ASSERT_TRUE(sink.server().RefuseConnections(true));
  const double down = Now();
  const size_t before = sink.Arrivals().size();
  // The breaker's state as /metrics shows it, watched for the whole outage.
  bool breaker_opened = false;
  while (Now() - down < size_.relay_outage_s) {
    std::string metrics;
    testing::HttpGet(worker->ops_port(), "/metrics", &metrics);
    breaker_opened =
        breaker_opened ||
        metrics.find("herald_provider_circuit_open{provider=\"relay\"} 1") != std::string::npos;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const size_t during = sink.Arrivals().size() - before;
  const int refused = sink.server().RefusedCount();
  ASSERT_TRUE(sink.server().RefuseConnections(false));
  const double back = Now();
  race.Join();
  const bool settled = WaitUntilSettled(dsn, std::chrono::seconds(s.lease_s * 2 + 400));
  const double done = Now();
  auto arrivals = ByAddress(sink);
  auto times = AllTimes(arrivals);
  double resumed = done;
  for (double t : times) {
    if (t >= back) resumed = std::min(resumed, t);
  }
  auto j = Judge(dsn, v1::EMAIL, arrivals, race.acknowledged());
  const int64_t bound = static_cast<int64_t>(s.send_concurrency) * s.threads;
  auto figures = Figures(j, size_);
  figures.insert(figures.end(), {{"outage_s", std::to_string(size_.relay_outage_s)},
                                 {"refused_connections", std::to_string(refused)},
                                 {"breaker_opened", breaker_opened ? "1" : "0"},
                                 {"resumed_after_s", Fixed(resumed - back)},
                                 {"stall_s", Fixed(LongestGap(times, down, done))},
                                 {"elapsed_s", Fixed(done - started)}});
  PrintRow("relay_refuses", figures);

  ASSERT_TRUE(settled) << "sending did not resume after the relay came back";
  EXPECT_TRUE(breaker_opened) << "the circuit breaker never opened";
  EXPECT_EQ(during, 0u) << "messages arrived while the relay refused connections";
  // The breaker keeps the relay from being hammered: far fewer connections than messages.
  EXPECT_LT(refused, static_cast<int>(subjects.size()) / 2);
  EXPECT_EQ(j.failed, 0) << "messages failed for a transient outage within their max age";
  // A session dropped just after the relay stored a message is the one thing that may repeat.
  EXPECT_LE(j.duplicates, bound);
  ExpectNothingLostAndOptOutsKept(j);
  ExpectNoPersonalData({worker->Log(), api->Log()});
}

// FAULT-5: the relay answers some recipients' RCPT TO with 4xx twice (then accepts), others
// with 5xx (5.7.1, a policy refusal) and others with 5.1.1 (no such mailbox): 4xx are retried
// with the backoff, 5xx fail after one attempt, and only the 5.1.1 addresses are suppressed.
TEST_F(FaultMatrix, RelayAnswers4xxThen5xx) {
  FAULT_REQUIRE_ENVIRONMENT();
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  const std::string dsn = db->dsn();
  auto subjects = MakeRecipients(dsn, size_.recipients);
  std::map<std::string, std::string> address_of;
  {
    pqxx::connection conn(dsn);
    pqxx::read_transaction txn(conn);
    for (const auto& r :
         txn.exec("SELECT subject_id::text, lower(value) FROM addresses WHERE kind = 1")) {
      address_of[r[0].as<std::string>()] = r[1].as<std::string>();
    }
  }
  const int group = std::max(5, size_.recipients / 30);
  std::vector<std::string> transient(subjects.begin(), subjects.begin() + group);
  std::vector<std::string> refused(subjects.begin() + group, subjects.begin() + 2 * group);
  std::vector<std::string> bouncing(subjects.begin() + 2 * group, subjects.begin() + 3 * group);
  std::vector<std::string> rest(subjects.begin() + 3 * group, subjects.end());
  nlohmann::json script = nlohmann::json::object();
  for (const auto& s : transient) {
    script[address_of[s]] = {"451 4.7.1 Try again later", "451 4.7.1 Try again later"};
  }
  for (const auto& s : refused) {
    script[address_of[s]] = std::vector<std::string>(5, "550 5.7.1 Message refused by policy");
  }
  for (const auto& s : bouncing) {
    script[address_of[s]] = std::vector<std::string>(5, "550 5.1.1 No such user here");
  }
  char tmpl[] = "/tmp/fault-script.XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string script_dir = tmpl;
  std::ofstream(script_dir + "/script.json") << script.dump();
  testing::CaptureServerOptions options;
  options.rcpt_script = script_dir + "/script.json";
  options.log_rcpts = true;
  options.delay_ms = size_.sink_delay_ms;
  options.extra_args = {"--index-only"};
  auto sink = testing::SmtpCapture::WithOptions(options);
  Settings s;
  s.lease_s = size_.lease_s;
  s.send_concurrency = size_.send_concurrency;
  auto worker = Start(dsn, SmtpConfig("worker", sink->port(), s));
  auto api = Start(dsn, SmtpConfig("api", sink->port(), s));
  auto victims = Victims(rest, size_.opt_outs);
  const double started = Now();
  StartCampaign(*api, subjects, v1::EMAIL, "relay-replies");
  OptOutRace race([&] { return api->Channel(); }, victims, 1,
                  Spread(ExpectedSeconds(size_, s.threads * s.send_concurrency), size_.opt_outs));
  race.Join();
  const bool settled = WaitUntilSettled(dsn, std::chrono::seconds(120));
  const double done = Now();
  (void)std::system(("rm -rf '" + script_dir + "'").c_str());
  auto arrivals = ByAddress(*sink);
  auto j = Judge(dsn, v1::EMAIL, arrivals, race.acknowledged());

  // Every RCPT TO as the relay answered it, per address, in order.
  std::map<std::string, std::vector<testing::CaptureServer::Rcpt>> rcpts;
  for (auto& r : sink->server().RcptAttempts()) {
    std::string a = r.address;
    std::transform(a.begin(), a.end(), a.begin(), [](unsigned char c) { return std::tolower(c); });
    rcpts[a].push_back(r);
  }
  int transient_wrong = 0, backoff_short = 0, refused_retried = 0, bounce_retried = 0;
  double shortest_first_retry = 1e9;
  for (const auto& subject : transient) {
    const auto& tries = rcpts[address_of[subject]];
    if (tries.size() != 3 || tries.back().reply != "250") {
      ++transient_wrong;
      continue;
    }
    // Retry k (from 1) waits at least half of base * 2^(k-1): full jitter over [cap/2, cap].
    for (size_t k = 1; k < tries.size(); ++k) {
      double gap = tries[k].time - tries[k - 1].time;
      if (k == 1) shortest_first_retry = std::min(shortest_first_retry, gap);
      if (gap < s.retry_base_s * (1 << (k - 1)) / 2.0 - 0.05) ++backoff_short;
    }
  }
  for (const auto& subject : refused) refused_retried += rcpts[address_of[subject]].size() != 1;
  for (const auto& subject : bouncing) bounce_retried += rcpts[address_of[subject]].size() != 1;
  // Which addresses the gate now refuses as suppressed, asked as the CRM would.
  auto subs = v1::SubscriptionService::NewStub(api->Channel());
  auto suppressed = [&](const std::string& subject) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(subject);
    r.set_channel(v1::EMAIL);
    r.set_topic("special_offers");
    v1::CheckEligibilityResponse resp;
    auto status = subs->CheckEligibility(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return !resp.decision().allowed() && resp.decision().reason() == v1::ADDRESS_SUPPRESSED;
  };
  int refused_suppressed = 0, bounced_suppressed = 0;
  for (const auto& subject : refused) refused_suppressed += suppressed(subject);
  for (const auto& subject : bouncing) bounced_suppressed += suppressed(subject);
  auto status_count = [&](const std::vector<std::string>& group_of, const std::string& status) {
    int n = 0;
    pqxx::connection conn(dsn);
    pqxx::read_transaction txn(conn);
    for (const auto& subject : group_of) {
      n += txn.exec_params("SELECT count(*) FROM messages WHERE subject_id = $1 AND status = $2",
                           subject, status)[0][0]
               .as<int>();
    }
    return n;
  };
  const int transient_sent = status_count(transient, "sent");
  const int refused_failed = status_count(refused, "failed");
  const int bounce_failed = status_count(bouncing, "failed");
  auto figures = Figures(j, size_);
  figures.insert(figures.end(), {{"group", std::to_string(group)},
                                 {"transient_sent", std::to_string(transient_sent)},
                                 {"transient_wrong_tries", std::to_string(transient_wrong)},
                                 {"backoff_short", std::to_string(backoff_short)},
                                 {"first_retry_min_s", Fixed(shortest_first_retry, 2)},
                                 {"5xx_failed", std::to_string(refused_failed)},
                                 {"5xx_retried", std::to_string(refused_retried)},
                                 {"5xx_suppressed", std::to_string(refused_suppressed)},
                                 {"511_failed", std::to_string(bounce_failed)},
                                 {"511_suppressed", std::to_string(bounced_suppressed)},
                                 {"elapsed_s", Fixed(done - started)}});
  PrintRow("relay_4xx_5xx", figures);

  ASSERT_TRUE(settled);
  EXPECT_EQ(transient_wrong, 0) << "4xx recipients not accepted at their third try";
  EXPECT_EQ(transient_sent, group);
  EXPECT_EQ(backoff_short, 0) << "retries sooner than the backoff";
  EXPECT_EQ(refused_failed, group) << "5xx recipients not failed";
  EXPECT_EQ(refused_retried, 0) << "5xx recipients tried more than once";
  EXPECT_EQ(bounce_failed, group);
  EXPECT_EQ(bounce_retried, 0);
  EXPECT_EQ(refused_suppressed, 0) << "a policy refusal (5.7.1) suppressed the address";
  EXPECT_EQ(bounced_suppressed, group) << "a bad mailbox (5.1.1) was not suppressed";
  EXPECT_EQ(j.duplicates, 0);
  ExpectNothingLostAndOptOutsKept(j);
  ExpectNoPersonalData({worker->Log(), api->Log()});
}

// FAULT-6: the first SMS provider answers 429 with Retry-After (a storm), then 5xx; the
// second provider carries the campaign. No number is asked again before the Retry-After it
// was given, nothing is lost and nobody gets two messages.
TEST_F(FaultMatrix, SmsProviderRateLimitStormThenServerErrors) {
  FAULT_REQUIRE_ENVIRONMENT();
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  const std::string dsn = db->dsn();
  auto subjects = MakeRecipients(dsn, size_.recipients, /*phones=*/true);
  constexpr int kRetryAfterS = 4;
  testing::SmsProviderStandIn primary, secondary;
  primary.AnswerTwilioWith(429, kRetryAfterS);
  Settings s;
  s.lease_s = size_.lease_s;
  s.send_concurrency = size_.send_concurrency;
  const std::string providers =
      "dispatch:\n  workers: 2\n  batch_size: 50\n  lease_s: " + std::to_string(s.lease_s) +
      "\n  send_concurrency: " + std::to_string(s.send_concurrency) +
      "\n  retry_base_s: 1\n"
      "providers:\n"
      "  - name: primary\n    kind: twilio\n    country: RU\n    priority: 1\n"
      "    breaker_failures: 3\n    breaker_open_s: 2\n"
      "    settings:\n      base_url: " +
      primary.base_url() +
      "\n      account_sid: AC123\n      from: Herald\n"
      "  - name: second\n    kind: json_sms\n    country: RU\n    priority: 2\n"
      "    settings:\n      url: " +
      secondary.json_url() +
      "\n      from: Herald\n      auth_header: X-Api-Key\n"
      "      body_template: '{\"to\":\"{{to}}\",\"text\":\"{{body}}\"}'\n";
  auto start = [&](const std::string& roles) {
    auto p = std::make_unique<HeralddProcess>(dsn, "roles: [" + roles + "]\n" + providers);
    p->AddEnv("HERALD_PROVIDER_PRIMARY_SECRET=token-1");
    p->AddEnv("HERALD_PROVIDER_SECOND_SECRET=token-2");
    p->Start();
    return p;
  };
  auto worker = start("worker");
  auto api = start("api");
  auto victims = Victims(subjects, size_.opt_outs);
  const double started = Now();
  StartCampaign(*api, subjects, v1::SMS, "sms-storm");
  OptOutRace race([&] { return api->Channel(); }, victims, 1, std::chrono::milliseconds(20));
  // The storm lasts until the breaker opened (3 failures) and its first probe was refused
  // too; then the primary fails outright.
  ASSERT_TRUE(Eventually([&] { return primary.requests().size() >= 4; }, std::chrono::seconds(30),
                         std::chrono::milliseconds(20)))
      << "the primary was asked " << primary.requests().size() << " times; "
      << worker->Log().substr(0, 3000);
  primary.AnswerTwilioWith(503);
  race.Join();
  const bool settled = WaitUntilSettled(dsn, std::chrono::seconds(120));
  const double done = Now();

  // Every request, both providers, per number, in time order.
  std::map<std::string, std::vector<testing::SmsRequest>> per_number;
  for (const auto& r : primary.requests()) per_number[r.to].push_back(r);
  for (const auto& r : secondary.requests()) per_number[r.to].push_back(r);
  int early = 0, rate_limited = 0;
  double shortest_wait = 1e9;
  std::map<std::string, std::vector<double>> accepted;
  for (auto& [number, requests] : per_number) {
    std::sort(requests.begin(), requests.end(),
              [](const auto& a, const auto& b) { return a.time < b.time; });
    for (size_t i = 0; i < requests.size(); ++i) {
      if (requests[i].status / 100 == 2) accepted[number].push_back(requests[i].time);
      if (requests[i].status != 429) continue;
      ++rate_limited;
      if (i + 1 < requests.size()) {
        double wait = requests[i + 1].time - requests[i].time;
        shortest_wait = std::min(shortest_wait, wait);
        early += wait < kRetryAfterS - 0.05;
      }
    }
  }
  // The provider as a whole: requests to the primary (any number) sooner than the Retry-After
  // of an earlier 429 from it. A figure, not a verdict: a 429 holds the provider from the
  // moment its answer is read (ProviderRegistry), but the lanes' requests already on the way
  // then (up to send_concurrency - 1) arrive after it and count here.
  int provider_early = 0;
  {
    auto asked = primary.requests();
    std::sort(asked.begin(), asked.end(),
              [](const auto& a, const auto& b) { return a.time < b.time; });
    double quiet_until = 0;
    for (const auto& r : asked) {
      provider_early += r.time < quiet_until - 0.05;
      if (r.status == 429) quiet_until = std::max(quiet_until, r.time + kRetryAfterS);
    }
  }
  auto j = Judge(dsn, v1::SMS, accepted, race.acknowledged());
  int64_t primary_accepted = static_cast<int64_t>(primary.sent().size());
  auto figures = Figures(j, size_);
  figures.insert(figures.end(),
                 {{"primary_requests", std::to_string(primary.requests().size())},
                  {"primary_429", std::to_string(rate_limited)},
                  {"retry_after_s", std::to_string(kRetryAfterS)},
                  {"retried_before_retry_after", std::to_string(early)},
                  {"provider_asked_within_retry_after", std::to_string(provider_early)},
                  {"shortest_wait_after_429_s", Fixed(shortest_wait == 1e9 ? 0 : shortest_wait, 2)},
                  {"second_accepted", std::to_string(secondary.sent().size())},
                  {"elapsed_s", Fixed(done - started)}});
  PrintRow("sms_429_then_5xx", figures);

  ASSERT_TRUE(settled);
  EXPECT_GT(rate_limited, 0) << "the storm never reached a message";
  EXPECT_EQ(early, 0) << "numbers asked again before the Retry-After they were given";
  EXPECT_EQ(primary_accepted, 0);
  EXPECT_GT(secondary.sent().size(), 0u) << "no failover to the second provider";
  EXPECT_EQ(j.duplicates, 0);
  ExpectNothingLostAndOptOutsKept(j);
  ExpectNoPersonalData({worker->Log(), api->Log()});
}

// Message ids (X-Herald-Message-Id) in the messages a FaultySmtpRelay read to their end, with
// how often each came.
std::map<std::string, int> RelayedIds(const testing::FaultySmtpRelay& relay) {
  std::map<std::string, int> ids;
  for (const auto& m : relay.Messages()) {
    const std::string field = "X-Herald-Message-Id: ";
    size_t at = m.find(field);
    if (at == std::string::npos) continue;
    at += field.size();
    ++ids[m.substr(at, m.find("\r\n", at) - at)];
  }
  return ids;
}

// FAULT-9: SIGTERM while the worker's sends wait: lanes wait for the relay's slow rate, and one
// send is stalled at the relay (its DATA never answered) with a relay timeout far beyond the
// drain period. heraldd exits 0 within the drain period instead of sitting the waits out; the
// messages it had not sent are handed back, and after a restart every recipient gets the
// campaign exactly once.
TEST_F(FaultMatrix, SigtermWhileSendsWait) {
  FAULT_REQUIRE_ENVIRONMENT();
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  const std::string dsn = db->dsn();
  // The rate, not the size, sets this row's length: a fixed small campaign.
  constexpr int kRecipients = 24;
  auto subjects = MakeRecipients(dsn, kRecipients);
  // The third DATA command (over all connections) is never answered; every other one is.
  testing::FaultySmtpRelay relay([](int n) {
    return n == 2 ? testing::RelayFault::kNoAnswerToData : testing::RelayFault::kNone;
  });
  constexpr int kRelayTimeoutS = 120;
  // heraldd's drain: in-flight calls get 10 s (main.cc), the worker stops meanwhile; the
  // deployment's grace period is 30 s. A generous bound, still far below the relay timeout
  // that a stalled send used to sit out.
  constexpr auto kDrainBound = std::chrono::seconds(25);
  const std::string config =
      "roles: [api, worker]\n"
      "email:\n  from_address: news@herald.test\n"
      "dispatch:\n  workers: 2\n  batch_size: 50\n  lease_s: 30\n  send_concurrency: 4\n"
      "  retry_base_s: 1\n"
      "providers:\n  - name: relay\n    kind: smtp\n    country: RU\n"
      "    rate_per_second: 2\n    burst: 1\n"
      "    settings:\n      url: " +
      relay.Url() + "\n      starttls: none\n      max_connections: 16\n      timeout_s: " +
      std::to_string(kRelayTimeoutS) + "\n";
  auto first = Start(dsn, config);
  StartCampaign(*first, subjects, v1::EMAIL, "sigterm-waits");
  // Four messages through means the stalled DATA (the third) is under way, and the other
  // lanes are waiting for their tokens.
  ASSERT_TRUE(Eventually([&] { return relay.Messages().size() >= 4; }, std::chrono::seconds(60),
                         std::chrono::milliseconds(20)))
      << "the campaign never got going: " << relay.Messages().size() << " messages";
  ASSERT_LT(relay.Messages().size(), static_cast<size_t>(kRecipients)) << "nothing left to wait";

  const auto stop_started = std::chrono::steady_clock::now();
  const int status = first->Stop(SIGTERM);
  const auto stop_took = std::chrono::steady_clock::now() - stop_started;
  const size_t before_restart = relay.Messages().size();

  auto second = Start(dsn, config);
  const bool settled = WaitUntilSettled(dsn, std::chrono::seconds(120));
  const auto ids = RelayedIds(relay);
  int64_t duplicates = 0, missing = 0;
  pqxx::connection conn(dsn);
  pqxx::read_transaction txn(conn);
  for (const auto& r : txn.exec("SELECT id::text, status FROM messages")) {
    auto it = ids.find(r[0].as<std::string>());
    const int copies = it == ids.end() ? 0 : it->second;
    duplicates += std::max(0, copies - 1);
    missing += copies == 0;
    EXPECT_EQ(r[1].as<std::string>(), "sent") << "message " << r[0].as<std::string>();
  }
  PrintRow("sigterm_while_waiting",
           {{"recipients", std::to_string(kRecipients)},
            {"exit_status", std::to_string(status)},
            {"stop_s", Fixed(std::chrono::duration<double>(stop_took).count(), 2)},
            {"sent_before_stop", std::to_string(before_restart)},
            {"duplicates", std::to_string(duplicates)},
            {"lost", std::to_string(missing)}});

  EXPECT_EQ(status, 0) << first->Log();
  EXPECT_LT(stop_took, kDrainBound)
      << "SIGTERM waited for the relay's timeout (" << kRelayTimeoutS << " s) or a rate limit";
  ASSERT_TRUE(settled) << "the campaign did not finish after the restart";
  EXPECT_EQ(ids.size(), static_cast<size_t>(kRecipients));
  EXPECT_EQ(missing, 0);
  EXPECT_EQ(duplicates, 0) << "a message interrupted by the shutdown went out twice";
  ExpectNoPersonalData({first->Log(), second->Log()});
}

// Fills the file system at `dir` with one file until it refuses more; returns its path.
std::string FillDisk(const std::string& dir, int64_t* filled_bytes) {
  std::string path = dir + "/filler";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
  std::vector<char> block(1 << 20, 'x');
  *filled_bytes = 0;
  while (true) {
    ssize_t n = write(fd, block.data(), block.size());
    if (n <= 0) break;
    *filled_bytes += n;
  }
  // The last partial blocks, so not even a page is left.
  for (ssize_t n = 1; n > 0;) {
    n = write(fd, block.data(), 4096);
    if (n > 0) *filled_bytes += n;
  }
  close(fd);
  return path;
}

// FAULT-7: the database's disk fills up mid-campaign (a size-limited tmpfs holds the row's own
// cluster); writes fail with a clear error, nothing is marked sent that was not, and once
// space returns (PostgreSQL started again if it gave up) the campaign finishes.
TEST_F(FaultMatrix, DatabaseDiskFull) {
  FAULT_REQUIRE_ENVIRONMENT();
  std::unique_ptr<OwnCluster> pg;
  try {
    pg = std::make_unique<OwnCluster>("disk-full", 192);
  } catch (const std::exception& e) {
    FAIL() << e.what();  // never a skip: a machine that cannot run this row must say so
  }
  const std::string dsn = pg->CreateDatabase();
  auto subjects = MakeRecipients(dsn, size_.recipients);
  testing::SmtpCapture sink({"--index-only", "--delay-ms", std::to_string(size_.sink_delay_ms)});
  Settings s;
  s.lease_s = size_.lease_s;
  s.send_concurrency = size_.send_concurrency;
  auto worker = Start(dsn, SmtpConfig("worker", sink.port(), s));
  auto api = Start(dsn, SmtpConfig("api", sink.port(), s));
  auto victims = Victims(subjects, size_.opt_outs);
  const double started = Now();
  StartCampaign(*api, subjects, v1::EMAIL, "disk-full");
  OptOutRace race([&] { return api->Channel(); }, victims, 1,
                  Spread(ExpectedSeconds(size_, s.threads * s.send_concurrency) + size_.disk_full_s,
                         size_.opt_outs));
  ASSERT_TRUE(WaitForArrivals(sink, subjects.size() / 4));

  int64_t filled = 0;
  const std::string filler = FillDisk(pg->dir(), &filled);
  const double full = Now();
  // The control: the disk is full for PostgreSQL too (a write of the test's own is refused).
  std::string control_error;
  try {
    pqxx::connection conn(dsn);
    pqxx::work w(conn);
    w.exec(
        "CREATE TABLE fault_ballast AS SELECT g, repeat('x', 1000) AS pad"
        " FROM generate_series(1, 100000) g");
    w.commit();
  } catch (const std::exception& e) {
    control_error = e.what();
  }
  // The service's own writes while the disk is full: opt-outs through the api process.
  auto subs = v1::SubscriptionService::NewStub(api->Channel());
  int writes_failed = 0, writes_ok = 0;
  std::string service_error;
  grpc::StatusCode service_code = grpc::OK;
  for (size_t i = 0; Now() - full < size_.disk_full_s; ++i) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    v1::OptOutRequest r;
    r.set_subject_id(subjects[subjects.size() - 1 - (i % subjects.size())]);
    r.set_scope(v1::CHANNEL);
    r.set_channel(v1::CALL);
    r.mutable_proof()->set_source(v1::CRM);
    v1::OptOutResponse resp;
    auto status = subs->OptOut(&ctx, r, &resp);
    if (status.ok()) {
      ++writes_ok;
    } else {
      if (writes_failed++ == 0) {
        service_code = status.error_code();
        service_error = std::to_string(status.error_code()) + " " + status.error_message();
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::remove(filler.c_str());
  const double freed = Now();
  // PostgreSQL stops for good when it cannot write its WAL; the operator starts it again.
  bool restarted = false;
  if (!Eventually([&] { return pg->Ready(); }, std::chrono::seconds(10),
                  std::chrono::milliseconds(200))) {
    pg->Start();
    restarted = true;
  }
  race.Join();
  const bool settled =
      WaitUntilSettled(dsn, std::chrono::seconds(size_.lease_s * 3 + size_.disk_full_s + 60));
  const double done = Now();
  auto arrivals = ByAddress(sink);
  auto j = Judge(dsn, v1::EMAIL, arrivals, race.acknowledged());
  auto figures = Figures(j, size_);
  figures.insert(figures.end(), {{"full_s", std::to_string(size_.disk_full_s)},
                                 {"filled_mb", std::to_string(filled >> 20)},
                                 {"writes_failed", std::to_string(writes_failed)},
                                 {"writes_ok_while_full", std::to_string(writes_ok)},
                                 {"postgres_restarted", restarted ? "1" : "0"},
                                 {"stall_s", Fixed(LongestGap(AllTimes(arrivals), full, done))},
                                 {"settled_after_s", Fixed(done - freed)},
                                 {"elapsed_s", Fixed(done - started)}});
  PrintRow("disk_full", figures);
  std::cout << "FAULT-7 the test's own write while full: " << control_error.substr(0, 200)
            << "\nFAULT-7 the service's first refused write: " << service_error.substr(0, 200)
            << std::endl;

  EXPECT_NE(control_error.find("No space left on device"), std::string::npos)
      << "the disk was not full: " << control_error;
  EXPECT_GT(writes_failed, 0) << "no write of the service failed while the disk was full";
  // Clear to the caller: a code that says "try again later", not an internal error.
  EXPECT_TRUE(service_code == grpc::UNAVAILABLE || service_code == grpc::RESOURCE_EXHAUSTED)
      << "a write refused for a full disk was answered " << service_error;
  // Clear to the operator: the log names PostgreSQL's SQLSTATE disk_full.
  const std::string logs = worker->Log() + api->Log();
  EXPECT_NE(logs.find("\"sqlstate\":\"53100\""), std::string::npos)
      << "no log line says the database's disk is full";
  ASSERT_TRUE(settled) << "the campaign did not finish once space returned";
  EXPECT_TRUE(Alive(*worker) && Alive(*api)) << "heraldd did not survive the full disk";
  EXPECT_EQ(j.sent_not_delivered, 0) << "marked sent but never at the sink";
  EXPECT_EQ(j.duplicates, 0) << "messages sent twice across the database's failure";
  ExpectNothingLostAndOptOutsKept(j);
  ExpectNoPersonalData({worker->Log(), api->Log()});
}

}  // namespace
}  // namespace herald::fault_matrix
