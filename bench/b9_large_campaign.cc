// B9: a campaign of 1,000,000 recipients (10% opted out) into Postfix's smtp-sink, to show
// that a claim stays proportional to its batch however long the queue: the send rate of the
// last tenth of the messages (heraldd's own record, message_attempts.ended_at) beside the
// first tenth's, in the same run. Also heraldd's peak RSS (VmHWM), the disk the campaign took
// (pg_database_size from before CreateCampaign to the end, per recipient, with the tables
// that grew) and the WAL written per recipient, for adding the recipients and for sending.
// Every consenting recipient must have been accepted by the sink exactly once and no opted-out
// one at all, or the run fails. The body is short (the dump of a million messages is read
// back); B5 measures 2 KB bodies.
// Full mode runs once (its size); HERALD_BENCH_B9_RECIPIENTS sets another size.
//   build/bench/bench_b9 [--smoke]
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <pqxx/pqxx>
#include <sstream>

#include "bench/bench_support.h"
#include "bench/load_client.h"

using namespace herald::bench;

namespace {

// When each of the campaign's accepted messages was accepted (the attempt that sent it: a
// failed attempt before it has no sent_at), in order.
constexpr char kAcceptedTimes[] = R"sql(
  SELECT extract(epoch FROM a.ended_at)::float8
  FROM message_attempts a
  JOIN messages m ON m.id = a.message_id
  WHERE m.campaign_id = $1 AND a.sent_at IS NOT NULL
  ORDER BY a.ended_at
)sql";

double DatabaseBytes(const Pg& pg) {
  return std::stod(pg.Psql("herald", "SELECT pg_database_size(current_database())"));
}

}  // namespace

