// B2: CheckEligibilityBatch recipients/s over 1,000,000 subjects in batches of 10,000 (2
// callers), every decision checked, beside the same question asked of PostgreSQL directly:
// the gate's own statements (gate.primary_addresses, gate.subject_facts and gate.suppressed
// of services/subscriptions/gate/eligibility_gate.cc) folded into one set-based statement, run
// by this process through libpqxx over the same ids in the same batches on 2 connections. The
// ratio is the share of that floor Herald keeps while adding the RPC, the gate's three round
// trips and its judgement. B1's CheckEligibility rate on the same server is printed beside it
// as information (it was the reference once, so every B1 gain lowered B2).
//   build/bench/bench_b2 [--smoke]      (HERALD_BENCH_EXPLAIN=1: the reference's plan)
#include <unistd.h>

#include <atomic>
#include <iostream>
#include <pqxx/pqxx>
#include <thread>

#include "bench/bench_support.h"
#include "bench/load_client.h"
#include "common/domain/enums.h"
#include "herald/v1/subscriptions.grpc.pb.h"

using namespace herald::bench;
using std::chrono::milliseconds;

namespace {

constexpr int kBatch = 10000;
constexpr int kCallers = 2;  // concurrent batch calls (the machine's cores)

// The gate's decision for subject-only recipients in one statement: each subject's first
// address of the channel's kind (gate.primary_addresses), the facts of the subject and of
// every live owner of that address (gate.subject_facts), and whether an active suppression of
// the address applies under the suppression key (gate.suppressed, the keyed hash computed
// here with pgcrypto's hmac instead of in heraldd). Every lookup is a LATERAL one with an
// OFFSET 0 fence, as in the gate's matrix statements: told the batch's size, the planner
// would otherwise hash whole tables for each batch (the subject's own address check too, as
// gate.subject_facts' EXISTS, which it hashed over every address). The reference's sessions run
// with jit off: compiling the statement took PostgreSQL some 0.9 s a batch, more than the batch
// itself. $1 idx, $2 subject ids, $3 address kind, $4 channel, $5 topic, $6 kind name, $7
// suppression key, $8 the any-channel number.
constexpr char kSetBasedGate[] = R"sql(
  WITH req AS (
    SELECT r.idx, r.subject_id, x.match_key,
           EXISTS (
             SELECT 1
             FROM suppressions s
             WHERE x.match_key IS NOT NULL
               AND s.address_key = hmac(convert_to($6::text, 'UTF8') || '\x00'::bytea
                                        || convert_to(x.match_key, 'UTF8'), $7::bytea, 'sha256')
               AND s.lifted_at IS NULL
               AND s.channel IN ($8::smallint, $4::smallint)
               AND s.topic IN ('', $5::text)
           ) AS suppressed
    FROM unnest($1::int[], $2::uuid[]) AS r(idx, subject_id)
    LEFT JOIN LATERAL (
      SELECT a.match_key
      FROM addresses a
      WHERE a.subject_id = r.subject_id
        AND a.kind = $3::smallint
      ORDER BY a.added_at, a.id
      LIMIT 1
    ) x ON true
  ), rs AS (
    SELECT idx, subject_id, match_key, suppressed
    FROM req
    UNION
    SELECT r.idx, o.subject_id, r.match_key, r.suppressed
    FROM req r
    CROSS JOIN LATERAL (
      SELECT a.subject_id
      FROM addresses a
      JOIN subjects o ON o.id = a.subject_id AND o.state = 'active'
      WHERE a.kind = $3::smallint AND a.match_key = r.match_key
      OFFSET 0
    ) o
    WHERE r.match_key IS NOT NULL
  )
  SELECT rs.idx, s.state, s.blocked, s.revoked, s.processing_consent,
         (s.marketing_channels & (1 << $4::int)) <> 0,
         s.cross_border_consent,
         coalesce((
           SELECT CASE WHEN p.subscribed THEN 0
                       WHEN p.topic <> '' THEN 3
                       WHEN p.channel <> $8::smallint THEN 2
                       ELSE 1 END
           FROM preferences p
           WHERE p.subject_id = s.id
             AND p.channel IN ($8::smallint, $4::smallint)
             AND p.topic IN ('', $5::text)
           ORDER BY p.seq DESC
           LIMIT 1
         ), 0),
         owns.yes IS NOT NULL,
         rs.suppressed
  FROM rs
  CROSS JOIN LATERAL (SELECT * FROM subjects s WHERE s.id = rs.subject_id OFFSET 0) s
  LEFT JOIN LATERAL (
    SELECT true AS yes
    FROM addresses o
    WHERE o.subject_id = s.id AND o.kind = $3::smallint AND o.match_key = rs.match_key
    LIMIT 1
  ) owns ON true
)sql";

