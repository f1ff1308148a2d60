// The providers as the outside world sees them: a rate limit held at a real SMTP sink, a dead
// relay taken out by its circuit breaker with the traffic moving to the next provider, a relay
// that comes back after an outage, and volume into Postfix's smtp-sink. What was delivered is
// read from the sinks (their capture files, smtp-sink's counter) and from PostgreSQL; the
// service's own reports are checked against those, never trusted alone.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <set>
#include <sstream>
#include <thread>

#include "herald/v1/dispatch.grpc.pb.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/eventually.h"
#include "tests/support/faulty_smtp_relay.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/outbox.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

// Predicates here query the database on a new connection each time: polled every 100 ms,
// as before, so the waiting does not load the server whose throughput is measured.
constexpr std::chrono::milliseconds kDbPoll(100);

using testing::Eventually;
using testing::HeralddProcess;
using testing::Number;
using Clock = std::chrono::steady_clock;

// Outbox::Complete's history note for a message an open circuit refused: not an attempt.
constexpr char kCircuitOpen[] = "provider circuit open; not attempted";

// The value of the series `name` whose labels include every one of `labels` ("k=\"v\""), from
// a scrape of the ops listener's /metrics; -1 when no such series is exported.
double Metric(const HeralddProcess& server, const std::string& name,
              const std::vector<std::string>& labels = {}) {
  std::string text;
  if (testing::HttpGet(server.ops_port(), "/metrics", &text) != 200) return -1;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind(name + "{", 0) != 0 && line.rfind(name + " ", 0) != 0) continue;
    bool all = true;
    for (const auto& l : labels) all = all && line.find(l) != std::string::npos;
    if (all) return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

// One SMTP provider entry of the providers list; `extra` adds keys such as a rate limit.
std::string SmtpProvider(const std::string& name, int port, const std::string& extra = "") {
  return "  - name: " + name + "\n    kind: smtp\n    country: RU\n" + extra +
         "    settings:\n      url: smtp://127.0.0.1:" + std::to_string(port) +
         "\n      starttls: none\n      max_connections: 4\n      timeout_s: 5\n";
}

// The extra config: sender, dispatch tuning (a one-second retry base so that retries happen
// within the test), and the providers.
// Each worker sends up to kSendConcurrency messages of its batch at once.
constexpr int kSendConcurrency = 4;
std::string Config(const std::string& providers, int workers = 2) {
  return "email:\n  from_address: news@herald.test\n"
         "dispatch:\n  workers: " +
         std::to_string(workers) + "\n  batch_size: 50\n  retry_base_s: 1\n  send_concurrency: " +
         std::to_string(kSendConcurrency) +
         "\n"
         "providers:\n" +
         providers;
}

void FillContent(v1::Content* c) {
  c->set_subject("Offer for {{surname}}");
  c->set_text("Hello {{surname}}");
}

// Creates, fills and starts a campaign to `subjects`; returns its id.
std::string StartCampaign(HeralddProcess& server, const std::vector<std::string>& subjects) {
  v1::Content content;
  FillContent(&content);
  return testing::StartCampaign(server, subjects, content, "providers");
}

// One Send per subject, each with its own idempotency key; returns the message ids.
std::vector<std::string> SendEach(HeralddProcess& server, const std::vector<std::string>& subjects,
                                  const std::string& key_prefix) {
  auto stub = v1::DispatchService::NewStub(server.Channel());
  std::vector<std::string> ids;
  for (size_t i = 0; i < subjects.size(); ++i) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::SendRequest r;
    r.set_idempotency_key(key_prefix + std::to_string(i));
    r.mutable_recipient()->set_subject_id(subjects[i]);
    r.set_channel(v1::EMAIL);
    r.set_topic("special_offers");
    FillContent(r.mutable_content());
    v1::SendResponse resp;
    auto status = stub->Send(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(resp.status(), v1::QUEUED);
    ids.push_back(resp.message_id());
  }
  return ids;
}

