// B3: OptOut calls/s with synchronous_commit=on (PostgreSQL's default, checked), 16 concurrent
// callers, each call a different subject, beside
//   pgbench -N -M prepared -c 16 -j 2 -T 20   (scale 10, same server, same run).
//   build/bench/bench_b3 [--smoke]
#include <unistd.h>

#include <iostream>

#include "bench/bench_support.h"
#include "bench/load_client.h"
#include "herald/v1/subscriptions.grpc.pb.h"

using namespace herald::bench;
using std::chrono::milliseconds;

int main(int argc, char** argv) try {
  bool smoke = ParseSmoke(argc, argv);
  const int subjects = smoke ? 5000 : 100000;
  const int seconds = smoke ? 2 : 20;

  Pg pg("b3");
  if (pg.Psql("postgres", "SHOW synchronous_commit") != "on\n") {
    std::cerr << "B3: synchronous_commit is not on\n";
    return 1;
  }
  pg.CreateDatabase("herald");
  Server server(pg.Dsn("herald"), 16, "roles: api,web\n");
  server.Start();
  SeedSubjects(pg, "herald", subjects, 0);
  auto ids = SubjectIds(pg, "herald");
  auto subs = herald::v1::SubscriptionService::NewStub(server.Channel());
  uint64_t done_before = 0;  // calls of the warm-up
  using Req = herald::v1::OptOutRequest;
  using Resp = herald::v1::OptOutResponse;
  auto opt_out = Unary<Req, Resp>(
      [&](grpc::ClientContext* c, const Req* q, Resp* r, std::function<void(grpc::Status)> cb) {
        subs->async()->OptOut(c, q, r, std::move(cb));
      },
      [&](uint64_t seq, Req& q) {
        seq += done_before;  // every call a subject not opted out yet
        q.set_idempotency_key("b3-" + std::to_string(seq));
        q.set_subject_id(ids[seq % ids.size()]);
        q.set_scope(herald::v1::ALL_MARKETING);
        q.mutable_proof()->set_source(herald::v1::CRM);
      },
      Server::kKey);
  // Steady state, as after a deployment's first minute: a short warm-up, then the ANALYZE
  // autovacuum would have run by then. Without it the tables the calls fill (preferences,
  // idempotency_keys, events) start empty, each session's cached plans for their lookups are
  // sequential scans of what the statistics call a one-page table, and a 20-second run ends
  // before autovacuum's first ANALYZE re-plans them: measured, those scans were half of a
  // call's time in PostgreSQL (docs/performance.md, B3).
  auto warm = ClosedLoop(opt_out, 16, milliseconds(smoke ? 300 : 2000));
  if (warm.errors) {
    std::cerr << "B3: OptOut failed in the warm-up: " << warm.first_error << "\n";
    return 1;
  }
  done_before = warm.issued;
  pg.Psql("herald", "ANALYZE");
  Costs costs(&pg, /*wal=*/true);
  costs.AddProcess("heraldd", server.pid());
  costs.AddProcess("client", getpid());
  costs.Start();
  auto r = ClosedLoop(opt_out, 16, milliseconds(seconds * 1000));
  costs.Stop();
  if (r.errors || r.ok == 0) {
    std::cerr << "B3: OptOut failed: " << r.errors << " (" << r.first_error << ")\n";
    return 1;
  }
  server.Stop();
  // Every call must have been written (an opt-out event each), not answered from memory.
  long events = std::stol(pg.Psql("herald", "SELECT count(*) FROM events WHERE type = 'opt_out'"));
  if (events < static_cast<long>(r.ok + warm.ok)) {
    std::cerr << "B3: only " << events << " opt-out events for " << r.ok << " calls\n";
    return 1;
  }

  std::string bin = "/usr/lib/postgresql/15/bin/pgbench ";
  pg.CreateDatabase("pgbench");
  Sh(bin + pg.ConnArgs() + " -i -q -s 10 pgbench >/dev/null 2>&1");
  std::string out = Sh(bin + pg.ConnArgs() + " -N -M prepared -c 16 -j 2 -T " +
                       std::to_string(seconds) + " pgbench 2>/dev/null");
  double tps = 0;
  auto at = out.find("tps = ");
  if (at != std::string::npos) tps = std::stod(out.substr(at + 6));
  double ratio = tps > 0 ? r.rate / tps : 0;
  Figure main{"B3",
              "OptOut calls/s, 16 concurrent callers, synchronous_commit=on",
              r.rate,
              "calls/s",
              "pgbench -N -M prepared -c 16 -j 2 -T " + std::to_string(seconds) + " (scale 10)",
              tps,
              ratio,
              "ratio >= 0.7",
              ratio >= 0.7};
  costs.Attach(main, static_cast<double>(r.issued));
  main.pg_settings = pg.Settings();
  Report(main);
  Report({"B3.p99", "OptOut p99 at 16 concurrent callers (closed loop)", r.p99_ms, "ms", "", 0, 0,
          "", true});
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B3 failed: " << e.what() << "\n";
  return 1;
}