struct Pass {
  double rate = 0;
  int64_t allowed = 0, denied = 0;
  Costs costs;
};

// Herald: CheckEligibilityBatch over every id, `kCallers` calls in flight.
Pass HeraldPass(herald::v1::SubscriptionService::Stub& subs, const std::vector<std::string>& ids,
                Costs costs) {
  std::atomic<size_t> next{0};
  std::atomic<int64_t> allowed{0}, denied{0}, failures{0};
  costs.Start();
  auto start = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kCallers; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        size_t from = next.fetch_add(kBatch);
        if (from >= ids.size()) return;
        herald::v1::CheckEligibilityBatchRequest req;
        req.set_channel(herald::v1::EMAIL);
        req.set_topic("special_offers");
        for (size_t i = from; i < std::min(ids.size(), from + kBatch); ++i) {
          req.add_recipients()->set_subject_id(ids[i]);
        }
        herald::v1::CheckEligibilityBatchResponse resp;
        grpc::ClientContext ctx;
        Authorize(ctx);
        auto st = subs.CheckEligibilityBatch(&ctx, req, &resp);
        if (!st.ok() || resp.decisions_size() != req.recipients_size()) {
          ++failures;
          std::cerr << "B2: batch failed: " << st.error_message() << "\n";
          continue;
        }
        for (const auto& d : resp.decisions()) (d.allowed() ? allowed : denied)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  costs.Stop();
  if (failures > 0) throw std::runtime_error("CheckEligibilityBatch failed");
  return {static_cast<double>(ids.size()) / seconds, allowed, denied, std::move(costs)};
}

