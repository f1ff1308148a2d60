#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/raw_tcp_server.h"

namespace herald::testing {

// Where a FaultySmtpRelay fails one SMTP transaction, on either side of the moment the
// client has written the "." that ends DATA.
enum class RelayFault {
  kNone,                 // "250 2.0.0 Ok: queued as Q<n>"
  kNoAnswerToData,       // DATA goes unanswered: no 354, no body sent
  kStopReadingBody,      // 354, then it reads no more of the body and never answers
  kResetDuringBody,      // 354, then a reset after the first 64 KiB of the body
  kHangAfterEndOfData,   // the whole message and its "." read, never an answer
  kCloseAfterEndOfData,  // the whole message and its "." read, then an orderly close
  kResetAfterEndOfData,  // the whole message and its "." read, then a reset
};

// An SMTP relay on 127.0.0.1 written by hand (no STARTTLS, no AUTH), so that it can fail at
// an exact point of a transaction: what the capture server (aiosmtpd) cannot do mid-DATA.
// Every connection's receive buffer is small, so a body the relay stops reading cannot all
// sit in the kernel's buffers as if it had been taken.
class FaultySmtpRelay {
 public:
  // `fault_for(n)`: what to do with the n-th DATA command (from 0) over all connections.
  explicit FaultySmtpRelay(std::function<RelayFault(int)> fault_for);
  explicit FaultySmtpRelay(RelayFault every) : FaultySmtpRelay([every](int) { return every; }) {}

  int port() const { return server_.port(); }
  std::string Url() const { return "smtp://127.0.0.1:" + std::to_string(port()); }
  // Messages whose end-of-data line the relay read, whatever it did next (each one it may
  // have queued), as they arrived between the 354 and the "." (dots still doubled).
  std::vector<std::string> Messages() const;
  int connections() const { return server_.connections(); }

 private:
  void Serve(RawConnection& c);
  void Data(RawConnection& c);

  std::function<RelayFault(int)> fault_for_;
  std::atomic<int> data_commands_{0};
  mutable std::mutex mu_;
  std::vector<std::string> messages_;  // guarded by mu_
  RawTcpServer server_;                // last: stopped before what its handlers touch
};

}  // namespace herald::testing
