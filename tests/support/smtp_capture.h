#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/smtp_capture_server.h"

namespace herald::testing {

// A CaptureServer in a directory of its own, for tests that want the raw messages: every
// accepted message becomes dir()/<n>.eml and a line of dir()/index.jsonl.
class SmtpCapture {
 public:
  // `extra_args` are smtp_capture_server.py's flags. Throws std::runtime_error when the
  // server does not report READY.
  explicit SmtpCapture(const std::vector<std::string>& extra_args = {});

  int port() const { return server_->port(); }
  const std::string& dir() const { return dir_; }
  // Every captured message, in arrival order (none under --index-only: index.jsonl only).
  std::vector<std::string> Messages() const;

 private:
  std::string dir_;
  std::unique_ptr<CaptureServer> server_;
};

}  // namespace herald::testing
