// B5: messages/s from StartCampaign to the last message accepted, for 100,000 recipients with
// 10% opted out and 2 KB bodies, into Postfix's smtp-sink, beside
//   smtp-source -d -s 8 -m 100000 -l 2048 -f … -t … 127.0.0.1:PORT
// into the same sink in the same run. The sink dumps every transaction (-D) so that the
// recipients it accepted are checked: zero opted-out recipients delivered. heraldd's peak RSS
// (VmHWM) must stay <= 100 MB.
//
// The end of the campaign is heraldd's own record of it: the last attempt's end (the sink's
// acceptance) in message_attempts, not the moment the poll noticed. The poll only waits for
// "nothing of the campaign queued, retrying or sending", every 500 ms, with an EXISTS that the
// (campaign_id, status) index answers, so it takes almost nothing from what it measures.
// Full mode runs three times (a fresh PostgreSQL, heraldd and sink each) and reports the median.
// B5.fair: each run is followed by the same campaign with frequency caps and quiet hours
// configured (FairSendingYaml: every message takes two slots and computes its quiet hours,
// none is capped or held back), reported beside the plain runs.
//   build/bench/bench_b5 [--smoke]
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <thread>

#include "bench/bench_support.h"
#include "bench/load_client.h"
#include "herald/v1/dispatch.grpc.pb.h"

using namespace herald::bench;

