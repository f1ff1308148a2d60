// B10: CheckEligibility and OptOut latency while a campaign sends at full speed. One heraldd
// (roles api and worker, B5's dispatch settings) sends a campaign of N recipients (10% opted
// out) into Postfix's smtp-sink while the load client offers CheckEligibility at 200/s (on the
// campaign's own recipients) and OptOut at 20/s (on other subjects, each once), both open loop
// (latency from the scheduled time). Reported: p50/p99 of each (goals: CheckEligibility p99
// <= 10 ms, OptOut p99 <= 20 ms) beside the same load on the same server without a campaign
// (other opt-out subjects), and the campaign's rate under that load beside the rate of
// the same campaign alone (another N recipients, same server, just before), as B5 measures it.
// The load runs while the campaign does (a shorter load in smoke mode); the fraction of the
// load window the campaign covered is printed. The sink must have accepted every consenting
// recipient of both campaigns exactly once and no opted-out one, every call must succeed and
// each OptOut must have written its event.
//   build/bench/bench_b10 [--smoke]
#include <unistd.h>

#include <iostream>
#include <thread>
#include <tuple>

#include "bench/bench_support.h"
#include "bench/load_client.h"
#include "herald/v1/subscriptions.grpc.pb.h"

using namespace herald::bench;
using std::chrono::milliseconds;

namespace {

constexpr double kCheckRate = 200, kOptOutRate = 20;

// CheckEligibility at kCheckRate and OptOut at kOptOutRate, open loop, for `ms`.
std::pair<LoadResult, LoadResult> MixedLoad(const IssueFn& check, const IssueFn& opt_out, int ms) {
  LoadResult checks, opts;
  std::thread opt_thread([&] { opts = OpenLoop(opt_out, kOptOutRate, milliseconds(ms)); });
  checks = OpenLoop(check, kCheckRate, milliseconds(ms));
  opt_thread.join();
  return {checks, opts};
}

}  // namespace

