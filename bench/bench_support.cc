#include "bench/bench_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "common/crypto/hash.h"
#include "common/domain/enums.h"
#include "common/strict_int.h"
#include "herald/v1/dispatch.grpc.pb.h"

namespace herald::bench {
namespace {
constexpr char kPgBin[] = "/usr/lib/postgresql/15/bin";
}

std::string SourceDir() { return HERALD_SOURCE_DIR; }

int EnvCount(const char* name, int fallback, int max) {
  const char* text = std::getenv(name);
  if (!text) return fallback;
  auto n = ParseStrictInt<int>(text);
  if (!n || *n < 1 || *n > max) {
    throw std::runtime_error(std::string(name) + ": expected a whole number from 1 to " +
                             std::to_string(max));
  }
  return *n;
}

bool ParseSmoke(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--smoke") return true;
  }
  const char* env = std::getenv("HERALD_BENCH_SMOKE");
  return env != nullptr && std::string(env) == "1";
}

void Report(const Figure& f) {
  std::cout << std::fixed << std::setprecision(f.value < 100 ? 3 : 0) << f.id << "  " << f.figure
            << ": " << f.value << " " << f.unit;
  if (!f.reference.empty()) {
    std::cout << std::setprecision(f.reference_value < 100 ? 3 : 0) << " | reference "
              << f.reference << ": " << f.reference_value;
  }
  if (f.ratio > 0) std::cout << std::setprecision(3) << " | ratio " << f.ratio;
  if (!f.goal.empty()) std::cout << " | goal " << f.goal << (f.pass ? " PASS" : " MISS");
  std::cout << "\n";
  nlohmann::json j = {
      {"id", f.id},       {"figure", f.figure},       {"value", f.value},
      {"unit", f.unit},   {"reference", f.reference}, {"reference_value", f.reference_value},
      {"ratio", f.ratio}, {"goal", f.goal},           {"pass", f.pass}};
  if (f.runs.size() > 1) {
    auto [lo, hi] = std::minmax_element(f.runs.begin(), f.runs.end());
    std::cout << std::setprecision(*lo < 100 ? 3 : 0) << "    median of " << f.runs.size()
              << " runs, spread " << *lo << ".." << *hi << " " << f.unit << "\n";
    j["runs"] = f.runs;
    j["min"] = *lo;
    j["max"] = *hi;
  }
  if (!f.cpu_us_per_op.empty() || f.wal_bytes_per_op >= 0) {
    std::cout << "    per operation:" << std::setprecision(1);
    nlohmann::json cpu = nlohmann::json::object();
    for (const auto& [party, us] : f.cpu_us_per_op) {
      std::cout << " " << party << " " << us << " µs CPU,";
      cpu[party] = us;
    }
    if (!f.cpu_us_per_op.empty()) j["cpu_us_per_op"] = cpu;
    if (f.wal_bytes_per_op >= 0) {
      std::cout << " WAL " << f.wal_bytes_per_op << " bytes";
      j["wal_bytes_per_op"] = f.wal_bytes_per_op;
    }
    std::cout << "\n";
  }
  if (!f.pg_settings.empty()) {
    std::cout << "    PostgreSQL:";
    for (const auto& [name, value] : f.pg_settings) std::cout << " " << name << "=" << value;
    std::cout << "\n";
    j["pg_settings"] = f.pg_settings;
  }
  std::cout << "BENCH_JSON " << j.dump() << std::endl;
}

int RunCount(bool smoke) { return EnvCount("HERALD_BENCH_RUNS", smoke ? 1 : 3, 99); }

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

