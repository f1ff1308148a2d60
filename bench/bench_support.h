#pragma once
// What every benchmark (rows B1-B7) needs: its own throwaway PostgreSQL (started
// with deploy/dev/pg on a free port in 55460-55479), heraldd with its own config, child
// processes, and the one-line-per-figure report that bench/run-all collects.
#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <string>
#include <vector>

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
};
void Report(const Figure& f);

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
  double ServerCpuSeconds() const;

 private:
  std::string dir_;
  int port_ = 0;
};

// heraldd on loopback with a generated config (bench API keys, `extra_yaml` appended).
class Server {
 public:
  static constexpr char kKey[] = "bench-key-0123456789abcdef";  // admin scope
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

// `n` consenting subjects (fixed ids md5('subject-<i>')::uuid, CRM id crm-<i>, e-mail
// b<i>@example.com, i = 1..n), every `opted_out_every`-th opted out of all marketing (0: none).
// Set-based SQL, the same data on every run.
void SeedSubjects(const Pg& pg, const std::string& db, int n, int opted_out_every);
// All subject ids in subject order (i = 1..n).
std::vector<std::string> SubjectIds(const Pg& pg, const std::string& db);
// "load average: ..." of this machine now.
std::string Uptime();

std::string SourceDir();

}  // namespace herald::bench
