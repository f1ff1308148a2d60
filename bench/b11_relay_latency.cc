// B11: what the SMTP path does with a relay's round trips. A relay that answers slowly is
// Postfix's smtp-sink with `-W rcpt:1`: each RCPT TO is answered after 1 s (smtp-sink takes
// whole seconds only), so a message costs a connection at least 1 s and a provider with
// `max_connections: 8` can at best deliver 8 messages/s (the ideal: connections / the
// per-message round trip). Herald's campaign rate through that sink (B5's dispatch settings:
// 4 workers x batches of 200, each sending 4 at once) is printed beside the ideal, beside
// smtp-source with the same 8 sessions through the same slow sink, and beside the same
// campaign into the same sink without the delay; and per connection. Every recipient must be
// accepted exactly once (each run has its own recipients).
//   build/bench/bench_b11 [--smoke]
#include <unistd.h>

#include <iostream>

#include "bench/bench_support.h"
#include "bench/load_client.h"

using namespace herald::bench;

namespace {

constexpr int kConnections = 8;
constexpr double kReplyDelay = 1.0;  // seconds, the RCPT reply of the slow sink

struct Run {
  CampaignOutcome outcome;
  int64_t once = 0, wrong = 0;
};

// A campaign to subjects [first, first + n) by one heraldd whose provider is `sink`.
Run Send(const Pg& pg, SmtpSink& sink, const std::vector<std::string>& ids, int first, int n,
         const std::string& key) {
  Run out;
  Server server(pg.Dsn("herald"), 8,
                "dispatch:\n  workers: 4\n  batch_size: 200\n" +
                    SinkProviderYaml(sink.target(), kConnections));
  server.Start();
  const std::string campaign = CreateCampaign(
      server, key, "Hello", std::vector<std::string>(ids.begin() + first, ids.begin() + first + n));
  const auto wall_start = std::chrono::system_clock::now();
  StartCampaign(server, campaign);
  out.outcome = AwaitCampaign(pg.Dsn("herald"), campaign, wall_start,
                              std::chrono::seconds(60 + static_cast<int>(n * kReplyDelay)));
  server.Stop();
  sink.Stop();
  const auto counts = sink.Recipients();
  for (int i = first + 1; i <= first + n; ++i) {
    const int c = i < static_cast<int>(counts.size()) ? counts[i] : 0;
    (c == 1 ? out.once : out.wrong) += 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  const bool smoke = ParseSmoke(argc, argv);
  const int n = smoke ? 16 : 400;

  Pg pg("b11");
  pg.CreateDatabase("herald");
  {
    // Migrations come with heraldd's first start; the seeding needs its tables.
    Server migrate(pg.Dsn("herald"), 2, "roles: api\n");
    migrate.Start();
  }
  SeedSubjects(pg, "herald", 2 * n, 0);
  const auto ids = SubjectIds(pg, "herald");
  const std::vector<std::string> delay = {"-W", "rcpt:1"};

  // smtp-source: the same sessions through the slow sink (its own sink: nothing to check).
  double source_rate = 0;
  {
    SmtpSink slow("b11-source", 25270, 25299, delay);
    const auto start = SteadyClock::now();
    const int code = WaitExit(
        Spawn({"/usr/sbin/smtp-source", "-s", std::to_string(kConnections), "-m", std::to_string(n),
               "-l", "100", "-f", "bench@herald.test", "-t", "sink@herald.test", slow.target()}));
    if (code != 0) throw std::runtime_error("smtp-source failed");
    source_rate = n / std::chrono::duration<double>(SteadyClock::now() - start).count();
  }
  Run fast, slow;
  {
    SmtpSink sink("b11-fast", 25270, 25299);
    fast = Send(pg, sink, ids, 0, n, "b11-fast");
  }
  {
    SmtpSink sink("b11-slow", 25270, 25299, delay);
    slow = Send(pg, sink, ids, n, n, "b11-slow");
  }
  const double fast_rate = fast.outcome.sent / fast.outcome.seconds;
  const double slow_rate = slow.outcome.sent / slow.outcome.seconds;
  const double ideal = kConnections / kReplyDelay;
  std::cout << "B11: through the slow sink " << slow.outcome.sent << " sent in "
            << slow.outcome.seconds << " s, " << slow.once << " accepted once, " << slow.wrong
            << " not; without delay " << fast.outcome.sent << " in " << fast.outcome.seconds
            << " s, " << fast.once << " once, " << fast.wrong << " not; smtp-source " << source_rate
            << " msg/s" << std::endl;
  if (slow.outcome.sent != n || fast.outcome.sent != n || slow.once != n || fast.once != n) {
    std::cerr << "B11: expected each of the " << n << " recipients of both runs accepted once\n";
    return 1;
  }
  Report({"B11",
          "campaign msg/s through a relay answering RCPT after 1 s, " + std::to_string(n) +
              " messages, max_connections 8",
          slow_rate, "msg/s", "the ideal: 8 connections / 1 s a message", ideal, slow_rate / ideal,
          "", true});
  Report({"B11.per_connection", "msg/s per connection through that relay", slow_rate / kConnections,
          "msg/s", "the ideal per connection (1 / 1 s)", 1.0 / kReplyDelay, slow_rate / ideal, "",
          true});
  Report({"B11.source", "campaign msg/s through that relay", slow_rate, "msg/s",
          "smtp-source -s 8 through the same slow sink", source_rate, slow_rate / source_rate, "",
          true});
  Report({"B11.nodelay", "campaign msg/s through that relay", slow_rate, "msg/s",
          "the same campaign into the same sink without the delay", fast_rate,
          slow_rate / fast_rate, "", true});
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B11 failed: " << e.what() << "\n";
  return 1;
}
