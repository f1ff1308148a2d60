// B1: CheckEligibility requests/s at 64 concurrent calls (closed loop), beside
// grpc.health.v1.Health/Check on the same server with the same client and concurrency (the
// gRPC ceiling); the same call over the JSON API (what Creatio uses) beside gRPC; p50/p99
// open-loop at half the maximum rate; pgbench -S on the same PostgreSQL.
//
// B1's cost, step by step, on the same client, channel and concurrency: Health/Check (the
// gRPC floor), ListTopics (an authenticated RPC answered from memory: the API key check, the
// access table, the request id, the log line and metrics, no database), then CheckEligibility
// (all that plus the gate's statements). Each step is its own figure with its CPU per call for
// each process. Full mode measures the three steps in three rounds and reports medians.
//
// B1.fair: the same CheckEligibility against a second heraldd on the same database with
// frequency caps and quiet hours configured (FairSendingYaml: the gate then reads the
// subject's slots and computes the quiet hours of every allowed check), beside the plain
// server in alternating rounds.
//   build/bench/bench_b1 [--smoke]
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <random>

#include "bench/bench_support.h"
#include "bench/load_client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"

using namespace herald::bench;
using std::chrono::milliseconds;

int main(int argc, char** argv) try {
  bool smoke = ParseSmoke(argc, argv);
  const int subjects = smoke ? 2000 : 100000;
  const int concurrency = 64;
  const milliseconds run(smoke ? 1500 : 15000);
  const int pgbench_seconds = smoke ? 2 : 20;

  Pg pg("b1");
  pg.CreateDatabase("herald");
  Server server(pg.Dsn("herald"), 32, "roles: api,web\n");  // sync gRPC threads: 4 x pool
  server.Start();
  SeedSubjects(pg, "herald", subjects, 10);
  auto ids = SubjectIds(pg, "herald");
  std::mt19937 rng(42);
  std::shuffle(ids.begin(), ids.end(), rng);

  auto channel = server.Channel();
  auto health = grpc::health::v1::Health::NewStub(channel);
  auto subs = herald::v1::SubscriptionService::NewStub(channel);
  using HReq = grpc::health::v1::HealthCheckRequest;
  using HResp = grpc::health::v1::HealthCheckResponse;
  auto health_call = Unary<HReq, HResp>(
      [&](grpc::ClientContext* c, const HReq* q, HResp* r, std::function<void(grpc::Status)> cb) {
        health->async()->Check(c, q, r, std::move(cb));
      },
      [](uint64_t, HReq&) {}, "");
  using CReq = herald::v1::CheckEligibilityRequest;
  using CResp = herald::v1::CheckEligibilityResponse;
  auto check_call = Unary<CReq, CResp>(
      [&](grpc::ClientContext* c, const CReq* q, CResp* r, std::function<void(grpc::Status)> cb) {
        subs->async()->CheckEligibility(c, q, r, std::move(cb));
      },
      [&](uint64_t seq, CReq& q) {
        q.mutable_recipient()->set_subject_id(ids[seq % ids.size()]);
        q.set_channel(herald::v1::EMAIL);
        q.set_topic("special_offers");
      },
      Server::kKey);

  // The same CheckEligibility as JSON over HTTP/1.1 keep-alive, one connection per call in
  // flight (as a CRM's HTTP client pool would hold them).
  JsonPoster json_poster(server.json_port(), "/v1/SubscriptionService/CheckEligibility",
                         Server::kKey, concurrency, [&](uint64_t seq) {
                           return "{\"recipient\": {\"subject_id\": \"" + ids[seq % ids.size()] +
                                  "\"}, \"channel\": \"EMAIL\", \"topic\": \"special_offers\"}";
                         });

  using TReq = herald::v1::ListTopicsRequest;
  using TResp = herald::v1::ListTopicsResponse;
  auto topics_call = Unary<TReq, TResp>(
      [&](grpc::ClientContext* c, const TReq* q, TResp* r, std::function<void(grpc::Status)> cb) {
        subs->async()->ListTopics(c, q, r, std::move(cb));
      },
      [](uint64_t, TReq&) {}, Server::kKey);

  // The decomposition, in rounds (the median round's CPU goes with each figure).
  struct Step {
    const char* name;
    const IssueFn* issue;
    std::vector<LoadResult> results;
    std::vector<Costs> costs;
    std::vector<double> rates() const {
      std::vector<double> out;
      for (const auto& r : results) out.push_back(r.rate);
      return out;
    }
  };
  std::vector<Step> steps = {{"Health/Check", &health_call, {}, {}},
                             {"ListTopics", &topics_call, {}, {}},
                             {"CheckEligibility", &check_call, {}, {}}};
  for (int round = 0; round < RunCount(smoke); ++round) {
    for (auto& step : steps) {
      Costs costs(&pg);
      costs.AddProcess("heraldd", server.pid());
      costs.AddProcess("client", getpid());
      costs.Start();
      auto r = ClosedLoop(*step.issue, concurrency, run);
      costs.Stop();
      if (r.errors || r.ok == 0) {
        std::cerr << "B1: " << step.name << " failed: " << r.errors << " (" << r.first_error
                  << ")\n";
        return 1;
      }
      std::cerr << "B1 round " << round + 1 << ": " << step.name << " " << r.rate << " req/s, "
                << costs.Describe(static_cast<double>(r.issued)) << std::endl;
      step.results.push_back(r);
      step.costs.push_back(std::move(costs));
    }
  }
  // Calls that touch no data: ListTopics must list the built-in topics.
  {
    grpc::ClientContext ctx;
    Authorize(ctx);
    TResp topics;
    auto st = subs->ListTopics(&ctx, TReq(), &topics);
    if (!st.ok() || topics.topics_size() == 0) {
      std::cerr << "B1: ListTopics returned no topics: " << st.error_message() << "\n";
      return 1;
    }
  }
  const size_t median_round = MedianIndex(steps[2].rates());
  const LoadResult& h = steps[0].results[median_round];
  const LoadResult& c = steps[2].results[median_round];
  const double check_rate = Median(steps[2].rates());
  std::vector<double> ratios;
  for (size_t i = 0; i < steps[2].results.size(); ++i) {
    ratios.push_back(steps[2].results[i].rate / steps[0].results[i].rate);
  }
  // JSON beside gRPC in alternating rounds, so both meet the same database, cache and machine
  // state (one phase after the other differed by more than the effect measured).
  struct Sum {
    uint64_t ok = 0, errors = 0;
    double seconds = 0, worst_p99_ms = 0;
    std::string first_error;
    void Add(const LoadResult& r) {
      ok += r.ok;
      errors += r.errors;
      seconds += r.seconds;
      worst_p99_ms = std::max(worst_p99_ms, r.p99_ms);
      if (first_error.empty()) first_error = r.first_error;
    }
    double rate() const { return seconds > 0 ? static_cast<double>(ok) / seconds : 0; }
  } grpc_rounds, json_rounds;
  for (int round = 0; round < 4; ++round) {
    grpc_rounds.Add(ClosedLoop(check_call, concurrency, run / 4));
    json_rounds.Add(ClosedLoop(json_poster.issue(), concurrency, run / 4));
  }
  if (grpc_rounds.errors || json_rounds.errors || json_rounds.ok == 0) {
    std::cerr << "B1: calls failed: check " << grpc_rounds.errors << " (" << grpc_rounds.first_error
              << "), JSON check " << json_rounds.errors << " (" << json_rounds.first_error << ")\n";
    return 1;
  }
  // At most 64 calls outstanding, as in the closed loop (the server's sync thread pool is
  // sized for that); a call that must wait for a slot is late, and its lateness counts.
  auto half = OpenLoop(check_call, check_rate / 2, run, concurrency);
  if (half.errors) {
    std::cerr << "B1: open-loop calls failed: " << half.first_error << "\n";
    return 1;
  }

  Sum plain_rounds, fair_rounds;
  {
    Server fair(pg.Dsn("herald"), 32, "roles: api\n" + FairSendingYaml());
    fair.Start();
    auto fair_subs = herald::v1::SubscriptionService::NewStub(fair.Channel());
    auto fair_call = Unary<CReq, CResp>(
        [&](grpc::ClientContext* c, const CReq* q, CResp* r, std::function<void(grpc::Status)> cb) {
          fair_subs->async()->CheckEligibility(c, q, r, std::move(cb));
        },
        [&](uint64_t seq, CReq& q) {
          q.mutable_recipient()->set_subject_id(ids[seq % ids.size()]);
          q.set_channel(herald::v1::EMAIL);
          q.set_topic("special_offers");
        },
        Server::kKey);
    for (int round = 0; round < 4; ++round) {
      plain_rounds.Add(ClosedLoop(check_call, concurrency, run / 4));
      fair_rounds.Add(ClosedLoop(fair_call, concurrency, run / 4));
    }
    fair.Stop();
  }
  if (plain_rounds.errors || fair_rounds.errors || fair_rounds.ok == 0) {
    std::cerr << "B1: fair-sending rounds failed: " << plain_rounds.first_error << " / "
              << fair_rounds.first_error << "\n";
    return 1;
  }
  server.Stop();

  // Reference on the same PostgreSQL: pgbench -S (select-only), same client concurrency.
  std::string bin = "/usr/lib/postgresql/15/bin/pgbench ";
  pg.CreateDatabase("pgbench");
  Sh(bin + pg.ConnArgs() + " -i -q -s 10 pgbench >/dev/null 2>&1");
  std::string out = Sh(bin + pg.ConnArgs() + " -S -c " + std::to_string(concurrency) + " -j 2 -T " +
                       std::to_string(pgbench_seconds) + " pgbench 2>/dev/null");
  double tps = 0;
  auto at = out.find("tps = ");
  if (at != std::string::npos) tps = std::stod(out.substr(at + 6));

  const double ratio = Median(ratios);
  Figure main{"B1",
              "CheckEligibility requests/s at 64 concurrent calls",
              check_rate,
              "req/s",
              "grpc.health.v1.Health/Check, same server/client/concurrency",
              Median(steps[0].rates()),
              ratio,
              "ratio >= 0.7",
              ratio >= 0.7};
  main.runs = steps[2].rates();
  steps[2].costs[median_round].Attach(main, static_cast<double>(c.issued));
  main.pg_settings = pg.Settings();
  Report(main);
  // Each step beside the one before it: what the step adds.
  const char* ids_of_steps[] = {"B1.step1_health", "B1.step2_auth_no_db", "B1.step3_check"};
  const char* what[] = {
      "grpc.health.v1.Health/Check (callback API), req/s at 64 concurrent calls",
      "ListTopics: authenticated (API key, access table, log line, metrics), answered from "
      "memory, no database; req/s at 64 concurrent calls",
      "CheckEligibility: all that plus the gate's statements; req/s at 64 concurrent calls"};
  for (size_t i = 0; i < steps.size(); ++i) {
    const size_t r = MedianIndex(steps[i].rates());
    const double rate = Median(steps[i].rates());
    const double before = i > 0 ? Median(steps[i - 1].rates()) : 0;
    Figure f{ids_of_steps[i],
             what[i],
             rate,
             "req/s",
             i > 0 ? std::string("the step before, ") + steps[i - 1].name : "",
             before,
             before > 0 ? rate / before : 0,
             "",
             true};
    f.runs = steps[i].rates();
    steps[i].costs[r].Attach(f, static_cast<double>(steps[i].results[r].issued));
    Report(f);
  }
  double json_ratio = json_rounds.rate() / grpc_rounds.rate();
  Report({"B1.json", "CheckEligibility over the JSON API, requests/s at 64 concurrent calls",
          json_rounds.rate(), "req/s",
          "gRPC CheckEligibility, same server/concurrency, alternating rounds", grpc_rounds.rate(),
          json_ratio, "ratio >= 0.8", json_ratio >= 0.8});
  Report({"B1.json_p99",
          "CheckEligibility over the JSON API, p99 at 64 concurrent calls (worst round)",
          json_rounds.worst_p99_ms, "ms", "gRPC CheckEligibility p99 (worst round)",
          grpc_rounds.worst_p99_ms, 0, "", true});
  Report({"B1.fair",
          "CheckEligibility with frequency caps and quiet hours configured, requests/s at 64 "
          "concurrent calls",
          fair_rounds.rate(), "req/s", "the same without them, alternating rounds",
          plain_rounds.rate(), fair_rounds.rate() / plain_rounds.rate(), "", true});
  Report({"B1.p50",
          "CheckEligibility p50 at half the max rate (" +
              std::to_string(static_cast<int>(check_rate / 2)) + "/s, open loop)",
          half.p50_ms, "ms", "", 0, 0, "", true});
  Report({"B1.p99", "CheckEligibility p99 at half the max rate (open loop)", half.p99_ms, "ms", "",
          0, 0, "<= 5 ms", half.p99_ms <= 5.0});
  Report({"B1.pgbench",
          "CheckEligibility requests/s vs pgbench -S -c 64 -j 2 on the same PostgreSQL", check_rate,
          "req/s", "pgbench -S tps", tps, tps > 0 ? check_rate / tps : 0, "", true});
  Report({"B1.closed_p99", "CheckEligibility p99 at 64 concurrent calls (closed loop)", c.p99_ms,
          "ms", "Health/Check p99", h.p99_ms, 0, "", true});
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B1 failed: " << e.what() << "\n";
  return 1;
}
