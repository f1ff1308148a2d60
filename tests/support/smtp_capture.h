#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace herald::testing {

// tests/support/smtp_capture_server.py as a child process on a free loopback port: every
// accepted message becomes DIR/<n>.eml and a line of DIR/index.jsonl.
class SmtpCapture {
 public:
  // Throws std::runtime_error when the server does not report READY.
  explicit SmtpCapture(const std::vector<std::string>& extra_args = {});
  ~SmtpCapture();

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  // Every captured message, in arrival order.
  std::vector<std::string> Messages() const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string dir_;
};

}  // namespace herald::testing
