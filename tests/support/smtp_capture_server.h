#pragma once

#include <sys/types.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace herald::testing {

struct CaptureServerOptions {
  bool starttls = false;  // offer STARTTLS (needs cert and key)
  bool smtps = false;     // TLS from the first byte (needs cert and key)
  std::string cert = {};
  std::string key = {};
  std::string auth = {};                    // "USER:PASS": offer AUTH and require it
  std::vector<std::string> fail_rcpt = {};  // "ADDR=CODE:ENHANCED:TEXT"
  int delay_ms = 0;                         // before answering DATA
  int drop_mail_after = 0;  // drop a connection, unanswered, at its (N+1)th MAIL FROM
  std::vector<std::string> extra_args = {};  // more flags, after the ones above
};

// tests/support/smtp_capture_server.py as a child process on a free loopback port, writing
// every accepted message to `out_dir` (<n>.eml and a line of index.jsonl). Stopped with
// SIGTERM when destroyed, and its directory removed.
class CaptureServer {
 public:
  CaptureServer(const CaptureServerOptions& options, std::string out_dir);
  ~CaptureServer();
  CaptureServer(const CaptureServer&) = delete;
  CaptureServer& operator=(const CaptureServer&) = delete;

  // False when the script did not print "READY <port>" in time; error() says why.
  bool started() const { return port_ > 0; }
  const std::string& error() const { return error_; }
  int port() const { return port_; }
  std::string Url(const char* scheme = "smtp") const;

  // One JSON object per accepted message (index.jsonl), in arrival order.
  std::vector<nlohmann::json> Messages() const;
  // Connections the server has accepted so far (connections.jsonl).
  int ConnectionCount() const;

 private:
  std::string out_dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string error_;
};

}  // namespace herald::testing