size_t MedianIndex(const std::vector<double>& values) {
  if (values.empty()) return 0;
  std::vector<size_t> order(values.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  return order[(order.size() - 1) / 2];
}

std::string Sh(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("popen failed: " + command);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = pclose(p);
  if (status != 0)
    throw std::runtime_error("command failed (" + std::to_string(status) + "): " + command);
  return out;
}

pid_t Spawn(const std::vector<std::string>& args, const std::string& log_file) {
  pid_t pid = fork();
  if (pid == 0) {
    if (!log_file.empty()) {
      int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) throw std::runtime_error("fork failed");
  return pid;
}

int WaitExit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

double PeakRssMb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return -1;
}

namespace {

// The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses):
// [0] is the state, [1] the parent pid, [11] utime and [12] stime in clock ticks.
std::vector<std::string> StatFields(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat;
  std::getline(in, stat);
  auto close = stat.rfind(')');
  if (close == std::string::npos) return {};
  std::istringstream rest(stat.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  return fields;
}

double TicksToSeconds(const std::vector<std::string>& f) {
  if (f.size() < 13) return -1;
  return static_cast<double>(std::stoll(f[11]) + std::stoll(f[12])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

// [13] cutime and [14] cstime: the children this process has waited for.
double ChildTicksToSeconds(const std::vector<std::string>& f) {
  if (f.size() < 15) return -1;
  return static_cast<double>(std::stoll(f[13]) + std::stoll(f[14])) /
         static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace

double CpuSeconds(pid_t pid) { return TicksToSeconds(StatFields(std::to_string(pid))); }

int FreePortIn(int first, int last) {
  for (int port = first; port <= last; ++port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    close(fd);
    if (ok) return port;
  }
  return 0;
}

static int EphemeralPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  // Port 0 would start heraldd on a port nobody knows: fail here with the reason instead.
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::string reason = std::strerror(errno);
    if (fd >= 0) close(fd);
    throw std::runtime_error("no free loopback port: " + reason);
  }
  close(fd);
  return ntohs(addr.sin_port);
}

Pg::Pg(const std::string& name) {
  dir_ = "/var/tmp/herald-bench-" + name + "-" + std::to_string(getpid());
  // HERALD_BENCH_PG_PORTS="FIRST-LAST": another range, so parallel runs on one machine
  // (several worktrees) do not race for the same port.
  int first = 55460, last = 55479;
  if (const char* range = std::getenv("HERALD_BENCH_PG_PORTS")) {
    std::string_view text(range);
    auto dash = text.find('-');
    auto a = ParseStrictInt<int>(text.substr(0, dash));
    auto b =
        dash == std::string_view::npos ? std::nullopt : ParseStrictInt<int>(text.substr(dash + 1));
    if (!a || !b || *a < 1024 || *b > 65535 || *a > *b) {
      throw std::runtime_error("HERALD_BENCH_PG_PORTS: expected FIRST-LAST ports (1024-65535)");
    }
    first = *a;
    last = *b;
  }
  port_ = FreePortIn(first, last);
  if (port_ == 0) throw std::runtime_error("no free port in the range for PostgreSQL");
  Sh("bash " + SourceDir() + "/deploy/dev/pg start " + dir_ + " " + std::to_string(port_) +
     " >/dev/null");
}

Pg::~Pg() {
  try {
    Sh("bash " + SourceDir() + "/deploy/dev/pg stop " + dir_ + " >/dev/null 2>&1");
  } catch (...) {
  }
  (void)std::system(("rm -rf '" + dir_ + "'").c_str());
}

std::string Pg::Dsn(const std::string& db) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + db;
}

std::string Pg::ConnArgs() const {
  return "-h 127.0.0.1 -p " + std::to_string(port_) + " -U postgres";
}

double Pg::ServerCpuSeconds() const {
  std::ifstream pidfile(dir_ + "/data/postmaster.pid");
  std::string postmaster;
  std::getline(pidfile, postmaster);
  if (postmaster.empty()) return -1;
  auto own = StatFields(postmaster);
  double total = TicksToSeconds(own);
  if (total < 0) return -1;
  total += ChildTicksToSeconds(own);  // backends that have exited and were reaped
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    auto fields = StatFields(pid);  // empty when the process has gone meanwhile
    if (fields.size() >= 13 && fields[1] == postmaster) total += TicksToSeconds(fields);
  }
  return total;
}

std::map<std::string, std::string> Pg::Settings() const {
  std::map<std::string, std::string> out;
  std::istringstream rows(Psql("postgres", R"sql(
    SELECT name || '=' || current_setting(name)
    FROM pg_settings
    WHERE name IN ('shared_buffers', 'synchronous_commit', 'max_connections', 'work_mem',
                   'fsync', 'wal_level', 'full_page_writes', 'max_wal_size',
                   'checkpoint_timeout', 'effective_cache_size', 'maintenance_work_mem',
                   'wal_buffers', 'commit_delay', 'jit', 'max_parallel_workers_per_gather')
  )sql"));
  for (std::string line; std::getline(rows, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

std::string Pg::WalLsn() const {
  std::string lsn = Psql("postgres", "SELECT pg_current_wal_lsn()");
  while (!lsn.empty() && lsn.back() == '\n') lsn.pop_back();
  return lsn;
}

double Pg::WalBytesSince(const std::string& lsn) const {
  // The LSN is PostgreSQL's own text (hex/hex), checked before it is spliced in.
  if (lsn.empty() || lsn.find_first_not_of("0123456789ABCDEFabcdef/") != std::string::npos) {
    throw std::runtime_error("not a WAL position: " + lsn);
  }
  return std::stod(Psql("postgres", "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '" + lsn + "')"));
}

Costs::Costs(const Pg* pg, bool wal) : pg_(pg), wal_(wal && pg != nullptr) {}

void Costs::AddProcess(std::string party, pid_t pid) {
  parties_.push_back({std::move(party), [pid] { return herald::bench::CpuSeconds(pid); }});
}

void Costs::Start() {
  if (pg_ && (parties_.empty() || parties_.back().name != "postgres")) {
    parties_.push_back({"postgres", [pg = pg_] { return pg->ServerCpuSeconds(); }});
  }
  // The WAL position first and the CPU last, so psql's own backend stays outside the window.
  if (wal_) lsn_ = pg_->WalLsn();
  for (auto& p : parties_) p.at_start = p.read();
}

void Costs::Stop() {
  for (auto& p : parties_) {
    double now = p.read();
    p.used = now >= 0 && p.at_start >= 0 ? now - p.at_start : -1;
  }
  if (wal_) wal_bytes_ = pg_->WalBytesSince(lsn_);
}

std::vector<std::pair<std::string, double>> Costs::CpuSeconds() const {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& p : parties_) out.emplace_back(p.name, p.used);
  return out;
}

void Costs::Attach(Figure& f, double operations) const {
  if (operations <= 0) return;
  f.cpu_us_per_op.clear();
  for (const auto& p : parties_) {
    if (p.used >= 0) f.cpu_us_per_op.emplace_back(p.name, p.used / operations * 1e6);
  }
  if (wal_bytes_ >= 0) f.wal_bytes_per_op = wal_bytes_ / operations;
}

std::string Costs::Describe(double operations) const {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << "CPU µs/op:";
  for (const auto& p : parties_) {
    out << " " << p.name << " " << (operations > 0 ? p.used / operations * 1e6 : 0) << ",";
  }
  if (wal_bytes_ >= 0) out << " WAL " << wal_bytes_ / operations << " B/op";
  return out.str();
}

std::string Pg::Psql(const std::string& db, const std::string& sql) const {
  std::string quoted;
  for (char c : sql) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return Sh(std::string(kPgBin) + "/psql -X -q -v ON_ERROR_STOP=1 -At " + ConnArgs() + " -d " + db +
            " -c '" + quoted + "'");
}

void Pg::CreateDatabase(const std::string& db) const { Psql("postgres", "CREATE DATABASE " + db); }

Server::Server(std::string database_url, int pool_size, std::string extra_yaml)
    : database_url_(std::move(database_url)),
      extra_yaml_(std::move(extra_yaml)),
      pool_size_(pool_size) {
  char tmpl[] = "/tmp/herald-bench-server.XXXXXX";
  dir_ = mkdtemp(tmpl);
}

Server::~Server() {
  Stop();
  (void)std::system(("rm -rf '" + dir_ + "'").c_str());
}

void Authorize(grpc::ClientContext& ctx) {
  ctx.AddMetadata("authorization", std::string("Bearer ") + Server::kKey);
}

std::string CreateCampaign(const Server& api, const std::string& idempotency_key,
                           const std::string& text, const std::vector<std::string>& subject_ids) {
  auto stub = herald::v1::DispatchService::NewStub(api.Channel());
  herald::v1::CreateCampaignResponse created;
  {
    grpc::ClientContext ctx;
    Authorize(ctx);
    herald::v1::CreateCampaignRequest r;
    r.set_idempotency_key(idempotency_key);
    r.set_name("Bench");
    r.set_topic("special_offers");
    r.set_channel(herald::v1::EMAIL);
    r.mutable_content()->set_subject("Offer");
    r.mutable_content()->set_text(text);
    auto st = stub->CreateCampaign(&ctx, r, &created);
    if (!st.ok()) throw std::runtime_error("CreateCampaign: " + st.error_message());
  }
  grpc::ClientContext ctx;
  Authorize(ctx);
  herald::v1::AddRecipientsResponse added;
  auto writer = stub->AddRecipients(&ctx, &added);
  herald::v1::AddRecipientsRequest m;
  m.set_campaign_id(created.campaign().id());
  for (const auto& id : subject_ids) {
    m.add_rows()->set_subject_id(id);
    if (m.rows_size() == 5000) {
      writer->Write(m);
      m.clear_rows();
    }
  }
  if (m.rows_size()) writer->Write(m);
  writer->WritesDone();
  auto st = writer->Finish();
  if (!st.ok()) throw std::runtime_error("AddRecipients failed: " + st.error_message());
  auto upload = AwaitUpload(api.Channel(), created.campaign().id(), added.upload_id());
  if (upload.added() != static_cast<int64_t>(subject_ids.size())) {
    throw std::runtime_error("AddRecipients added " + std::to_string(upload.added()) + " of " +
                             std::to_string(subject_ids.size()));
  }
  return created.campaign().id();
}

herald::v1::RecipientUpload AwaitUpload(const std::shared_ptr<grpc::Channel>& channel,
                                        const std::string& campaign_id,
                                        const std::string& upload_id,
                                        std::chrono::seconds deadline) {
  auto stub = herald::v1::DispatchService::NewStub(channel);
  const auto until = std::chrono::steady_clock::now() + deadline;
  for (;;) {
    grpc::ClientContext ctx;
    Authorize(ctx);
    herald::v1::GetRecipientUploadRequest r;
    r.set_campaign_id(campaign_id);
    r.set_upload_id(upload_id);
    herald::v1::RecipientUpload upload;
    auto st = stub->GetRecipientUpload(&ctx, r, &upload);
    if (!st.ok()) throw std::runtime_error("GetRecipientUpload: " + st.error_message());
    if (upload.state() == herald::v1::UPLOAD_RESOLVED) return upload;
    if (std::chrono::steady_clock::now() > until)
      throw std::runtime_error("the upload was not resolved in time");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

void StartCampaign(const Server& api, const std::string& campaign_id) {
  auto stub = herald::v1::DispatchService::NewStub(api.Channel());
  grpc::ClientContext ctx;
  Authorize(ctx);
  herald::v1::StartCampaignRequest s;
  s.set_campaign_id(campaign_id);
  herald::v1::Campaign c;
  auto st = stub->StartCampaign(&ctx, s, &c);
  if (!st.ok()) throw std::runtime_error("StartCampaign: " + st.error_message());
}

void Server::Start() {
  grpc_port_ = EphemeralPort();
  json_port_ = EphemeralPort();
  http_port_ = EphemeralPort();
  ops_port_ = EphemeralPort();
  std::string config = dir_ + "/herald.yaml";
  {
    std::ofstream out(config);
    out << "database:\n  url: " << database_url_ << "\n  pool_size: " << pool_size_ << "\n"
        << "grpc:\n  listen: 127.0.0.1:" << grpc_port_ << "\n"
        << "json_api:\n  listen: 127.0.0.1:" << json_port_ << "\n"
        << "http:\n  listen: 127.0.0.1:" << http_port_ << "\n"
        << "ops:\n  listen: 127.0.0.1:" << ops_port_ << "\n"
        << "log_level: warn\n"
        << "clients:\n  - id: bench\n    key_sha256: " << crypto::ToHex(crypto::Sha256(kKey))
        << "\n    scopes: [admin]\n"
        << "public_base_url: https://herald.test\n";
    // Quiet hours hold marketing SMS back at night; a benchmark measures sending, not waiting.
    if (extra_yaml_.find("quiet_hours:") == std::string::npos) {
      out << "quiet_hours:\n  sms: \"\"\n  call: \"\"\n";
    }
    out << extra_yaml_;
    // For before/after figures of one knob, e.g. "gate:\n  coalesce_max_batch: 1\n".
    if (const char* extra = std::getenv("HERALD_BENCH_EXTRA_YAML")) out << extra << "\n";
  }
  std::string log = dir_ + "/heraldd.log";
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::string keys =
        std::string("HERALD_SUPPRESSION_KEYS=") + kSuppressionKeyId + ":" + kSuppressionKeyHex;
    std::string path = "PATH=/usr/bin:/bin";
    std::vector<char*> envp = {keys.data(), path.data()};
    for (auto& e : env_) envp.push_back(e.data());
    envp.push_back(nullptr);
    const char* bin = HERALD_HERALDD_PATH;
    execle(bin, bin, "serve", "--config", config.c_str(), "--wait-for-db", "10",
           static_cast<char*>(nullptr), envp.data());
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  // gRPC waits a second before reconnecting after the first refused attempt: a probe with
  // that default reported heraldd ready about a second after it was (B7 times its start).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 10);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 10);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 50);
  auto channel = grpc::CreateCustomChannel(target(), grpc::InsecureChannelCredentials(), args);
  while (std::chrono::steady_clock::now() < deadline) {
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("heraldd exited during start-up:\n" + LogTail());
    }
    if (ready_through_ops_) {
      httplib::Client ops("127.0.0.1", ops_port_);
      ops.set_connection_timeout(std::chrono::milliseconds(200));
      if (auto r = ops.Get("/readyz"); r && r->status == 200) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (channel->WaitForConnected(std::chrono::system_clock::now() +
                                  std::chrono::milliseconds(20))) {
      return;
    }
  }
  throw std::runtime_error("heraldd did not start in 60 s:\n" + LogTail());
}

int Server::Stop() {
  if (pid_ <= 0) return -1;
  // For profiling: HERALD_BENCH_STATEMENTS=1 prints where heraldd's database time went.
  if (const char* v = std::getenv("HERALD_BENCH_STATEMENTS"); v && std::string(v) == "1") {
    try {
      std::cerr << "statement seconds (total) in heraldd:\n"
                << Sh("curl -s http://127.0.0.1:" + std::to_string(ops_port_) +
                      "/metrics | grep -E '^herald_db_statement_duration_seconds_sum'"
                      " | sed -E 's/herald_db_statement_duration_seconds_//' | sort -t' ' -k2 -g"
                      " | tail -16");
    } catch (const std::exception&) {
    }
  }
  kill(pid_, SIGTERM);
  int code = WaitExit(pid_);
  pid_ = -1;
  return code;
}

std::shared_ptr<grpc::Channel> Server::Channel() const {
  return grpc::CreateChannel(target(), grpc::InsecureChannelCredentials());
}

std::string Server::LogTail() const {
  std::ifstream in(dir_ + "/heraldd.log");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

// The seeding SQL goes to psql as text, which binds no parameters: the counts and the enum
// numbers are spliced in, each from its name.
void SeedSubjects(const Pg& pg, const std::string& db, int n, int opted_out_every) {
  const std::string count = std::to_string(n);
  const std::string email_kind = std::to_string(static_cast<int>(AddressKind::kEmail));
  const std::string any_channel = std::to_string(kAnyChannel);
  const std::string email_and_sms_consent = std::to_string(
      (1 << static_cast<int>(Channel::kEmail)) | (1 << static_cast<int>(Channel::kSms)));
  pg.Psql(db,
          "INSERT INTO subjects (id, external_id, surname, processing_consent,"
          " marketing_channels, created_at, updated_at)"
          " SELECT md5('subject-' || g)::uuid, 'crm-' || g, 'b' || g, true, " +
              email_and_sms_consent +
              ", now(), now()"
              " FROM generate_series(1, " +
              count + ") g");
  pg.Psql(db,
          "INSERT INTO addresses (subject_id, kind, value, match_key, added_at)"
          " SELECT md5('subject-' || g)::uuid, " +
              email_kind +
              ", 'b' || g || '@example.com',"
              " 'b' || g || '@example.com', now() FROM generate_series(1, " +
              count + ") g");
  if (opted_out_every > 0) {
    pg.Psql(db,
            "INSERT INTO preferences (subject_id, channel, topic, subscribed, seq, updated_at)"
            " SELECT md5('subject-' || g)::uuid, " +
                any_channel +
                ", '', false, 1, now()"
                " FROM generate_series(1, " +
                count + ") g WHERE g % " + std::to_string(opted_out_every) + " = 0");
  }
  pg.Psql(db, "VACUUM ANALYZE");
}

std::vector<std::string> SubjectIds(const Pg& pg, const std::string& db) {
  std::string out = pg.Psql(db, "SELECT id FROM subjects ORDER BY substr(external_id, 5)::int");
  std::vector<std::string> ids;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) ids.push_back(line);
  }
  return ids;
}

SmtpSink::SmtpSink(const std::string& name, int first, int last, std::vector<std::string> options) {
  dir_ = "/tmp/herald-bench-" + name + "-sink-" + std::to_string(getpid());
  mkdir(dir_.c_str(), 0777);
  chmod(dir_.c_str(), 0777);  // smtp-sink runs as postfix
  dump_ = dir_ + "/sink.dump";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  for (;;) {
    port_ = FreePortIn(first, last);
    if (port_ != 0) {
      std::vector<std::string> args = {"/usr/sbin/smtp-sink", "-u", "postfix", "-D", dump_};
      args.insert(args.end(), options.begin(), options.end());
      args.push_back(target());
      args.push_back("1000");
      pid_ = Spawn(args, dir_ + "/sink.log");
      std::this_thread::sleep_for(std::chrono::milliseconds(300));
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == 0) return;  // listening
      pid_ = -1;  // lost the port to another process between the probe and the bind
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("no smtp-sink could listen on a port in " + std::to_string(first) +
                               "-" + std::to_string(last) + " for a minute");
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

SmtpSink::~SmtpSink() {
  Stop();
  (void)std::system(("rm -rf '" + dir_ + "'").c_str());
}

void SmtpSink::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  WaitExit(pid_);
  pid_ = -1;
}

std::vector<int> SmtpSink::Recipients(int64_t* others) const {
  std::vector<int> counts;
  int64_t other = 0;
  std::ifstream in(dump_);
  constexpr std::string_view kPrefix = "X-Rcpt-Args: <b";
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, 13, kPrefix, 0, 13) != 0) continue;  // "X-Rcpt-Args: "
    size_t i = kPrefix.size();
    size_t digits = i;
    while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits]))) {
      ++digits;
    }
    if (line.compare(0, kPrefix.size(), kPrefix) != 0 || digits == i ||
        line.compare(digits, 13, "@example.com>") != 0) {
      ++other;
      continue;
    }
    size_t n = std::stoul(line.substr(i, digits - i));
    if (n >= counts.size()) counts.resize(n + 1, 0);
    ++counts[n];
  }
  if (others) *others = other;
  return counts;
}

