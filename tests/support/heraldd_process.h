#pragma once

#include <grpcpp/grpcpp.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/local_process.h"
#include "tests/support/tls_client.h"

namespace herald::testing {

// A real heraldd child process, with a config written for it and a clean environment, for
// integration tests over real sockets. Every listener binds 127.0.0.1:0; the ports it got are
// read back from its "heraldd started" log line. Its stderr (the JSON log) is kept.
class HeralddProcess {
 public:
  static constexpr char kAdminKey[] = "it-admin-key-0123456789";
  static constexpr char kCrmKey[] = "it-crm-key-0123456789";
  static constexpr char kSchedulerKey[] = "it-scheduler-key-0123456789";
  static constexpr char kPrivacyKey[] = "it-privacy-key-0123456789";

  // `extra_yaml` is appended to the generated config (e.g. a providers list).
  explicit HeralddProcess(std::string database_url, std::string extra_yaml = "");
  ~HeralddProcess();

  // Adds "NAME=value" to heraldd's environment (e.g. a provider secret); before Start().
  void AddEnv(const std::string& name_value) { env_.push_back(name_value); }
  // Speaks TLS to every listener (the readiness probe, Channel(), Heraldctl()), trusting and
  // showing what `client` says; the test configures heraldd's tls.* itself. Before Start().
  void UseTls(TlsClientOptions client) { tls_ = std::move(client); }

  // Starts and waits until /readyz (ops listener) answers 200; throws with the log on failure.
  // A restart binds new ports.
  void Start();
  // Sends `sig` and waits; returns the exit status (or 128 + signal).
  int Stop(int sig);
  bool running() const { return pid_ > 0; }
  // The child's process id while it runs (-1 otherwise): a worker names its leases after it.
  pid_t pid() const { return pid_; }

  std::string grpc_target() const { return "127.0.0.1:" + std::to_string(grpc_port_); }
  // The public listener (recipient pages, SMS hooks).
  int http_port() const { return http_port_; }
  // The JSON API's listener (api role; 0 otherwise).
  int json_port() const { return json_port_; }
  // The ops listener (/healthz, /readyz, /metrics).
  int ops_port() const { return ops_port_; }
  // The inbound-mail hook's listener (only opened when HERALD_INBOUND_MAIL_SECRET is set;
  // 0 otherwise, as http_port() and grpc_target()'s port are in roles without them).
  int mail_port() const { return mail_port_; }
  std::string Log() const;
  // Whether one line of the log holds every one of `parts`.
  bool LogHasLine(const std::vector<std::string>& parts) const;
  // Polls the log for such a line until `timeout` passes.
  bool WaitForLogLine(const std::vector<std::string>& parts,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  std::shared_ptr<grpc::Channel> Channel() const;
  // Runs heraldctl against this server's gRPC listener with the API key `key`; returns its
  // exit status and output (stdout and stderr).
  int Heraldctl(const std::string& key, const std::string& args, std::string* out) const;

 private:
  // Parses the bound ports out of the "heraldd started" line; false until it is logged.
  bool ReadBoundPorts();

  std::string database_url_;
  std::string extra_yaml_;
  std::vector<std::string> env_;
  std::string dir_;
  std::optional<TlsClientOptions> tls_;
  int grpc_port_ = 0;
  int json_port_ = 0;
  int http_port_ = 0;
  int ops_port_ = 0;
  int mail_port_ = 0;
  pid_t pid_ = -1;
};

// GET http://127.0.0.1:port/path; returns the status (0 when unreachable) and body.
int HttpGet(int port, const std::string& path, std::string* body = nullptr);
// Adds the bearer key to a client context.
void Authorize(grpc::ClientContext& ctx, const std::string& key);

}  // namespace herald::testing
