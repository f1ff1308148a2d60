// B8: one provider limit, several processes. Two heraldd worker processes (roles: worker) and
// one api process share a database; the provider allows 100 messages/s with a burst of 10
// for all of them together. A campaign of N consenting recipients goes into Postfix's
// smtp-sink, one file per message; the combined rate is read at the sink (the files'
// modification times: the messages after the burst, over the span from the first to the
// last) and printed beside the configured limit, with the busiest one-second window. Each
// process's own share comes from its /metrics (herald_rate_limit_tokens_total), and every
// recipient must have been accepted exactly once.
//   build/bench/bench_b8 [--smoke]
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <thread>

#include "bench/bench_support.h"
#include "herald/v1/dispatch.grpc.pb.h"

using namespace herald::bench;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr double kLimit = 100;  // messages/s, all processes together
constexpr int kBurst = 10;

// The tokens a process took from the provider's shared limit, from its /metrics.
double TokensTaken(const Server& s) {
  httplib::Client ops("127.0.0.1", s.ops_port());
  auto r = ops.Get("/metrics");
  if (!r || r->status != 200) throw std::runtime_error("a worker's /metrics did not answer");
  std::smatch m;
  static const std::regex line(
      "herald_rate_limit_tokens_total\\{limit=\"provider:sink\"\\} ([0-9.e+]+)");
  if (!std::regex_search(r->body, m, line)) return 0;
  return std::stod(m[1]);
}

}  // namespace