v1::Message GetMessage(HeralddProcess& server, const std::string& id) {
  auto stub = v1::DispatchService::NewStub(server.Channel());
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kCrmKey);
  v1::GetMessageRequest r;
  r.set_message_id(id);
  v1::Message m;
  auto status = stub->GetMessage(&ctx, r, &m);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return m;
}

using Arrival = testing::SmtpCapture::Arrival;

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// A capturing server on a port chosen by the test. The script's argparse keeps the last
// --port given, so ours overrides the "--port 0" that SmtpCapture passes first.
std::unique_ptr<testing::SmtpCapture> CaptureOnPort(int port) {
  auto capture = std::make_unique<testing::SmtpCapture>(
      std::vector<std::string>{"--port", std::to_string(port)});
  if (capture->port() != port) {
    throw std::runtime_error("the capture listens on " + std::to_string(capture->port()) +
                             ", not on " + std::to_string(port));
  }
  return capture;
}

// Postfix's smtp-sink on a free loopback port, its running counters (-c) written to a file.
class SmtpSink {
 public:
  static constexpr char kPath[] = "/usr/sbin/smtp-sink";

  SmtpSink() {
    char tmpl[] = "/tmp/smtp-sink.XXXXXX";
    dir_ = mkdtemp(tmpl);
    port_ = testing::FreePort();
    std::string listen = "127.0.0.1:" + std::to_string(port_);
    std::string counters = dir_ + "/counters";
    pid_ = fork();
    if (pid_ == 0) {
      FILE* out = std::fopen(counters.c_str(), "w");
      if (out) {
        dup2(fileno(out), 1);
        dup2(fileno(out), 2);
      }
      // As root it must be told whom to run as; 1000 is the listen backlog.
      if (geteuid() == 0) {
        execl(kPath, kPath, "-c", "-u", "postfix", listen.c_str(), "1000",
              static_cast<char*>(nullptr));
      } else {
        execl(kPath, kPath, "-c", listen.c_str(), "1000", static_cast<char*>(nullptr));
      }
      _exit(127);
    }
    if (!Eventually([&] { return Accepts(); }, std::chrono::seconds(5))) {
      throw std::runtime_error("smtp-sink did not listen on " + listen + ": " + Output());
    }
  }

  ~SmtpSink() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  int port() const { return port_; }

  // Messages whose DATA completed, by smtp-sink's own count ("sess=N quit=N mesg=N\r").
  int64_t Messages() const {
    std::string out = Output();
    auto at = out.rfind("mesg=");
    return at == std::string::npos ? 0 : std::stoll(out.substr(at + 5));
  }

 private:
  bool Accepts() const {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    return ok;
  }