std::string SinkProviderYaml(const std::string& target, int max_connections) {
  return "email:\n  from_address: bench@herald.test\n"
         "providers:\n  - name: sink\n    kind: smtp\n    country: RU\n"
         "    settings:\n      url: smtp://" +
         target +
         "\n      starttls: none\n      max_connections: " + std::to_string(max_connections) + "\n";
}

namespace {

constexpr char kCampaignPending[] = R"sql(
  SELECT EXISTS (
    SELECT 1
    FROM messages
    WHERE campaign_id = $1
      AND status IN ('queued', 'retrying', 'sending')
  )
)sql";

constexpr char kLastAccepted[] = R"sql(
  SELECT extract(epoch FROM max(a.ended_at))::float8
  FROM message_attempts a
  JOIN messages m ON m.id = a.message_id
  WHERE m.campaign_id = $1
)sql";

constexpr char kCountByStatus[] = R"sql(
  SELECT count(*) FILTER (WHERE status = 'sent'),
         count(*) FILTER (WHERE status = 'suppressed')
  FROM messages
  WHERE campaign_id = $1
)sql";

}  // namespace

CampaignOutcome AwaitCampaign(const std::string& dsn, const std::string& campaign,
                              std::chrono::system_clock::time_point wall_start,
                              std::chrono::seconds timeout,
                              const std::function<void()>& each_poll) {
  CampaignOutcome out;
  pqxx::connection conn(dsn);
  const auto start = std::chrono::steady_clock::now();
  const auto deadline = start + timeout;
  for (;;) {
    if (each_poll) each_poll();
    bool pending = false;
    {
      pqxx::nontransaction poll(conn);
      pending = poll.exec_params(kCampaignPending, campaign)[0][0].as<bool>();
    }
    if (!pending) break;
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("the campaign did not finish in " + std::to_string(timeout.count()) +
                               " s");
    }
    // Every 500 ms: a cheap EXISTS, but not one that takes time from what is measured.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  out.noticed_after =
      std::chrono::duration<double>(std::chrono::system_clock::now() - wall_start).count();
  pqxx::read_transaction txn(conn);
  auto last = txn.exec_params(kLastAccepted, campaign)[0][0];
  if (last.is_null()) throw std::runtime_error("no attempt recorded for the campaign");
  out.seconds =
      last.as<double>() - std::chrono::duration<double>(wall_start.time_since_epoch()).count();
  auto counts = txn.exec_params(kCountByStatus, campaign)[0];
  out.sent = counts[0].as<int64_t>();
  out.suppressed = counts[1].as<int64_t>();
  if (out.seconds <= 0 || out.seconds > out.noticed_after + 0.5) {
    throw std::runtime_error("the last attempt's end (" + std::to_string(out.seconds) +
                             " s) is not within the campaign (noticed after " +
                             std::to_string(out.noticed_after) + " s)");
  }
  return out;
}