int main(int argc, char** argv) try {
  const bool smoke = ParseSmoke(argc, argv);
  const int n = smoke ? 300 : 3000;

  int sink_port = FreePortIn(25260, 25269);
  if (sink_port == 0) throw std::runtime_error("no free port in 25260-25269 for smtp-sink");
  std::string dir = "/tmp/herald-bench-b8-" + std::to_string(getpid());
  mkdir(dir.c_str(), 0777);
  chmod(dir.c_str(), 0777);
  const std::string messages = dir + "/messages";
  mkdir(messages.c_str(), 0777);
  chmod(messages.c_str(), 0777);
  const std::string target = "127.0.0.1:" + std::to_string(sink_port);
  pid_t sink =
      Spawn({"/usr/sbin/smtp-sink", "-u", "postfix", "-d", messages + "/%H%M%S.", target, "1000"},
            dir + "/sink.log");

  Pg pg("b8");
  pg.CreateDatabase("herald");
  const std::string providers =
      "email:\n  from_address: bench@herald.test\n"
      "dispatch:\n  workers: 2\n  batch_size: 20\n"
      "providers:\n  - name: sink\n    kind: smtp\n    country: RU\n"
      "    rate_per_second: " +
      std::to_string(static_cast<int>(kLimit)) + "\n    burst: " + std::to_string(kBurst) +
      "\n    settings:\n      url: smtp://" + target +
      "\n      starttls: none\n      max_connections: 4\n";
  Server api(pg.Dsn("herald"), 4, "roles: api\n" + providers);
  api.Start();
  std::vector<std::unique_ptr<Server>> workers;
  for (int i = 0; i < 2; ++i) {
    workers.push_back(std::make_unique<Server>(pg.Dsn("herald"), 8, "roles: worker\n" + providers));
    workers.back()->ReadyThroughOps();
    workers.back()->Start();
  }
  SeedSubjects(pg, "herald", n, 0);
  auto ids = SubjectIds(pg, "herald");

  StartCampaign(api, CreateCampaign(api, "b8", "Hello", ids));

  // One file per accepted message (smtp-sink -d): its modification time is the moment the
  // sink had the whole message, to the nanosecond; its X-Rcpt-Args line, the recipient.
  std::vector<std::string> files;
  const auto deadline =
      SteadyClock::now() + std::chrono::seconds(static_cast<int>(n / kLimit) + 120);
  while (true) {
    files.clear();
    for (const auto& e : std::filesystem::recursive_directory_iterator(messages)) {
      if (e.is_regular_file()) files.push_back(e.path());
    }
    if (static_cast<int>(files.size()) >= n) break;
    if (SteadyClock::now() > deadline) {
      throw std::runtime_error("only " + std::to_string(files.size()) + " of " + std::to_string(n) +
                               " messages reached the sink in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  // A file appears when the transaction starts; wait until the last one is complete.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  std::map<std::string, int> accepted;  // recipient -> times
  std::vector<double> arrivals;         // seconds, sorted below
  for (const auto& f : files) {
    struct stat st {};
    if (stat(f.c_str(), &st) != 0) continue;
    arrivals.push_back(static_cast<double>(st.st_mtim.tv_sec) + st.st_mtim.tv_nsec * 1e-9);
    std::ifstream msg(f);
    for (std::string line; std::getline(msg, line);) {
      if (line.rfind("X-Rcpt-Args: <", 0) == 0) ++accepted[line.substr(14)];
    }
  }
  std::sort(arrivals.begin(), arrivals.end());
  std::vector<double> shares;
  for (auto& w : workers) shares.push_back(TokensTaken(*w));
  for (auto& w : workers) w->Stop();
  api.Stop();
  kill(sink, SIGTERM);
  WaitExit(sink);
  (void)std::system(("rm -rf '" + dir + "'").c_str());

  int duplicates = 0;
  for (const auto& [rcpt, times] : accepted) duplicates += times - 1;
  const int count = static_cast<int>(arrivals.size());
  const double span = count > 1 ? arrivals.back() - arrivals.front() : 0;
  // The burst arrives at once; the rest at the limit's pace.
  const double rate = span > 0 ? (count - kBurst) / span : 0;
  const double ratio = rate / kLimit;
  // The promise, over every window of one second: at most limit + burst tokens. The sink sees
  // arrivals, not tokens: a token is taken before its message is rendered and sent over an
  // SMTP session, so a message whose send took longer than its neighbours' lands in the next
  // window beside them. Allowed for that: the tokens of 50 ms (5 at 100/s), seen as 114
  // against 111 in a run whose combined rate was 100.05/s.
  int busiest = 0;
  for (size_t i = 0, j = 0; j < arrivals.size(); ++j) {
    while (arrivals[j] - arrivals[i] > 1.0) ++i;
    busiest = std::max(busiest, static_cast<int>(j - i + 1));
  }
  const int jitter_allowance = static_cast<int>(std::ceil(kLimit * 0.05));
  const bool within = busiest <= kLimit + kBurst + jitter_allowance;
  std::cout << "B8: " << count << " messages in " << span << " s at the sink; tokens taken by "
            << "worker 1: " << shares[0] << ", worker 2: " << shares[1] << "; " << duplicates
            << " duplicates, " << accepted.size() << " distinct recipients; busiest second "
            << busiest << " messages\n";
  Report({"B8",
          "combined send rate of 2 worker processes under one shared provider limit, " +
              std::to_string(n) + " messages into smtp-sink",
          rate, "msg/s", "the configured limit for all processes together (burst 10)", kLimit,
          ratio,
          "0.9 <= ratio <= 1.01, busiest 1 s window at the sink <= limit + burst + 50 ms of "
          "tokens",
          ratio >= 0.9 && ratio <= 1.0 + 1.0 / kLimit && within});
  const double smaller = std::min(shares[0], shares[1]);
  const double share = shares[0] + shares[1] > 0 ? smaller / (shares[0] + shares[1]) : 0;
  Report({"B8.share", "the smaller worker process's share of the tokens", share, "fraction",
          "an even split", 0.5, share / 0.5, "> 0 (both send)", smaller > 0});
  if (duplicates != 0 || static_cast<int>(accepted.size()) != n) {
    std::cerr << "B8: expected each of " << n << " recipients exactly once\n";
    return 1;
  }
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B8 failed: " << e.what() << "\n";
  return 1;
}