int main(int argc, char** argv) try {
  const bool smoke = ParseSmoke(argc, argv);
  const int n = smoke ? 4000 : 100000;       // recipients of each campaign
  const int load_ms = smoke ? 1500 : 20000;  // the mixed load's window
  const int opt_outs = static_cast<int>(kOptOutRate * load_ms / 1000) + 20;

  SmtpSink sink("b10", 25270, 25299);
  Pg pg("b10");
  pg.CreateDatabase("herald");
  Server server(
      pg.Dsn("herald"), 16,
      "dispatch:\n  workers: 4\n  batch_size: 200\n" + SinkProviderYaml(sink.target(), 8));
  server.Start();
  // Subjects 1..n: the campaign alone; n+1..2n: the campaign under load; then the opt-outs'.
  // Each OptOut call opts a consenting subject out (and writes its event).
  // Two windows of load (without and with the campaign), each with its own opt-out subjects.
  const int seeded = 2 * n + 2 * opt_outs + 2 * opt_outs / 9 + 10;
  SeedSubjects(pg, "herald", seeded, 10);
  auto ids = SubjectIds(pg, "herald");
  const std::vector<std::string> alone_ids(ids.begin(), ids.begin() + n);
  const std::vector<std::string> mixed_ids(ids.begin() + n, ids.begin() + 2 * n);
  std::vector<std::string> opt_out_ids;
  for (int i = 2 * n + 1; i <= seeded; ++i) {
    if (i % 10 != 0) opt_out_ids.push_back(ids[i - 1]);
  }
  const std::string body(2048, 'x');
  const std::string alone = CreateCampaign(server, "b10-alone", body, alone_ids);
  const std::string mixed = CreateCampaign(server, "b10-mixed", body, mixed_ids);
  const auto timeout = std::chrono::seconds(smoke ? 120 : 900);

  // The campaign alone, as a reference.
  auto wall_start = std::chrono::system_clock::now();
  StartCampaign(server, alone);
  const CampaignOutcome by_itself = AwaitCampaign(pg.Dsn("herald"), alone, wall_start, timeout);
  const double alone_rate = by_itself.sent / by_itself.seconds;

  // The campaign under the mixed load.
  auto subs = herald::v1::SubscriptionService::NewStub(server.Channel());
  using CReq = herald::v1::CheckEligibilityRequest;
  using CResp = herald::v1::CheckEligibilityResponse;
  auto check = Unary<CReq, CResp>(
      [&](grpc::ClientContext* c, const CReq* q, CResp* r, std::function<void(grpc::Status)> cb) {
        subs->async()->CheckEligibility(c, q, r, std::move(cb));
      },
      [&](uint64_t seq, CReq& q) {
        q.mutable_recipient()->set_subject_id(mixed_ids[(seq * 7919) % mixed_ids.size()]);
        q.set_channel(herald::v1::EMAIL);
        q.set_topic("special_offers");
      },
      Server::kKey);
  size_t opt_out_offset = 0;
  using OReq = herald::v1::OptOutRequest;
  using OResp = herald::v1::OptOutResponse;
  auto opt_out = Unary<OReq, OResp>(
      [&](grpc::ClientContext* c, const OReq* q, OResp* r, std::function<void(grpc::Status)> cb) {
        subs->async()->OptOut(c, q, r, std::move(cb));
      },
      [&](uint64_t seq, OReq& q) {
        q.set_idempotency_key("b10-" + std::to_string(opt_out_offset + seq));
        q.set_subject_id(opt_out_ids[(opt_out_offset + seq) % opt_out_ids.size()]);
        q.set_scope(herald::v1::ALL_MARKETING);
        q.mutable_proof()->set_source(herald::v1::CRM);
      },
      Server::kKey);

  // The load alone, as a reference.
  const auto [quiet_checks, quiet_opts] = MixedLoad(check, opt_out, load_ms);
  opt_out_offset = static_cast<size_t>(opt_outs);

  Costs costs(&pg, /*wal=*/true);
  costs.AddProcess("heraldd", server.pid());
  costs.AddProcess("bench", getpid());
  costs.AddProcess("sink", sink.pid());
  costs.Start();
  wall_start = std::chrono::system_clock::now();
  StartCampaign(server, mixed);
  LoadResult checks, opts;
  std::tie(checks, opts) = MixedLoad(check, opt_out, load_ms);
  const double load_end =
      std::chrono::duration<double>(std::chrono::system_clock::now() - wall_start).count();
  const CampaignOutcome loaded = AwaitCampaign(pg.Dsn("herald"), mixed, wall_start, timeout);
  costs.Stop();
  const double mixed_rate = loaded.sent / loaded.seconds;
  const double covered = std::min(1.0, loaded.seconds / load_end);
  server.Stop();
  sink.Stop();

  int64_t others = 0;
  const auto counts = sink.Recipients(&others);
  int64_t once = 0, wrong = 0, opted_out_delivered = 0;
  for (int i = 1; i <= seeded; ++i) {
    const int c = i < static_cast<int>(counts.size()) ? counts[i] : 0;
    if (i > 2 * n || i % 10 == 0) {
      opted_out_delivered += c;  // opted out, or never a recipient
    } else if (c == 1) {
      ++once;
    } else {
      ++wrong;
    }
  }
  const long events =
      std::stol(pg.Psql("herald", "SELECT count(*) FROM events WHERE type = 'opt_out'"));
  std::cout << "B10: campaign alone " << by_itself.sent << " sent in " << by_itself.seconds
            << " s; under load " << loaded.sent << " sent in " << loaded.seconds
            << " s, the load's window " << load_end << " s (covered " << covered
            << "); without the campaign: CheckEligibility p50/p99 " << quiet_checks.p50_ms << "/"
            << quiet_checks.p99_ms << " ms, OptOut " << quiet_opts.p50_ms << "/"
            << quiet_opts.p99_ms << " ms; with it: CheckEligibility " << checks.ok << " ok, "
            << checks.errors << " errors; OptOut " << opts.ok << " ok, " << opts.errors
            << " errors, " << events << " opt-out events; sink: " << once << " exactly once, "
            << wrong << " not once, " << opted_out_delivered << " opted-out, " << others
            << " others; " << costs.Describe(static_cast<double>(loaded.sent)) << std::endl;
  const int64_t expected = 2 * (n - n / 10);
  if (checks.errors || opts.errors || quiet_checks.errors || quiet_opts.errors || checks.ok == 0 ||
      opts.ok == 0 || events < static_cast<long>(opts.ok + quiet_opts.ok) ||
      by_itself.sent != n - n / 10 || loaded.sent != n - n / 10 || once != expected || wrong ||
      opted_out_delivered || others) {
    std::cerr << "B10: expected every call to succeed (an opt-out event each) and " << expected
              << " recipients accepted once each, none opted out (first error: "
              << checks.first_error << opts.first_error << ")\n";
    return 1;
  }

  Report({"B10.check_p99",
          "CheckEligibility p99, open loop at 200/s while a campaign sends (" + std::to_string(n) +
              " recipients)",
          checks.p99_ms, "ms", "the same load without a campaign, same server", quiet_checks.p99_ms,
          0, "<= 10 ms", checks.p99_ms <= 10});
  Report({"B10.check_p50", "CheckEligibility p50, the same load while the campaign sends",
          checks.p50_ms, "ms", "without a campaign", quiet_checks.p50_ms, 0, "", true});
  Report({"B10.optout_p99", "OptOut p99, open loop at 20/s while the campaign sends", opts.p99_ms,
          "ms", "the same load without a campaign, same server", quiet_opts.p99_ms, 0, "<= 20 ms",
          opts.p99_ms <= 20});
  Report({"B10.optout_p50", "OptOut p50, the same load while the campaign sends", opts.p50_ms, "ms",
          "without a campaign", quiet_opts.p50_ms, 0, "", true});
  Figure rate{"B10.campaign",
              "campaign msg/s under that load, StartCampaign to last accepted (it ran through " +
                  std::to_string(static_cast<int>(covered * 100)) + "% of the load's window)",
              mixed_rate,
              "msg/s",
              "the same campaign alone, same server, just before",
              alone_rate,
              mixed_rate / alone_rate,
              "",
              true};
  costs.Attach(rate, static_cast<double>(loaded.sent));
  rate.pg_settings = pg.Settings();
  Report(rate);
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B10 failed: " << e.what() << "\n";
  return 1;
}