double MetricValue(const Server& s, const std::string& series) {
  httplib::Client ops("127.0.0.1", s.ops_port());
  auto r = ops.Get("/metrics");
  if (!r || r->status != 200) throw std::runtime_error("/metrics did not answer");
  const std::string& body = r->body;
  for (size_t at = body.find(series); at != std::string::npos; at = body.find(series, at + 1)) {
    const bool line_start = at == 0 || body[at - 1] == '\n';
    const size_t after = at + series.size();
    if (line_start && after < body.size() && body[after] == ' ') {
      return std::stod(body.substr(after + 1, body.find('\n', after) - after - 1));
    }
  }
  return 0;
}

std::map<std::string, double> TableBytes(const Pg& pg, const std::string& db) {
  std::map<std::string, double> out;
  std::istringstream rows(pg.Psql(db, R"sql(
    SELECT relname || '=' || pg_total_relation_size(relid)
    FROM pg_stat_user_tables
  )sql"));
  for (std::string line; std::getline(rows, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = std::stod(line.substr(eq + 1));
  }
  return out;
}

std::string Uptime() {
  try {
    std::string s = Sh("uptime");
    auto at = s.find("load average");
    s = at == std::string::npos ? s : s.substr(at);
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  } catch (...) {
    return "";
  }
}

std::string FairSendingYaml() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  const int hour = (utc.tm_hour + 12) % 24;
  char window[32];
  std::snprintf(window, sizeof window, "%02d:00-%02d:01", hour, hour);
  return std::string(
             "frequency_caps:\n  email: {max: 10000, window_hours: 168}\n"
             "  topics:\n    special_offers: {max: 10000, window_hours: 168}\n"
             "quiet_hours:\n  time_zone: UTC\n  sms: \"\"\n  call: \"\"\n  email: \"") +
         window + "\"\n";
}

}  // namespace herald::bench
