#pragma once
// What every benchmark (rows B1-B12) needs: its own throwaway PostgreSQL (started
// with deploy/dev/pg on a free port in 55460-55479), heraldd with its own config, child
// processes, and the one-line-per-figure report that bench/run-all collects.
#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "herald/v1/dispatch.pb.h"

namespace herald::bench {

// --smoke (or HERALD_BENCH_SMOKE=1): a few-second run that only proves the benchmark works.
bool ParseSmoke(int argc, char** argv);

// The whole number in environment variable `name` (digits only), or `fallback` when it is
// unset. Throws std::runtime_error naming the variable when it is not one from 1 to `max`.
int EnvCount(const char* name, int fallback, int max);

// One figure beside its reference measured in the same run. Prints a readable line and a
// `BENCH_JSON {...}` line (collected by bench/run-all).
struct Figure {
  std::string id;      // "B1", "B1.p99", ...
  std::string figure;  // what was measured
  double value = 0;
  std::string unit;
  std::string reference;  // what it is compared with
  double reference_value = 0;
  double ratio = 0;  // value / reference_value, or 0 when there is no ratio
  std::string goal;  // e.g. "ratio >= 0.7"; empty: no goal
  bool pass = true;
  // Optional context, printed and put in the JSON when given:
  // the value of each run when the figure is the median of several (spread: min..max);
  std::vector<double> runs = {};
  // CPU microseconds per operation of each party during the timed window (Costs);
  std::vector<std::pair<std::string, double>> cpu_us_per_op = {};
  // WAL bytes per operation (write rows; negative: not measured);
  double wal_bytes_per_op = -1;
  // the PostgreSQL settings the figure was measured with (Pg::Settings).
  std::map<std::string, std::string> pg_settings = {};
};
void Report(const Figure& f);

// How many times the main figure of a row is measured: 3 in full mode (the figure is their
// median, the spread their min..max), 1 in smoke mode; HERALD_BENCH_RUNS overrides.
int RunCount(bool smoke);
// The median of `values` (the mean of the middle two for an even count); 0 when empty.
double Median(std::vector<double> values);
// The index of the run whose value is the median (the lower middle one for an even count), so
// that run's CPU and WAL go with the median figure.
size_t MedianIndex(const std::vector<double>& values);

// Runs a shell command; returns its stdout. Throws (with stderr kept on the terminal) when it
// exits non-zero.
std::string Sh(const std::string& command);
// fork+exec; stdout/stderr to `log_file` when given.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log_file = "");
int WaitExit(pid_t pid);
// VmHWM of a live process, in MB (-1 when unknown).
double PeakRssMb(pid_t pid);
// CPU time (user + system, every thread) a live process has used so far, in seconds; -1
// when unknown. A figure's CPU share is the difference of two readings.
double CpuSeconds(pid_t pid);
// A free loopback TCP port in [first, last], or 0.
int FreePortIn(int first, int last);

class Pg;

// What a timed window cost each party: CPU (user + system) of each process, read from /proc
// at both ends, and, when asked, the WAL PostgreSQL wrote. One helper for every row:
//   Costs costs(&pg, /*wal=*/true);
//   costs.AddProcess("heraldd", server.pid());
//   costs.AddProcess("client", getpid());
//   costs.Start(); ...timed work...; costs.Stop();
//   costs.Attach(figure, operations);  // fills cpu_us_per_op and wal_bytes_per_op
// PostgreSQL (when `pg` is given) is the postmaster with all its children: backends,
// WAL writer, checkpointer, including those that exited during the window.
class Costs {
 public:
  explicit Costs(const Pg* pg = nullptr, bool wal = false);
  void AddProcess(std::string party, pid_t pid);
  void Start();
  void Stop();
  // CPU seconds of each party between Start and Stop, in the order they were added
  // (PostgreSQL last).
  std::vector<std::pair<std::string, double>> CpuSeconds() const;
  double WalBytes() const { return wal_bytes_; }  // -1 when not measured
  void Attach(Figure& f, double operations) const;
  // One readable line: "CPU µs/op: heraldd 12.3, postgres 40.1, ...; WAL 812 B/op".
  std::string Describe(double operations) const;

 private:
  struct Party {
    std::string name;
    std::function<double()> read;
    double at_start = 0, used = 0;
  };
  const Pg* pg_;
  bool wal_;
  std::vector<Party> parties_;
  std::string lsn_;
  double wal_bytes_ = -1;
};

// A PostgreSQL 15 cluster of our own, stopped and removed on destruction.
class Pg {
 public:
  explicit Pg(const std::string& name);
  ~Pg();
  int port() const { return port_; }
  std::string Dsn(const std::string& db = "postgres") const;
  // psql -X -q -v ON_ERROR_STOP=1 -At -c SQL against `db`.
  std::string Psql(const std::string& db, const std::string& sql) const;
  void CreateDatabase(const std::string& db) const;
  // -h/-p arguments for the PostgreSQL client tools.
  std::string ConnArgs() const;
  // CPU seconds used so far by the server: the postmaster and its live children (backends,
  // WAL writer, checkpointer ...). A backend that has exited no longer counts, so read it
  // while the clients that matter are still connected.
  // Children that have exited count too (the postmaster's cutime/cstime once it reaped them).
  double ServerCpuSeconds() const;
  // The settings a figure depends on (shared_buffers, synchronous_commit, max_connections,
  // work_mem, fsync, wal_level, ...), name -> value with its unit.
  std::map<std::string, std::string> Settings() const;
  // pg_current_wal_lsn() now, as text.
  std::string WalLsn() const;
  // WAL bytes written since `lsn` (pg_wal_lsn_diff).
  double WalBytesSince(const std::string& lsn) const;

