// B12: two worker processes against one. An api process and one heraldd worker process
// (roles: worker; B5's dispatch settings: 4 threads x batches of 200, max_connections 8) send
// a campaign of N recipients (10% opted out) into Postfix's smtp-sink; then, on a fresh
// database with the same recipients and a fresh sink, two such worker processes do. The
// combined rate (StartCampaign to the last acceptance, heraldd's record) of the two is
// printed beside the one's: on two cores more processes cannot send faster, but they must not
// collapse either (goal >= 0.95). Claim conflicts: the claims each process made and their mean
// time (outbox.claim_due in its /metrics), the deadlocks PostgreSQL counted, and the most
// lock waits seen at once (pg_locks, sampled every 200 ms). The sink must have accepted every
// consenting recipient exactly once and no opted-out one, in every run.
// Full mode alternates the two set-ups three times (HERALD_BENCH_RUNS) and reports medians.
//   build/bench/bench_b12 [--smoke]
#include <unistd.h>

#include <iostream>
#include <memory>
#include <pqxx/pqxx>

#include "bench/bench_support.h"
#include "bench/load_client.h"

using namespace herald::bench;

namespace {

const std::string kClaims =
    "herald_db_statement_duration_seconds_count{statement=\"outbox.claim_due\"}";
const std::string kClaimSeconds =
    "herald_db_statement_duration_seconds_sum{statement=\"outbox.claim_due\"}";

struct Run {
  double rate = 0;
  CampaignOutcome outcome;
  std::vector<double> claims, claim_ms;  // per worker process
  int64_t deadlocks = 0, most_waiting = 0;
  int64_t once = 0, wrong = 0, opted_out_delivered = 0;
  Costs costs;
};

Run Once(int n, int workers) {
  Run out;
  SmtpSink sink("b12", 25270, 25299);
  Pg pg("b12");
  pg.CreateDatabase("herald");
  const std::string yaml =
      "dispatch:\n  workers: 4\n  batch_size: 200\n" + SinkProviderYaml(sink.target(), 8);
  Server api(pg.Dsn("herald"), 4, "roles: api\n" + yaml);
  api.Start();
  std::vector<std::unique_ptr<Server>> procs;
  for (int i = 0; i < workers; ++i) {
    procs.push_back(std::make_unique<Server>(pg.Dsn("herald"), 8, "roles: worker\n" + yaml));
    procs.back()->ReadyThroughOps();
    procs.back()->Start();
  }
  SeedSubjects(pg, "herald", n, 10);
  const std::string campaign = CreateCampaign(api, "b12", "Hello", SubjectIds(pg, "herald"));

  pqxx::connection watch(pg.Dsn("herald"));
  auto deadlocks = [&] {
    pqxx::nontransaction txn(watch);
    return txn.exec("SELECT deadlocks FROM pg_stat_database WHERE datname = 'herald'")[0][0]
        .as<int64_t>();
  };
  const int64_t deadlocks_before = deadlocks();
  out.costs = Costs(&pg, /*wal=*/true);
  for (size_t i = 0; i < procs.size(); ++i) {
    out.costs.AddProcess("worker" + std::to_string(i + 1), procs[i]->pid());
  }
  out.costs.Start();
  const auto wall_start = std::chrono::system_clock::now();
  StartCampaign(api, campaign);
  out.outcome = AwaitCampaign(
      pg.Dsn("herald"), campaign, wall_start, std::chrono::seconds(std::max(120, n / 100)), [&] {
        pqxx::nontransaction txn(watch);
        out.most_waiting = std::max(
            out.most_waiting,
            txn.exec("SELECT count(*) FROM pg_locks WHERE NOT granted")[0][0].as<int64_t>());
      });
  out.costs.Stop();
  out.deadlocks = deadlocks() - deadlocks_before;
  for (const auto& p : procs) {
    const double claims = MetricValue(*p, kClaims);
    out.claims.push_back(claims);
    out.claim_ms.push_back(claims > 0 ? MetricValue(*p, kClaimSeconds) / claims * 1e3 : 0);
  }
  for (auto& p : procs) p->Stop();
  api.Stop();
  sink.Stop();
  const auto counts = sink.Recipients();
  for (int i = 1; i <= n; ++i) {
    const int c = i < static_cast<int>(counts.size()) ? counts[i] : 0;
    if (i % 10 == 0) {
      out.opted_out_delivered += c;
    } else {
      (c == 1 ? out.once : out.wrong) += 1;
    }
  }
  out.rate = out.outcome.sent / out.outcome.seconds;
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  const bool smoke = ParseSmoke(argc, argv);
  const int n = smoke ? 3000 : 100000;
  const int64_t expected = n - n / 10;

  std::vector<Run> ones, twos;
  std::vector<double> one_rates, two_rates, ratios;
  for (int run = 0; run < RunCount(smoke); ++run) {
    for (int workers : {1, 2}) {
      Run r = Once(n, workers);
      std::cout << "B12 run " << run + 1 << ", " << workers
                << " worker process(es): " << r.outcome.sent << " sent in " << r.outcome.seconds
                << " s (" << r.rate << " msg/s); claims by process:";
      for (size_t i = 0; i < r.claims.size(); ++i) {
        std::cout << " " << r.claims[i] << " (" << r.claim_ms[i] << " ms each)";
      }
      std::cout << "; deadlocks " << r.deadlocks << ", at most " << r.most_waiting
                << " lock waits at once; sink: " << r.once << " once, " << r.wrong << " not, "
                << r.opted_out_delivered << " opted-out; "
                << r.costs.Describe(static_cast<double>(r.outcome.sent)) << std::endl;
      if (r.outcome.sent != expected || r.outcome.suppressed != n / 10 || r.once != expected ||
          r.wrong || r.opted_out_delivered) {
        std::cerr << "B12: expected " << expected << " recipients accepted once each, " << n / 10
                  << " suppressed and none of them accepted\n";
        return 1;
      }
      (workers == 1 ? one_rates : two_rates).push_back(r.rate);
      (workers == 1 ? ones : twos).push_back(std::move(r));
    }
    ratios.push_back(two_rates.back() / one_rates.back());
  }
  const size_t middle = MedianIndex(two_rates);
  const double ratio = Median(ratios);
  Figure main{"B12",
              "combined msg/s of 2 worker processes (+ an api process) on one database, " +
                  std::to_string(n) + " recipients (10% opted out) into smtp-sink",
              Median(two_rates),
              "msg/s",
              "1 worker process (+ the api process), same recipients and sink",
              Median(one_rates),
              ratio,
              "ratio >= 0.95",
              ratio >= 0.95};
  main.runs = two_rates;
  twos[middle].costs.Attach(main, static_cast<double>(twos[middle].outcome.sent));
  Report(main);
  double claims = 0, claim_ms = 0;
  for (size_t i = 0; i < twos[middle].claims.size(); ++i) {
    claims += twos[middle].claims[i];
    claim_ms += twos[middle].claim_ms[i] * twos[middle].claims[i];
  }
  const Run& one = ones[MedianIndex(one_rates)];
  Report({"B12.claim_ms",
          "mean claim time (outbox.claim_due, empty polls included) with 2 worker processes",
          claims > 0 ? claim_ms / claims : 0, "ms", "with 1 worker process", one.claim_ms[0], 0, "",
          true});
  int64_t deadlocks = 0, waiting = 0;
  for (const auto& r : twos) {
    deadlocks += r.deadlocks;
    waiting = std::max(waiting, r.most_waiting);
  }
  Report({"B12.deadlocks", "deadlocks with 2 worker processes (pg_stat_database, every run)",
          static_cast<double>(deadlocks), "deadlocks", "", 0, 0, "== 0", deadlocks == 0});
  Report({"B12.lock_waits", "most lock waits at once with 2 worker processes (pg_locks, 200 ms)",
          static_cast<double>(waiting), "waiting locks", "", 0, 0, "", true});
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B12 failed: " << e.what() << "\n";
  return 1;
}