// The reference: the set-based statement over the same ids and batches, `kCallers`
// connections, each row judged as the gate would for a marketing topic on a home provider.
Pass SqlPass(const Pg& pg, const std::vector<std::string>& ids, Costs costs) {
  const std::string kind = std::to_string(static_cast<int>(herald::AddressKind::kEmail));
  const std::string channel = std::to_string(static_cast<int>(herald::Channel::kEmail));
  const std::string key = std::string("\\x") + Server::kSuppressionKeyHex;
  const std::string any = std::to_string(herald::kAnyChannel);
  std::vector<std::unique_ptr<pqxx::connection>> conns;
  for (int t = 0; t < kCallers; ++t) {
    conns.push_back(std::make_unique<pqxx::connection>(pg.Dsn("herald")));
    pqxx::nontransaction(*conns.back()).exec("SET jit = off");
    conns.back()->prepare("gate", kSetBasedGate);
  }
  // HERALD_BENCH_EXPLAIN=1: how PostgreSQL runs the reference (its first batch), to stderr.
  if (const char* v = std::getenv("HERALD_BENCH_EXPLAIN"); v && std::string(v) == "1") {
    std::string idx = "{", subjects = "{";
    for (size_t i = 0; i < std::min<size_t>(ids.size(), kBatch); ++i) {
      idx += (i ? "," : "") + std::to_string(i);
      subjects += (i ? "," : "") + ids[i];
    }
    pqxx::nontransaction txn(*conns[0]);
    for (const auto& row :
         txn.exec_params(std::string("EXPLAIN (ANALYZE, BUFFERS) ") + kSetBasedGate, idx + "}",
                         subjects + "}", kind, channel, "special_offers",
                         herald::KindName(herald::AddressKind::kEmail), key, any)) {
      std::cerr << row[0].as<std::string>() << "\n";
    }
  }
  std::atomic<size_t> next{0};
  std::atomic<int64_t> allowed{0}, denied{0}, rows{0};
  costs.Start();
  auto start = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kCallers; ++t) {
    threads.emplace_back([&, t] {
      for (;;) {
        size_t from = next.fetch_add(kBatch);
        if (from >= ids.size()) return;
        std::string idx = "{", subjects = "{";
        for (size_t i = from; i < std::min(ids.size(), from + kBatch); ++i) {
          if (i > from) {
            idx += ',';
            subjects += ',';
          }
          idx += std::to_string(i);
          subjects += ids[i];
        }
        idx += '}';
        subjects += '}';
        pqxx::nontransaction txn(*conns[t]);
        auto result = txn.exec_prepared("gate", idx, subjects, kind, channel, "special_offers",
                                        herald::KindName(herald::AddressKind::kEmail), key, any);
        for (const auto& r : result) {
          bool ok = r[1].as<std::string>() == "active" && !r[2].as<bool>() && !r[3].as<bool>() &&
                    r[4].as<bool>() && r[5].as<bool>() && r[7].as<int>() == 0 && r[8].as<bool>() &&
                    !r[9].as<bool>();
          (ok ? allowed : denied)++;
        }
        rows += static_cast<int64_t>(result.size());
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  costs.Stop();
  if (rows != static_cast<int64_t>(ids.size())) {
    throw std::runtime_error("the set-based gate returned " + std::to_string(rows.load()) +
                             " rows for " + std::to_string(ids.size()) + " subjects");
  }
  return {static_cast<double>(ids.size()) / seconds, allowed, denied, std::move(costs)};
}

}  // namespace

int main(int argc, char** argv) try {
  bool smoke = ParseSmoke(argc, argv);
  const int subjects = smoke ? 20000 : 1000000;

  Pg pg("b2");
  pg.CreateDatabase("herald");
  Server server(pg.Dsn("herald"), 32, "roles: api,web\n");  // sync gRPC threads: 4 x pool
  server.Start();
  SeedSubjects(pg, "herald", subjects, 10);
  pg.Psql("herald", "CREATE EXTENSION IF NOT EXISTS pgcrypto");  // the reference's hmac
  auto ids = SubjectIds(pg, "herald");
  auto channel = server.Channel();
  auto subs = herald::v1::SubscriptionService::NewStub(channel);

  // B1's figure, in this run (information only).
  using CReq = herald::v1::CheckEligibilityRequest;
  using CResp = herald::v1::CheckEligibilityResponse;
  auto check_call = Unary<CReq, CResp>(
      [&](grpc::ClientContext* c, const CReq* q, CResp* r, std::function<void(grpc::Status)> cb) {
        subs->async()->CheckEligibility(c, q, r, std::move(cb));
      },
      [&](uint64_t seq, CReq& q) {
        q.mutable_recipient()->set_subject_id(ids[(seq * 7919) % ids.size()]);
        q.set_channel(herald::v1::EMAIL);
        q.set_topic("special_offers");
      },
      Server::kKey);
  auto single = ClosedLoop(check_call, 64, milliseconds(smoke ? 1500 : 10000));
  if (single.errors || single.ok == 0) {
    std::cerr << "B2: CheckEligibility failed: " << single.first_error << "\n";
    return 1;
  }

  // Every 10th subject opted out: the decisions must say so (a wrong answer is not a figure).
  auto check = [&](const char* who, const Pass& p) {
    if (p.denied != subjects / 10 || p.allowed != subjects - subjects / 10) {
      throw std::runtime_error(std::string(who) +
                               ": wrong decisions: " + std::to_string(p.allowed) + " allowed, " +
                               std::to_string(p.denied) + " denied");
    }
  };
  std::vector<double> rates, sql_rates, ratios;
  std::vector<Pass> herald_passes, sql_passes;
  for (int run = 0; run < RunCount(smoke); ++run) {
    Costs herald_costs(&pg);
    herald_costs.AddProcess("heraldd", server.pid());
    herald_costs.AddProcess("client", getpid());
    Pass h = HeraldPass(*subs, ids, std::move(herald_costs));
    check("CheckEligibilityBatch", h);
    Costs sql_costs(&pg);
    sql_costs.AddProcess("client", getpid());
    Pass q = SqlPass(pg, ids, std::move(sql_costs));
    check("the set-based gate", q);
    std::cerr << "B2 run " << run + 1 << ": " << h.rate << " recipients/s ("
              << h.costs.Describe(subjects) << ") beside set-based SQL " << q.rate << " ("
              << q.costs.Describe(subjects) << ")" << std::endl;
    rates.push_back(h.rate);
    sql_rates.push_back(q.rate);
    ratios.push_back(h.rate / q.rate);
    herald_passes.push_back(std::move(h));
    sql_passes.push_back(std::move(q));
  }

  const double ratio = Median(ratios);
  Figure main{"B2",
              "CheckEligibilityBatch recipients/s, " + std::to_string(subjects) +
                  " subjects in batches of 10,000 (2 callers)",
              Median(rates),
              "recipients/s",
              "the gate's statements as one set-based statement over the same ids and batches "
              "(libpqxx, 2 connections)",
              Median(sql_rates),
              ratio,
              "ratio >= 0.5",
              ratio >= 0.5};
  main.runs = rates;
  herald_passes[MedianIndex(rates)].costs.Attach(main, subjects);
  main.pg_settings = pg.Settings();
  Report(main);
  Figure sql{"B2.sql",
             "the reference alone: set-based gate statement, recipients/s",
             Median(sql_rates),
             "recipients/s",
             "",
             0,
             0,
             "",
             true};
  sql.runs = sql_rates;
  sql_passes[MedianIndex(sql_rates)].costs.Attach(sql, subjects);
  Report(sql);
  Report({"B2.vs_b1",
          "CheckEligibilityBatch recipients/s beside single CheckEligibility calls (information)",
          Median(rates), "recipients/s", "B1 CheckEligibility req/s (64 concurrent), same run",
          single.rate, Median(rates) / single.rate, "", true});
  server.Stop();
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B2 failed: " << e.what() << "\n";
  return 1;
}