 private:
  std::string dir_;
  int port_ = 0;
};

// heraldd on loopback with a generated config (bench API keys, `extra_yaml` appended).
class Server {
 public:
  static constexpr char kKey[] = "bench-key-0123456789abcdef";  // admin scope
  // HERALD_SUPPRESSION_KEYS: one key, id "bench", 32 bytes of 0xab (hex).
  static constexpr char kSuppressionKeyId[] = "bench";
  static constexpr char kSuppressionKeyHex[] =
      "abababababababababababababababababababababababababababababababab";
  Server(std::string database_url, int pool_size, std::string extra_yaml);
  ~Server();
  // An extra NAME=value in heraldd's environment (e.g. a secret such as HERALD_CRM_PASSWORD,
  // which the config file never carries); before Start().
  void AddEnv(std::string name_value) { env_.push_back(std::move(name_value)); }
  // Start() waits for the gRPC listener; a process without the api role has none, and is
  // taken as started when its ops listener answers /readyz instead.
  void ReadyThroughOps() { ready_through_ops_ = true; }
  void Start();
  int Stop();
  pid_t pid() const { return pid_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  int json_port() const { return json_port_; }  // the JSON API (api role)
  int ops_port() const { return ops_port_; }    // /healthz, /readyz, /metrics
  std::shared_ptr<grpc::Channel> Channel() const;
  std::string LogTail() const;

 private:
  std::string database_url_, extra_yaml_, dir_;
  std::vector<std::string> env_;
  int pool_size_;
  bool ready_through_ops_ = false;
  int grpc_port_ = 0, json_port_ = 0, http_port_ = 0, ops_port_ = 0;
  pid_t pid_ = -1;
};

void Authorize(grpc::ClientContext& ctx);

// A campaign on special_offers by e-mail (subject "Offer", `text` as its body) with
// `subject_ids` as its recipients, added in AddRecipients messages of 5,000 rows; returns its
// id. Throws std::runtime_error on any failure.
std::string CreateCampaign(const Server& api, const std::string& idempotency_key,
                           const std::string& text, const std::vector<std::string>& subject_ids);
void StartCampaign(const Server& api, const std::string& campaign_id);

// Polls GetRecipientUpload every 50 ms until the upload is resolved (AddRecipients answers
// before its rows are queued); returns the resolved upload. Throws after `deadline`.
herald::v1::RecipientUpload AwaitUpload(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& campaign_id,
                                        const std::string& upload_id,
                                        std::chrono::seconds deadline = std::chrono::minutes(10));

// `n` consenting subjects (fixed ids md5('subject-<i>')::uuid, CRM id crm-<i>, e-mail
// b<i>@example.com, i = 1..n), every `opted_out_every`-th opted out of all marketing (0: none).
// Set-based SQL, the same data on every run.
void SeedSubjects(const Pg& pg, const std::string& db, int n, int opted_out_every);
// All subject ids in subject order (i = 1..n).
std::vector<std::string> SubjectIds(const Pg& pg, const std::string& db);
// "load average: ..." of this machine now.
std::string Uptime();

std::string SourceDir();

// Postfix's smtp-sink on a free loopback port in [first, last], appending every transaction to
// one dump file (-D) so the recipients it accepted can be read back. `options` go before the
// address, e.g. {"-W", "rcpt:1"} (a reply delayed by whole seconds). A port taken between the
// probe and the sink's bind (another run on the machine) is retried on another one for up to
// a minute. Stopped and its files removed on destruction.
class SmtpSink {
 public:
  SmtpSink(const std::string& name, int first, int last, std::vector<std::string> options = {});
  ~SmtpSink();
  SmtpSink(const SmtpSink&) = delete;
  SmtpSink& operator=(const SmtpSink&) = delete;
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  pid_t pid() const { return pid_; }
  void Stop();
  // After Stop(): how many times the sink accepted each recipient b<i>@example.com, indexed by
  // i (SeedSubjects' addresses); `others` counts any other recipient.
  std::vector<int> Recipients(int64_t* others = nullptr) const;

 private:
  std::string dir_, dump_;
  int port_ = 0;
  pid_t pid_ = -1;
};

// heraldd's provider section for one SMTP provider "sink" at `target` (host:port), without
// TLS, at most `max_connections` connections, plus the e-mail From address.
std::string SinkProviderYaml(const std::string& target, int max_connections);

// Fair sending switched on without changing who gets what (B1, B5 beside their plain rows):
// frequency caps on e-mail and on special_offers far above what a run sends, and e-mail quiet
// hours of one minute twelve hours away (UTC), so every decision computes them and none
// waits. The servers' default is none of it (quiet hours off).
std::string FairSendingYaml();

// What heraldd recorded of a finished campaign.
struct CampaignOutcome {
  double seconds = 0;        // from `wall_start` to the last attempt's end (message_attempts)
  double noticed_after = 0;  // when the poll saw nothing queued, retrying or sending
  int64_t sent = 0, suppressed = 0;
};
// Polls every 500 ms until no message of `campaign` is queued, retrying or sending (throws
// after `timeout`), calling `each_poll` (when given) at every poll; then reads heraldd's
// record. Throws when the last attempt's end does not lie within the campaign.
CampaignOutcome AwaitCampaign(const std::string& dsn, const std::string& campaign,
                              std::chrono::system_clock::time_point wall_start,
                              std::chrono::seconds timeout,
                              const std::function<void()>& each_poll = {});

// The value of one series of a process's /metrics, e.g.
// `herald_db_statement_duration_seconds_count{statement="outbox.claim_due"}`; 0 when absent.
double MetricValue(const Server& s, const std::string& series);

// Every table's pg_total_relation_size in `db`, by name.
std::map<std::string, double> TableBytes(const Pg& pg, const std::string& db);

}  // namespace herald::bench