  std::string Output() const {
    std::ifstream in(dir_ + "/counters");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// 400 messages through a provider limited to 50/s with a burst of 1: the sink sees them
// arrive at 50/s (within 10%) once the first second is past.
TEST(DispatchProvidersTest, RateLimitIsNeverExceededByMoreThanTenPercent) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  constexpr double kRate = 50;
  constexpr int kMessages = 400;
  testing::SmtpCapture sink;
  HeralddProcess server(db->dsn(), Config(SmtpProvider("limited", sink.port(),
                                                       "    rate_per_second: 50\n    burst: 1\n")));
  server.Start();
  auto subjects = testing::MakeSubjects(*db, kMessages, "p");
  StartCampaign(server, subjects);
  ASSERT_TRUE(Eventually(
      [&] {
        return Number(*db, "SELECT count(*) FROM messages WHERE status = 'sent'") == kMessages;
      },
      std::chrono::seconds(40), kDbPoll))
      << "not all messages were sent; by status: "
      << db->Scalar(
             "SELECT string_agg(status || '=' || n, ', ') FROM"
             " (SELECT status, count(*) n FROM messages GROUP BY status) s");

  auto arrivals = sink.Arrivals();
  ASSERT_EQ(arrivals.size(), static_cast<size_t>(kMessages));
  std::set<std::string> distinct;
  for (const auto& a : arrivals) distinct.insert(a.message_id);
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kMessages)) << "a message arrived twice";
  std::vector<double> times;
  for (const auto& a : arrivals) times.push_back(a.time);
  std::sort(times.begin(), times.end());
  std::vector<double> steady;
  for (double t : times) {
    if (t >= times.front() + 1.0) steady.push_back(t);
  }
  ASSERT_GE(steady.size(), 200u) << "the run was too short to measure";
  double span = steady.back() - steady.front();
  double rate = static_cast<double>(steady.size() - 1) / span;
  // The busiest whole second of the steady part: a burst of 1 leaves no room to catch up.
  size_t busiest = 0;
  for (size_t i = 0, j = 0; i < steady.size(); ++i) {
    while (steady[j] <= steady[i] - 1.0) ++j;
    busiest = std::max(busiest, i - j + 1);
  }
  std::cout << "rate limit " << kRate << "/s: " << steady.size() << " messages in " << span
            << " s after the first second = " << rate << "/s; busiest second " << busiest
            << "; whole run " << times.back() - times.front() << " s\n";
  // The limit is a ceiling: never more than 10 % over it. Falling short is not a limiter
  // fault (a loaded 2-core CI machine can't always keep 50/s), so only a collapse fails.
  EXPECT_LE(rate, kRate * 1.1);
  EXPECT_GE(rate, kRate * 0.5) << "the limiter throttled far below its rate";
  EXPECT_LE(static_cast<double>(busiest), kRate * 1.1 + 1);
}