int main(int argc, char** argv) try {
  const bool smoke = ParseSmoke(argc, argv);
  const int n = EnvCount("HERALD_BENCH_B9_RECIPIENTS", smoke ? 5000 : 1000000, 100000000);
  const int64_t expected = n - n / 10;

  SmtpSink sink("b9", 25270, 25299);
  Pg pg("b9");
  pg.CreateDatabase("herald");
  Server server(
      pg.Dsn("herald"), 8,
      "dispatch:\n  workers: 4\n  batch_size: 200\n" + SinkProviderYaml(sink.target(), 8));
  server.Start();
  SeedSubjects(pg, "herald", n, 10);
  auto ids = SubjectIds(pg, "herald");

  // Disk and WAL of the campaign itself: from before its recipients are added.
  pg.Psql("herald", "CHECKPOINT");
  const double db_before = DatabaseBytes(pg);
  const auto tables_before = TableBytes(pg, "herald");
  const std::string lsn_before_add = pg.WalLsn();
  const auto add_start = SteadyClock::now();
  const std::string campaign = CreateCampaign(server, "b9", "Hello", ids);
  const double add_seconds = std::chrono::duration<double>(SteadyClock::now() - add_start).count();
  const double add_wal = pg.WalBytesSince(lsn_before_add);
  const double rss_add = PeakRssMb(server.pid());  // the upload's share of the peak
  ids.clear();
  ids.shrink_to_fit();
  std::cout << "B9: " << n << " recipients added in " << add_seconds << " s; heraldd pid "
            << server.pid() << std::endl;

  Costs costs(&pg, /*wal=*/true);
  costs.AddProcess("heraldd", server.pid());
  costs.AddProcess("bench", getpid());
  costs.AddProcess("sink", sink.pid());
  costs.Start();
  const auto wall_start = std::chrono::system_clock::now();
  StartCampaign(server, campaign);
  const auto timeout = std::chrono::seconds(std::max(120, n / 100));
  const CampaignOutcome done = AwaitCampaign(pg.Dsn("herald"), campaign, wall_start, timeout);
  costs.Stop();
  const double rss = PeakRssMb(server.pid());

  // The rate of each tenth of the accepted messages, from heraldd's record of each acceptance.
  std::vector<double> at;
  {
    pqxx::connection conn(pg.Dsn("herald"));
    pqxx::read_transaction txn(conn);
    for (const auto& row : txn.exec_params(kAcceptedTimes, campaign))
      at.push_back(row[0].as<double>());
  }
  std::vector<double> tenths;
  if (at.size() >= 20) {
    const size_t m = at.size();
    for (int j = 0; j < 10; ++j) {
      const size_t from = j * m / 10, to = std::min(m - 1, (j + 1) * m / 10);
      const double span = at[to] - at[from];
      tenths.push_back(span > 0 ? static_cast<double>(to - from) / span : 0);
    }
  }
  const double db_after = DatabaseBytes(pg);
  const auto tables_after = TableBytes(pg, "herald");
  server.Stop();
  sink.Stop();

  int64_t others = 0;
  const auto counts = sink.Recipients(&others);
  int64_t once = 0, duplicated = 0, missing = 0, opted_out_delivered = 0;
  for (int i = 1; i <= n; ++i) {
    const int c = i < static_cast<int>(counts.size()) ? counts[i] : 0;
    if (i % 10 == 0) {
      opted_out_delivered += c;
    } else if (c == 1) {
      ++once;
    } else if (c == 0) {
      ++missing;
    } else {
      ++duplicated;
    }
  }
  for (size_t i = n + 1; i < counts.size(); ++i) others += counts[i];

  std::ostringstream grew;
  for (const auto& [table, bytes] : tables_after) {
    auto before = tables_before.find(table);
    const double delta = bytes - (before == tables_before.end() ? 0 : before->second);
    if (delta >= 1 << 20) grew << " " << table << " " << delta / n << " B,";
  }
  std::cout << "B9: " << done.sent << " sent, " << done.suppressed << " suppressed in "
            << done.seconds << " s (" << done.sent / done.seconds << " msg/s); sink: " << once
            << " exactly once, " << missing << " missing, " << duplicated << " duplicated, "
            << opted_out_delivered << " opted-out, " << others << " others\n"
            << "B9: msg/s by tenth:";
  for (double r : tenths) std::cout << " " << static_cast<int64_t>(r);
  std::cout << "\nB9: per recipient, growth by table:" << grew.str() << " database "
            << (db_after - db_before) / n << " B; WAL adding " << add_wal / n << " B, sending "
            << costs.WalBytes() / n << " B; " << costs.Describe(static_cast<double>(done.sent))
            << std::endl;
  if (done.sent != expected || done.suppressed != n / 10 ||
      static_cast<int64_t>(at.size()) != expected || once != expected || missing || duplicated ||
      opted_out_delivered || others) {
    std::cerr << "B9: expected " << expected << " sent and accepted once each, " << n / 10
              << " suppressed and none of them accepted\n";
    return 1;
  }
  if (tenths.size() != 10) throw std::runtime_error("too few messages to split in tenths");

  const double ratio = tenths.front() > 0 ? tenths.back() / tenths.front() : 0;
  Figure main{"B9",
              "campaign msg/s in the last tenth of " + std::to_string(expected) +
                  " accepted messages (" + std::to_string(n) +
                  " recipients, 10% opted out), heraldd's record",
              tenths.back(),
              "msg/s",
              "the first tenth of the same campaign",
              tenths.front(),
              ratio,
              "ratio >= 0.9",
              ratio >= 0.9};
  costs.Attach(main, static_cast<double>(done.sent));
  main.pg_settings = pg.Settings();
  Report(main);
  // One tenth against another moves with the machine (two runs: 1,258 -> 1,587 and
  // 1,814 -> 1,612, the tenths between without a trend); the straight line fitted through
  // all ten shows a slowdown that grows with the campaign, if there is one.
  double mean_x = 5.5, mean_y = 0, sxy = 0, sxx = 0;
  for (double r : tenths) mean_y += r / 10;
  for (int j = 0; j < 10; ++j) {
    sxy += (j + 1 - mean_x) * (tenths[j] - mean_y);
    sxx += (j + 1 - mean_x) * (j + 1 - mean_x);
  }
  const double slope = sxy / sxx;
  const double fitted_first = mean_y + slope * (1 - mean_x);
  const double fitted_last = mean_y + slope * (10 - mean_x);
  Report({"B9.trend", "the last tenth's rate on the line fitted through all ten tenths",
          fitted_last, "msg/s", "the first tenth's on the same line", fitted_first,
          fitted_first > 0 ? fitted_last / fitted_first : 0, "", true});
  Report({"B9.rate",
          "campaign msg/s, StartCampaign to last accepted, " + std::to_string(n) + " recipients",
          done.sent / done.seconds, "msg/s", "", 0, 0, "", true});
  Report({"B9.rss", "heraldd peak RSS (VmHWM)", rss, "MB", "", 0, 0, "<= 100 MB",
          rss > 0 && rss <= 100});
  Report({"B9.rss_add", "heraldd peak RSS (VmHWM) once the recipients were added", rss_add, "MB",
          "", 0, 0, "", true});
  Report({"B9.disk", "database growth per recipient, CreateCampaign to the campaign's end",
          (db_after - db_before) / n, "bytes", "", 0, 0, "", true});
  Report({"B9.wal_add", "WAL bytes per recipient while adding the recipients (AddRecipients)",
          add_wal / n, "bytes", "", 0, 0, "", true});
  Report({"B9.wal_send", "WAL bytes per recipient while sending (StartCampaign to the end)",
          costs.WalBytes() / n, "bytes", "", 0, 0, "", true});
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B9 failed: " << e.what() << "\n";
  return 1;
}
