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

  // A sink with the script's other options too (faults of a relay: scripted replies,
  // refused connections).
  static std::unique_ptr<SmtpCapture> WithOptions(const CaptureServerOptions& options);

  int port() const { return server_->port(); }
  CaptureServer& server() { return *server_; }
  const CaptureServer& server() const { return *server_; }
  const std::string& dir() const { return dir_; }
  // Every captured message, in arrival order (none under --index-only: index.jsonl only).
  std::vector<std::string> Messages() const;

  // One message as the sink received it, from index.jsonl (also under --index-only).
  struct Arrival {
    std::string message_id;  // X-Herald-Message-Id
    std::string recipient;   // the envelope's RCPT TO (a JSON list when there were several)
    double time = 0;         // when the sink stored it, by its clock: seconds since the epoch
  };
  std::vector<Arrival> Arrivals() const;

 private:
  struct ByOptions {};
  SmtpCapture(ByOptions, const CaptureServerOptions& options);

  std::string dir_;
  std::unique_ptr<CaptureServer> server_;
};

// "2026-11-27T19:10:00.123456+00:00" (Python's isoformat of a UTC time, as the capture
// server records arrivals) in seconds since the epoch.
double ParseIsoUtc(const std::string& text);

}  // namespace herald::testing