// Priority 1 points at a port where nothing listens, priority 2 at a capture server. The
// dead relay is tried until its breaker opens (5 consecutive failures), then left alone;
// every message ends at the second provider, exactly once, those that met the first after a
// recorded, failed attempt (code 0) and a retry.
TEST(DispatchProvidersTest, FailingProviderIsTakenOutAndTrafficMovesToTheNext) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  constexpr int kMessages = 30;
  constexpr int kWorkers = 2;
  constexpr int kBreakerFailures = 5;
  testing::SmtpCapture backup_sink;
  int dead_port = testing::FreePort();  // bound and released: nothing listens there
  // The breaker stays open far longer than the test, so no half-open probe muddies the count.
  HeralddProcess server(
      db->dsn(),
      Config(SmtpProvider("primary", dead_port,
                          "    priority: 1\n    breaker_failures: 5\n    breaker_open_s: 600\n") +
                 SmtpProvider("backup", backup_sink.port(), "    priority: 2\n"),
             kWorkers));
  server.AddEnv("HERALD_OPS_METRICS_CACHE_MS=0");  // each scrape reads the figures anew
  server.Start();
  auto start = Clock::now();
  auto ids = SendEach(server, testing::MakeSubjects(*db, kMessages, "p"), "failover-");
  ASSERT_TRUE(Eventually(
      [&] {
        return Number(*db, "SELECT count(*) FROM messages WHERE status = 'sent'") == kMessages;
      },
      std::chrono::seconds(30), kDbPoll))
      << "by status: "
      << db->Scalar(
             "SELECT string_agg(status || '=' || n, ', ') FROM"
             " (SELECT status, count(*) n FROM messages GROUP BY status) s")
      << "\n"
      << server.Log();
  double took = Since(start);

  // The sink's view: every message once, nothing else.
  auto captured = testing::CapturedMessageIds(backup_sink);
  EXPECT_EQ(captured.size(), static_cast<size_t>(kMessages));
  for (const auto& id : ids) EXPECT_EQ(captured[id], 1) << id;

  int met_primary = 0, connects_to_primary = 0, refused_by_breaker = 0;
  for (const auto& id : ids) {
    auto m = GetMessage(server, id);
    EXPECT_EQ(m.status(), v1::SENT) << id;
    ASSERT_GE(m.attempt_log_size(), 1) << id;
    const auto& last = m.attempt_log(m.attempt_log_size() - 1);
    EXPECT_EQ(last.provider(), "backup") << id;
    EXPECT_EQ(last.outcome(), "SENT") << id;
    EXPECT_EQ(last.code(), 250) << id;
    EXPECT_EQ(last.number(), m.attempt_log_size()) << id;
    bool on_primary = false;
    for (int i = 0; i + 1 < m.attempt_log_size(); ++i) {
      const auto& a = m.attempt_log(i);
      EXPECT_EQ(a.provider(), "primary") << id;
      EXPECT_EQ(a.outcome(), "RETRY") << id;
      EXPECT_EQ(a.code(), 0) << id << " " << a.detail();
      on_primary = true;
      ++connects_to_primary;
    }
    // Refusals by the open breaker are history notes, never attempts.
    for (const auto& h : m.history()) {
      if (h.note() == kCircuitOpen) {
        ++refused_by_breaker;
        on_primary = true;
      }
    }
    if (on_primary) {
      ++met_primary;
      // It was retried: it went through RETRYING before it was sent.
      bool retried = false;
      for (const auto& h : m.history()) retried = retried || h.status() == v1::RETRYING;
      EXPECT_TRUE(retried) << id;
    }
  }
  std::cout << "failover: " << kMessages << " sent via backup in " << took << " s; " << met_primary
            << " met the dead primary first (" << connects_to_primary << " connection attempts, "
            << refused_by_breaker << " refused by its open breaker)\n";
  // The breaker opened after its threshold: every concurrent send of every worker may have
  // had one attempt in flight when the last counted failure landed, and no more reached the
  // dead relay.
  EXPECT_GE(connects_to_primary, kBreakerFailures);
  EXPECT_LE(connects_to_primary, kBreakerFailures + kWorkers * kSendConcurrency - 1);
  EXPECT_GE(met_primary, kBreakerFailures);

  // What an operator's dashboard and alerts read agrees with the messages' own records: the
  // dead relay's circuit is open, every send and refusal is counted by provider and outcome,
  // every message passed the gate, and the outbox is empty.
  EXPECT_EQ(Metric(server, "herald_provider_circuit_open", {"provider=\"primary\""}), 1);
  EXPECT_EQ(Metric(server, "herald_provider_circuit_open", {"provider=\"backup\""}), 0);
  EXPECT_EQ(
      Metric(server, "herald_dispatch_sends_total", {"provider=\"backup\"", "outcome=\"sent\""}),
      kMessages);
  EXPECT_EQ(
      Metric(server, "herald_dispatch_sends_total", {"provider=\"primary\"", "outcome=\"retry\""}),
      connects_to_primary);
  // A counter never incremented is not exported: when the breaker opened only after the
  // last message had left the primary (it happens), there is no refusal series at all.
  const double refusals = Metric(server, "herald_dispatch_sends_total",
                                 {"provider=\"primary\"", "outcome=\"circuit_open\""});
  EXPECT_EQ(refused_by_breaker == 0 && refusals < 0 ? 0 : refusals, refused_by_breaker);
  EXPECT_GE(
      Metric(server, "herald_gate_decisions_total", {"decision=\"allow\"", "reason=\"NONE\""}),
      kMessages);
  for (const char* state : {"queued", "retrying", "sending"}) {
    EXPECT_EQ(Metric(server, "herald_outbox_messages", {std::string("state=\"") + state + "\""}), 0)
        << state;
  }
  EXPECT_EQ(Metric(server, "herald_outbox_oldest_age_seconds"), 0);
}