namespace {

struct RunResult {
  double rate = 0, reference = 0, seconds = 0, noticed_after = 0, rss = 0;
  int64_t sent = 0, suppressed = 0, delivered = 0, distinct = 0, delivered_opted_out = 0;
  Costs costs;
  std::map<std::string, std::string> pg_settings;
};

RunResult RunOnce(int n, const std::string& dispatch_yaml, const std::string& extra_yaml = "") {
  RunResult out;
  int sink_port = FreePortIn(25250, 25259);
  if (sink_port == 0) throw std::runtime_error("no free port in 25250-25259 for smtp-sink");
  std::string dir = "/tmp/herald-bench-b5-" + std::to_string(getpid());
  mkdir(dir.c_str(), 0777);
  chmod(dir.c_str(), 0777);
  std::string dump = dir + "/sink.dump";
  std::string target = "127.0.0.1:" + std::to_string(sink_port);
  pid_t sink = Spawn({"/usr/sbin/smtp-sink", "-u", "postfix", "-D", dump, target, "1000"},
                     dir + "/sink.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(500));

  // Reference: smtp-source into the same sink, same count and size.
  auto ref_start = SteadyClock::now();
  int code =
      WaitExit(Spawn({"/usr/sbin/smtp-source", "-d", "-s", "8", "-m", std::to_string(n), "-l",
                      "2048", "-f", "bench@herald.test", "-t", "sink@herald.test", target}));
  out.reference = n / std::chrono::duration<double>(SteadyClock::now() - ref_start).count();
  if (code != 0) throw std::runtime_error("smtp-source failed");

  Pg pg("b5");
  pg.CreateDatabase("herald");
  out.pg_settings = pg.Settings();
  Server server(pg.Dsn("herald"), 8,
                "email:\n  from_address: bench@herald.test\n"
                "dispatch:\n" +
                    dispatch_yaml +
                    "providers:\n  - name: sink\n    kind: smtp\n    country: RU\n"
                    "    settings:\n      url: smtp://" +
                    target + "\n      starttls: none\n      max_connections: 8\n" + extra_yaml);
  server.Start();
  SeedSubjects(pg, "herald", n, 10);
  auto ids = SubjectIds(pg, "herald");
  std::string body(2048, 'x');
  for (size_t i = 64; i < body.size(); i += 72) body[i] = '\n';
  const std::string campaign = CreateCampaign(server, "b5", body, ids);
  std::cout << "campaign starting; heraldd pid " << server.pid() << std::endl;

  out.costs = Costs(&pg, /*wal=*/true);
  out.costs.AddProcess("heraldd", server.pid());
  out.costs.AddProcess("bench", getpid());
  out.costs.AddProcess("sink", sink);
  out.costs.Start();
  const auto wall_start = std::chrono::system_clock::now();
  StartCampaign(server, campaign);
  // Polled with an EXISTS an index answers; the end is heraldd's own record of the last
  // accepted message, checked to lie between the start and the poll that saw it done.
  CampaignOutcome done =
      AwaitCampaign(pg.Dsn("herald"), campaign, wall_start, std::chrono::minutes(15), {});
  out.costs.Stop();
  out.noticed_after = done.noticed_after;
  out.seconds = done.seconds;
  out.sent = done.sent;
  out.suppressed = done.suppressed;
  out.rss = PeakRssMb(server.pid());
  server.Stop();
  kill(sink, SIGTERM);
  WaitExit(sink);

  // At the sink: every accepted recipient of the campaign, none of them opted out.
  std::ifstream in(dump);
  std::string line;
  std::regex rcpt("^X-Rcpt-Args: <b([0-9]+)@example\\.com>");
  std::smatch m;
  std::set<int> seen;
  while (std::getline(in, line)) {
    if (line.rfind("X-Rcpt-Args: <b", 0) != 0 || !std::regex_search(line, m, rcpt)) continue;
    int i = std::stoi(m[1]);
    ++out.delivered;
    seen.insert(i);
    if (i % 10 == 0) ++out.delivered_opted_out;
  }
  out.distinct = static_cast<int64_t>(seen.size());
  (void)std::system(("rm -rf '" + dir + "'").c_str());
  out.rate = out.sent / out.seconds;
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  bool smoke = ParseSmoke(argc, argv);
  // HERALD_BENCH_B5_RECIPIENTS: another size, for profiling (perf record -p the pid printed
  // at the start of the campaign).
  const int n = EnvCount("HERALD_BENCH_B5_RECIPIENTS", smoke ? 3000 : 100000, 100000000);
  const std::string dispatch_yaml = std::getenv("HERALD_BENCH_B5_DISPATCH")
                                        ? std::getenv("HERALD_BENCH_B5_DISPATCH")
                                        : "  workers: 4\n  batch_size: 200\n";
  const int64_t expected = n - n / 10;

  std::vector<RunResult> runs;
  std::vector<double> rates, references, ratios, fair_rates;
  double worst_rss = 0;
  int64_t opted_out_delivered = 0;
  for (int run = 0; run < RunCount(smoke); ++run) {
    RunResult r = RunOnce(n, dispatch_yaml);
    std::cout << "B5 run " << run + 1 << ": " << r.sent << " sent, " << r.suppressed
              << " suppressed in " << r.seconds << " s (the poll noticed after " << r.noticed_after
              << " s); sink accepted " << r.delivered << " (" << r.distinct << " distinct), "
              << r.delivered_opted_out << " opted-out; " << r.rate << " msg/s beside "
              << r.reference << "; " << r.costs.Describe(static_cast<double>(r.sent)) << std::endl;
    // Correctness, not speed: a wrong count is an error, not a figure.
    if (r.sent != expected || r.suppressed != n / 10 || r.delivered != expected ||
        r.distinct != expected || r.delivered_opted_out != 0) {
      std::cerr << "B5: expected " << expected << " sent and delivered once each, " << n / 10
                << " suppressed\n";
      return 1;
    }
    RunResult f = RunOnce(n, dispatch_yaml, FairSendingYaml());
    std::cout << "B5 run " << run + 1 << " with caps and quiet hours: " << f.sent << " sent in "
              << f.seconds << " s, " << f.rate << " msg/s" << std::endl;
    if (f.sent != expected || f.delivered != expected || f.delivered_opted_out != 0) {
      std::cerr << "B5.fair: expected " << expected << " sent and delivered, none capped\n";
      return 1;
    }
    fair_rates.push_back(f.rate);
    rates.push_back(r.rate);
    references.push_back(r.reference);
    ratios.push_back(r.rate / r.reference);
    worst_rss = std::max(worst_rss, r.rss);
    opted_out_delivered += r.delivered_opted_out;
    runs.push_back(std::move(r));
  }
  // The run whose rate is the median lends the figure its CPU, WAL and settings.
  const size_t middle = MedianIndex(rates);
  const double ratio = Median(ratios);
  Figure main{"B5",
              "campaign messages/s, StartCampaign to last accepted (heraldd's record), " +
                  std::to_string(n) + " recipients (10% opted out), 2 KB, into smtp-sink",
              Median(rates),
              "msg/s",
              "smtp-source -d -s 8 -m " + std::to_string(n) + " -l 2048 into the same sink",
              Median(references),
              ratio,
              "ratio >= 0.5",
              ratio >= 0.5};
  main.runs = rates;
  runs[middle].costs.Attach(main, static_cast<double>(runs[middle].sent));
  main.pg_settings = runs[middle].pg_settings;
  Report(main);
  Report({"B5.fair",
          "the same campaign with frequency caps and quiet hours configured (none capped or held)",
          Median(fair_rates), "msg/s", "B5 without them, the same runs", Median(rates),
          Median(fair_rates) / Median(rates), "", true});
  Report({"B5.opted_out", "opted-out recipients delivered (checked at the sink, every run)",
          static_cast<double>(opted_out_delivered), "messages", "", 0, 0, "== 0",
          opted_out_delivered == 0});
  Report({"B5.rss", "heraldd peak RSS (VmHWM, the largest of the runs)", worst_rss, "MB", "", 0, 0,
          "<= 100 MB", worst_rss > 0 && worst_rss <= 100});
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B5 failed: " << e.what() << "\n";
  return 1;
}
