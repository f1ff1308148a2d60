#pragma once

// What every row of the fault matrix (README.md here) shares: its size from the environment, a
// PostgreSQL cluster of its own to stop or starve, recipients whose personal data is easy to
// find in a log, opt-outs racing the campaign, the judgement at the sink, and the one line of
// figures each row prints for tests/fault_matrix/run.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "herald/v1/dispatch.pb.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald::fault_matrix {

// The row sizes. CI runs the small defaults; tests/fault_matrix/run sets the full ones.
struct Size {
  int recipients;        // HERALD_FAULT_RECIPIENTS (300; full 2000)
  int pg_outage_s;       // HERALD_FAULT_PG_OUTAGE_S (5; full 15)
  int relay_outage_s;    // HERALD_FAULT_RELAY_OUTAGE_S (10; full 60)
  int disk_full_s;       // HERALD_FAULT_DISK_FULL_S (5; full 15)
  int lease_s;           // HERALD_FAULT_LEASE_S (30): longer than every outage above
  int sink_delay_ms;     // HERALD_FAULT_SINK_DELAY_MS (150): the relay's time per message
  int send_concurrency;  // HERALD_FAULT_SEND_CONCURRENCY (4)
  int opt_outs;          // a tenth of the recipients, at least 10
};
Size SizeFromEnvironment();

// Subjects' names and addresses carry this mark ("fmzq17", "fmzq17@example.com"), phone
// numbers this block (+99455000xxxx): a log that shows any of them shows personal data.
inline constexpr char kPersonalMark[] = "fmzq";
inline constexpr char kPhoneBlock[] = "99455000";

// A PostgreSQL 15 cluster of the row's own (deploy/dev/pg) in HERALD_TEST_STATE_DIR on a free
// port, so that stopping or starving it disturbs no other test. `tmpfs_mb` > 0 first mounts a
// tmpfs of that size where the cluster lives (the disk-full row); a mount that fails throws
// with the error, so the row fails instead of skipping.
class OwnCluster {
 public:
  explicit OwnCluster(const std::string& name, int tmpfs_mb = 0);
  ~OwnCluster();
  OwnCluster(const OwnCluster&) = delete;
  OwnCluster& operator=(const OwnCluster&) = delete;

  // Fast shutdown / start again on the same port; throw with the script's output on failure.
  void Stop();
  void Start();
  // Whether the server answers now (pg_isready).
  bool Ready() const;
  const std::string& dir() const { return dir_; }
  std::string admin_dsn() const;
  // Creates the database heraldd will use here from the migrations; returns its DSN.
  std::string CreateDatabase() const;

 private:
  std::string dir_;
  int port_ = 0;
  bool mounted_ = false;
  bool started_ = false;
};

// `n` consenting subjects with an e-mail address each (and with `phones`, a mobile number
// each, consent for SMS too), named with kPersonalMark; returns their ids.
std::vector<std::string> MakeRecipients(const std::string& dsn, int n, bool phones = false);

// Creates a campaign on special_offers on `channel`, adds `subjects` as recipients and starts
// it; returns its id. Failures are test failures.
std::string StartCampaign(const testing::HeralddProcess& api,
                          const std::vector<std::string>& subjects, v1::Channel channel,
                          const std::string& key);

// Opt-outs racing the campaign: each victim opted out of all marketing once, a few
// milliseconds apart, by `threads` clients at once, through whichever api process `target`
// names when the call starts (a row may kill one and start another), each client pausing up
// to twice `pause` (at random) between calls. A call that fails is not acknowledged and not
// retried: only acknowledged opt-outs are promises the sink must keep.
class OptOutRace {
 public:
  using Target = std::function<std::shared_ptr<grpc::Channel>()>;
  OptOutRace(Target target, std::vector<std::string> victims, int threads,
             std::chrono::milliseconds pause);
  ~OptOutRace();  // joins

  void Join();
  struct Ack {
    double at = 0;          // when the answer came, seconds since the epoch
    int64_t in_flight = 0;  // messages it reported in flight
  };
  // subject -> its acknowledged opt-out (after Join).
  const std::map<std::string, Ack>& acknowledged() const { return acked_; }
  int failed() const { return failed_; }
  // The first failure's status code and message ("" when none failed).
  const std::string& first_error() const { return first_error_; }

 private:
  Target target_;
  std::vector<std::string> victims_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::map<std::string, Ack> acked_;
  int failed_ = 0;
  std::string first_error_;
};

// What reached the sink, judged against the database and the acknowledged opt-outs.
struct Judgement {
  int recipients = 0;
  int64_t arrivals = 0;
  int64_t duplicates = 0;      // arrivals beyond the first, summed over recipients
  int64_t max_copies = 0;      // the most arrivals one recipient got
  int lost = 0;                // neither at the sink nor ended suppressed or failed with a reason
  int sent_not_delivered = 0;  // SENT in the database but never at the sink
  int delivered_not_sent = 0;  // at the sink, but the database ended them otherwise
  int failed = 0;              // FAILED (each with a reason, else counted lost)
  int suppressed = 0;
  int unsettled = 0;  // still queued, retrying or sending
  int strangers = 0;  // arrivals for addresses outside the campaign
  // Arrivals after an acknowledged opt-out beyond the in-flight count it reported.
  int64_t opted_out_reached = 0;
  int acked_opt_outs = 0;
  int opt_outs_not_recorded = 0;  // acknowledged, but no opt-out event in the database
  std::string examples;           // a few offenders, for failure messages (ids only)
};
// `arrivals_by_address`: lower-cased address -> the times it reached the sink.
Judgement Judge(const std::string& dsn, v1::Channel channel,
                const std::map<std::string, std::vector<double>>& arrivals_by_address,
                const std::map<std::string, OptOutRace::Ack>& acked);
std::map<std::string, std::vector<double>> ByAddress(const testing::SmtpCapture& sink);
// Every arrival time of such a map.
std::vector<double> AllTimes(const std::map<std::string, std::vector<double>>& by_address);

// The nothing-lost and opt-out expectations every row shares.
void ExpectNothingLostAndOptOutsKept(const Judgement& j);

// The longest time without an arrival between `from` and `until` (both included as
// points), in seconds since the epoch: how long sending stalled.
double LongestGap(std::vector<double> times, double from, double until);

// Personal data in logs: every line of `logs` holding kPersonalMark or kPhoneBlock.
std::vector<std::string> PersonalDataInLogs(const std::vector<std::string>& logs);
// `require_lines`: a process log is never empty (heraldd logs its start), so an empty one means
// the log was not found; an in-process row may have logged nothing at all.
void ExpectNoPersonalData(const std::vector<std::string>& logs, bool require_lines = true);

// Seconds since the epoch, now.
double Now();

// Polls the database every 100 ms until no message is queued, retrying or sending.
bool WaitUntilSettled(const std::string& dsn, std::chrono::seconds timeout);
int64_t Count(const std::string& dsn, const std::string& sql);

// "FAULT-ROW <row> key=value ...": one line per row on stdout, collected by run.
void PrintRow(const std::string& row, const std::vector<std::pair<std::string, std::string>>& kv);
std::string Fixed(double v, int decimals = 1);

}  // namespace herald::fault_matrix