// The only relay is down (nothing listens on its port): 20 messages are tried, fail with
// code 0, and wait in RETRYING while the breaker is open. Then a server starts on that port;
// the half-open probe gets through and every message is delivered, each exactly once.
TEST(DispatchProvidersTest, RelayDownThenUpLosesNothing) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  constexpr int kMessages = 20;
  int port = testing::FreePort();
  HeralddProcess server(
      db->dsn(),
      Config(SmtpProvider("relay", port, "    breaker_failures: 5\n    breaker_open_s: 2\n")));
  server.AddEnv("HERALD_OPS_METRICS_CACHE_MS=0");  // each scrape reads the figures anew
  server.Start();
  auto start = Clock::now();
  auto ids = SendEach(server, testing::MakeSubjects(*db, kMessages, "p"), "outage-");
  ASSERT_TRUE(Eventually(
      [&] {
        return Number(*db, "SELECT count(*) FROM messages WHERE status = 'retrying'") ==
                   kMessages &&
               Number(*db, "SELECT count(*) FROM message_attempts") >= 5;
      },
      std::chrono::seconds(20), kDbPoll))
      << "the messages did not all wait in RETRYING with failed attempts\n"
      << server.Log();
  double down_for = Since(start);
  EXPECT_EQ(Number(*db,
                   "SELECT count(*) FROM message_attempts WHERE outcome <> 'RETRY'"
                   " OR code <> 0"),
            0)
      << "an attempt against a dead relay did not fail as a transport failure";
  int64_t failed_attempts = Number(*db, "SELECT count(*) FROM message_attempts");
  // The outage as the dashboard shows it: every message waits to be retried.
  EXPECT_TRUE(Eventually(
      [&] { return Metric(server, "herald_outbox_messages", {"state=\"retrying\""}) == kMessages; },
      std::chrono::seconds(10), kDbPoll));
  // The breaker took the relay out, so recovery has to go through its half-open probe. It
  // refuses a message in one of two places, whichever comes first: a lane holding a message
  // claimed before it opened (kCircuitOpen), or the claim itself once it is open (no provider
  // is available, so the message waits).
  EXPECT_GE(Number(*db, "SELECT count(*) FROM message_history WHERE note IN ('" +
                            std::string(kCircuitOpen) + "', 'no provider available')"),
            1);

  auto relay = CaptureOnPort(port);
  ASSERT_TRUE(Eventually(
      [&] {
        return Number(*db, "SELECT count(*) FROM messages WHERE status = 'sent'") == kMessages;
      },
      std::chrono::seconds(30), kDbPoll))
      << "by status: "
      << db->Scalar(
             "SELECT string_agg(status || '=' || n, ', ') FROM"
             " (SELECT status, count(*) n FROM messages GROUP BY status) s")
      << "\n"
      << server.Log();
  double recovered_after = Since(start) - down_for;
  // Nothing arrives late, twice or extra.
  ASSERT_OUTBOX_SETTLED(*db);
  auto captured = testing::CapturedMessageIds(*relay);
  EXPECT_EQ(captured.size(), static_cast<size_t>(kMessages));
  for (const auto& id : ids) EXPECT_EQ(captured[id], 1) << id;

  int max_attempts = 0;
  for (const auto& id : ids) {
    auto m = GetMessage(server, id);
    EXPECT_EQ(m.status(), v1::SENT) << id;
    bool retried = false;
    for (const auto& h : m.history()) retried = retried || h.status() == v1::RETRYING;
    EXPECT_TRUE(retried) << id << " never waited";
    ASSERT_GE(m.attempt_log_size(), 1) << id;
    for (int i = 0; i + 1 < m.attempt_log_size(); ++i) {
      EXPECT_EQ(m.attempt_log(i).outcome(), "RETRY") << id;
      EXPECT_EQ(m.attempt_log(i).code(), 0) << id;
    }
    EXPECT_EQ(m.attempt_log(m.attempt_log_size() - 1).code(), 250) << id;
    max_attempts = std::max(max_attempts, m.attempt_log_size());
  }
  std::cout << "outage: all " << kMessages << " in RETRYING after " << down_for << " s ("
            << failed_attempts << " failed attempts); all sent " << recovered_after
            << " s after the relay came up; at most " << max_attempts
            << " attempts for one message\n";
}

