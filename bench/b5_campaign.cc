// B5: messages/s from StartCampaign to the last message accepted, for 100,000 recipients with
// 10% opted out and 2 KB bodies, into Postfix's smtp-sink, beside
//   smtp-source -d -s 8 -m 100000 -l 2048 -f … -t … 127.0.0.1:PORT
// into the same sink in the same run. The sink dumps every transaction (-D) so that the
// recipients it accepted are checked: zero opted-out recipients delivered. heraldd's peak RSS
// (VmHWM) must stay <= 100 MB.
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

int64_t Count(pqxx::connection& conn, const std::string& sql) {
  pqxx::read_transaction txn(conn);
  return txn.exec1(sql)[0].as<int64_t>();
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
  double ref_rate = n / std::chrono::duration<double>(SteadyClock::now() - ref_start).count();
  if (code != 0) throw std::runtime_error("smtp-source failed");

  Pg pg("b5");
  pg.CreateDatabase("herald");
  Server server(pg.Dsn("herald"), 8,
                "email:\n  from_address: bench@herald.test\n"
                "dispatch:\n" +
                    dispatch_yaml +
                    "providers:\n  - name: sink\n    kind: smtp\n    country: RU\n"
                    "    settings:\n      url: smtp://" +
                    target + "\n      starttls: none\n      max_connections: 8\n");
  server.Start();
  SeedSubjects(pg, "herald", n, 10);
  auto ids = SubjectIds(pg, "herald");
  std::string body(2048, 'x');
  for (size_t i = 64; i < body.size(); i += 72) body[i] = '\n';
  const std::string campaign = CreateCampaign(server, "b5", body, ids);
  pqxx::connection conn(pg.Dsn("herald"));
  std::cout << "campaign starting; heraldd pid " << server.pid() << std::endl;
  auto start = SteadyClock::now();
  StartCampaign(server, campaign);
  auto deadline = start + std::chrono::minutes(15);
  while (Count(conn, R"sql(
           SELECT count(*)
           FROM messages
           WHERE status IN ('queued', 'retrying', 'sending')
         )sql") > 0) {
    if (SteadyClock::now() > deadline)
      throw std::runtime_error("campaign did not finish in 15 min");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  int64_t sent = Count(conn, "SELECT count(*) FROM messages WHERE status = 'sent'");
  int64_t suppressed = Count(conn, "SELECT count(*) FROM messages WHERE status = 'suppressed'");
  double rss = PeakRssMb(server.pid());
  server.Stop();
  kill(sink, SIGTERM);
  WaitExit(sink);

  // At the sink: every accepted recipient of the campaign, none of them opted out.
  std::ifstream in(dump);
  std::string line;
  std::regex rcpt("^X-Rcpt-Args: <b([0-9]+)@example\\.com>");
  std::smatch m;
  int64_t delivered = 0, delivered_opted_out = 0;
  std::set<int> seen;
  while (std::getline(in, line)) {
    if (line.rfind("X-Rcpt-Args: <b", 0) != 0 || !std::regex_search(line, m, rcpt)) continue;
    int i = std::stoi(m[1]);
    ++delivered;
    seen.insert(i);
    if (i % 10 == 0) ++delivered_opted_out;
  }
  (void)std::system(("rm -rf '" + dir + "'").c_str());
  const int64_t expected = n - n / 10;
  double rate = sent / seconds;
  double ratio = rate / ref_rate;
  std::cout << "B5 campaign: " << sent << " sent, " << suppressed << " suppressed in " << seconds
            << " s; sink accepted " << delivered << " (" << seen.size() << " distinct), "
            << delivered_opted_out << " opted-out\n";
  Report({"B5",
          "campaign messages/s, StartCampaign to last accepted, " + std::to_string(n) +
              " recipients (10% opted out), 2 KB, into smtp-sink",
          rate, "msg/s",
          "smtp-source -d -s 8 -m " + std::to_string(n) + " -l 2048 into the same sink", ref_rate,
          ratio, "ratio >= 0.5", ratio >= 0.5});
  Report({"B5.opted_out", "opted-out recipients delivered (checked at the sink)",
          static_cast<double>(delivered_opted_out), "messages", "", 0, 0, "== 0",
          delivered_opted_out == 0});
  Report({"B5.rss", "heraldd peak RSS (VmHWM)", rss, "MB", "", 0, 0, "<= 100 MB",
          rss > 0 && rss <= 100});
  // Correctness, not speed: a wrong count is an error, not a figure.
  if (sent != expected || suppressed != n / 10 || delivered != expected ||
      static_cast<int64_t>(seen.size()) != expected || delivered_opted_out != 0) {
    std::cerr << "B5: expected " << expected << " sent and delivered once each, " << n / 10
              << " suppressed\n";
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B5 failed: " << e.what() << "\n";
  return 1;
}
