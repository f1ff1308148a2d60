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
  // A JSON file {address: [reply, ...]}: the replies an address's RCPT TO gets in turn
  // ("451 4.7.1 Try again later"), then 250.
  std::string rcpt_script = {};
  bool log_rcpts = false;  // every RCPT TO and its reply in rcpts.jsonl (RcptAttempts())
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

  // A relay that is down: from now on every connection is reset before the greeting (and
  // counted, RefusedCount()), and the open ones are dropped; false takes connections again.
  // Returns once the server has taken the change (false if it did not within 5 s).
  bool RefuseConnections(bool refuse);
  // Connections reset while refusing.
  int RefusedCount() const;

  // One RCPT TO as the server answered it (with log_rcpts).
  struct Rcpt {
    std::string address;
    std::string reply;  // "250" or the scripted reply
    double time = 0;    // seconds since the epoch
  };
  std::vector<Rcpt> RcptAttempts() const;

 private:
  std::string out_dir_;
  pid_t pid_ = -1;
  int port_ = 0;
  std::string error_;
};

}  // namespace herald::testing