// A 5,000-recipient campaign into Postfix's smtp-sink, as fast as the service goes: every
// message SENT, and the sink counted exactly that many.
TEST(DispatchProvidersTest, SmtpSinkTakesVolume) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  if (access(SmtpSink::kPath, X_OK) != 0) {
    if (testing::InCi()) FAIL() << SmtpSink::kPath << " is missing under CI";
    GTEST_SKIP() << SmtpSink::kPath << " is not installed (Debian: postfix)";
  }
  constexpr int kMessages = 5000;
  SmtpSink sink;
  HeralddProcess server(db->dsn(), Config(SmtpProvider("postfix", sink.port()), 4));
  server.Start();
  auto subjects = testing::MakeSubjects(*db, kMessages, "p");
  auto start = Clock::now();
  StartCampaign(server, subjects);
  double sink_done = 0;
  ASSERT_TRUE(Eventually(
      [&] {
        if (sink_done == 0 && sink.Messages() >= kMessages) sink_done = Since(start);
        return Number(*db, "SELECT count(*) FROM messages WHERE status = 'sent'") == kMessages;
      },
      std::chrono::seconds(60), kDbPoll))
      << "by status: "
      << db->Scalar(
             "SELECT string_agg(status || '=' || n, ', ') FROM"
             " (SELECT status, count(*) n FROM messages GROUP BY status) s")
      << "; the sink counted " << sink.Messages();
  double all_sent = Since(start);
  if (sink_done == 0) sink_done = all_sent;
  EXPECT_EQ(sink.Messages(), kMessages);
  EXPECT_EQ(Number(*db, "SELECT count(*) FROM message_attempts"), kMessages)
      << "some messages needed more than one attempt";
  std::cout << "smtp-sink: " << kMessages << " messages at the sink in " << sink_done << " s ("
            << kMessages / sink_done << " msg/s), all SENT in the database after " << all_sent
            << " s (" << kMessages / all_sent << " msg/s)\n";
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// The campaign's own rate, below an unlimited provider's, paces its messages.
TEST(DispatchProvidersTest, CampaignRateIsHeld) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  constexpr double kRate = 25;
  constexpr int kMessages = 150;
  testing::SmtpCapture sink;
  HeralddProcess server(db->dsn(), Config(SmtpProvider("fast", sink.port())));
  server.Start();
  auto stub = v1::DispatchService::NewStub(server.Channel());
  v1::CreateCampaignResponse created;
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::CreateCampaignRequest r;
    r.set_idempotency_key("paced");
    r.set_name("Paced");
    r.set_topic("special_offers");
    r.set_channel(v1::EMAIL);
    FillContent(r.mutable_content());
    r.set_rate_per_second(kRate);
    ASSERT_TRUE(stub->CreateCampaign(&ctx, r, &created).ok());
  }
  auto subjects = testing::MakeSubjects(*db, kMessages, "p");
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::AddRecipientsResponse added;
    auto writer = stub->AddRecipients(&ctx, &added);
    v1::AddRecipientsRequest m;
    m.set_campaign_id(created.campaign().id());
    for (const auto& id : subjects) m.add_rows()->set_subject_id(id);
    writer->Write(m);
    writer->WritesDone();
    ASSERT_TRUE(writer->Finish().ok());
  }
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::StartCampaignRequest s;
    s.set_campaign_id(created.campaign().id());
    v1::Campaign c;
    ASSERT_TRUE(stub->StartCampaign(&ctx, s, &c).ok());
  }
  ASSERT_TRUE(Eventually(
      [&] {
        return Number(*db, "SELECT count(*) FROM messages WHERE status = 'sent'") == kMessages;
      },
      std::chrono::seconds(40), kDbPoll));
  std::vector<double> times;
  for (const auto& a : sink.Arrivals()) times.push_back(a.time);
  std::sort(times.begin(), times.end());
  std::vector<double> steady;
  for (double t : times) {
    if (t >= times.front() + 1.0) steady.push_back(t);
  }
  ASSERT_GE(steady.size(), 100u);
  double rate = static_cast<double>(steady.size() - 1) / (steady.back() - steady.front());
  std::cout << "campaign rate " << kRate << "/s: measured " << rate << "/s\n";
  // The limit is a ceiling: never more than 10 % over it. Falling short is not a limiter
  // fault (a loaded 2-core CI machine can't always keep 50/s), so only a collapse fails.
  EXPECT_LE(rate, kRate * 1.1);
  EXPECT_GE(rate, kRate * 0.5) << "the limiter throttled far below its rate";
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// A batch that would outlive its lease is handed back before the lease runs out, so no
// reclaiming worker sends a message twice.
TEST(DispatchProvidersTest, ABatchLongerThanItsLeaseIsHandedBackNotSentTwice) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  constexpr int kMessages = 30;
  testing::SmtpCapture sink;
  std::string config =
      "email:\n  from_address: news@herald.test\n"
      "dispatch:\n  workers: 2\n  batch_size: 30\n  lease_s: 5\n"
      "  retry_base_s: 1\nproviders:\n" +
      SmtpProvider("slow", sink.port(), "    rate_per_second: 5\n    burst: 1\n");
  HeralddProcess server(db->dsn(), config);
  server.Start();
  auto subjects = testing::MakeSubjects(*db, kMessages, "p");
  StartCampaign(server, subjects);
  ASSERT_TRUE(Eventually(
      [&] {
        return Number(*db, "SELECT count(*) FROM messages WHERE status = 'sent'") == kMessages;
      },
      std::chrono::seconds(60), kDbPoll))
      << server.Log();
  auto captured = testing::CapturedMessageIds(sink);
  EXPECT_EQ(captured.size(), static_cast<size_t>(kMessages));
  for (const auto& [id, n] : captured) EXPECT_EQ(n, 1) << id;
  // It really happened: some messages were handed back with their lease nearly over.
  EXPECT_GE(Number(*db,
                   "SELECT count(*) FROM message_history"
                   " WHERE note = 'lease nearly over; not attempted'"),
            1);
}

// With no worker to claim it (an api and web process only), a due message shows as waiting
// for longer and longer: what the "outbox not draining" alert reads.
TEST(DispatchMetricsTest, ADueMessageNobodyClaimsShowsAsWaiting) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  HeralddProcess server(db->dsn(), "roles: [api, web]\n" + Config(SmtpProvider("relay", 9)));
  server.AddEnv("HERALD_OPS_METRICS_CACHE_MS=0");
  server.Start();
  SendEach(server, testing::MakeSubjects(*db, 1, "w"), "waiting-");
  EXPECT_TRUE(Eventually([&] { return Metric(server, "herald_outbox_oldest_age_seconds") >= 1.0; },
                         std::chrono::seconds(10), std::chrono::milliseconds(200)))
      << "the waiting message's age was never reported";
  EXPECT_EQ(Metric(server, "herald_outbox_messages", {"state=\"queued\""}), 1);
  EXPECT_EQ(Metric(server, "herald_dispatch_sends_total"), -1) << "nothing was sent";
  // A campaign's progress, by state, as its messages stand.
  std::string campaign = StartCampaign(server, testing::MakeSubjects(*db, 3, "c"));
  const int64_t queued = Number(*db,
                                "SELECT count(*) FROM messages WHERE status = 'queued'"
                                " AND campaign_id = '" +
                                    campaign + "'");
  EXPECT_GE(queued, 3);
  EXPECT_TRUE(Eventually(
      [&] {
        return Metric(server, "herald_campaign_messages",
                      {"campaign_id=\"" + campaign + "\"", "state=\"queued\""}) == queued;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(200)))
      << "the campaign's queued messages were not reported";
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// The relay takes the first message whole, its "." included, and never answers; later ones
// it answers. The first message ends SENT with one MAYBE_SENT attempt and is not sent again:
// after a later message went through the same worker, the relay still holds it once and it
// still has its one attempt. GetMessage and the metric show it under its own outcome.
TEST(DispatchProvidersTest, AMessageTheRelayTookButNeverAnsweredIsSentOnceAsMaybeSent) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  testing::FaultySmtpRelay relay([](int n) {
    return n == 0 ? testing::RelayFault::kHangAfterEndOfData : testing::RelayFault::kNone;
  });
  std::string provider =
      "  - name: silent\n    kind: smtp\n    country: RU\n    settings:\n      url: " +
      relay.Url() + "\n      starttls: none\n      max_connections: 4\n      timeout_s: 1\n";
  HeralddProcess server(db->dsn(), Config(provider, /*workers=*/1));
  server.AddEnv("HERALD_OPS_METRICS_CACHE_MS=0");  // each scrape reads the figures anew
  server.Start();
  auto subjects = testing::MakeSubjects(*db, 2, "m");
  auto is_sent = [&](const std::string& id) {
    return Number(*db, "SELECT count(*) FROM messages WHERE status = 'sent' AND id = '" + id + "'");
  };

  const std::string first = SendEach(server, {subjects[0]}, "maybe-first-").at(0);
  ASSERT_TRUE(Eventually([&] { return is_sent(first) == 1; }, std::chrono::seconds(20), kDbPoll))
      << server.Log();
  // A later message, claimed only now, through the one worker; the relay answers it.
  const std::string second = SendEach(server, {subjects[1]}, "maybe-second-").at(0);
  ASSERT_TRUE(Eventually([&] { return is_sent(second) == 1; }, std::chrono::seconds(20), kDbPoll))
      << server.Log();

  v1::Message m = GetMessage(server, first);
  EXPECT_EQ(m.status(), v1::SENT);
  EXPECT_EQ(m.attempts(), 1);
  ASSERT_EQ(m.attempt_log_size(), 1);
  EXPECT_EQ(m.attempt_log(0).outcome(), "MAYBE_SENT");
  EXPECT_EQ(m.attempt_log(0).code(), 0);
  EXPECT_NE(m.attempt_log(0).detail().find("may have been delivered"), std::string::npos)
      << m.attempt_log(0).detail();
  for (const auto& h : m.history()) EXPECT_NE(h.status(), v1::RETRYING) << h.note();
  v1::Message later = GetMessage(server, second);
  ASSERT_EQ(later.attempt_log_size(), 1);
  EXPECT_EQ(later.attempt_log(0).outcome(), "SENT");

  // The relay's view: each message arrived once.
  std::map<std::string, int> arrived;
  for (const std::string& body : relay.Messages()) {
    for (const std::string& id : {first, second}) {
      if (body.find("X-Herald-Message-Id: " + id) != std::string::npos) ++arrived[id];
    }
  }
  EXPECT_EQ(relay.Messages().size(), 2u);
  EXPECT_EQ(arrived[first], 1);
  EXPECT_EQ(arrived[second], 1);
  EXPECT_EQ(Number(*db, "SELECT count(*) FROM message_attempts WHERE message_id = '" + first + "'"),
            1);

  EXPECT_EQ(Metric(server, "herald_dispatch_sends_total",
                   {"provider=\"silent\"", "outcome=\"maybe_sent\""}),
            1);
  EXPECT_EQ(
      Metric(server, "herald_dispatch_sends_total", {"provider=\"silent\"", "outcome=\"sent\""}),
      1);
  EXPECT_EQ(
      Metric(server, "herald_dispatch_sends_total", {"provider=\"silent\"", "outcome=\"retry\""}),
      -1);
}

}  // namespace
}  // namespace herald
