#include "tests/support/faulty_smtp_relay.h"

#include <cctype>

namespace herald::testing {
namespace {

constexpr int kSmallReceiveBuffer = 4096;

}  // namespace

FaultySmtpRelay::FaultySmtpRelay(std::function<RelayFault(int)> fault_for)
    : fault_for_(std::move(fault_for)),
      server_([this](RawConnection& c) { Serve(c); }, kSmallReceiveBuffer) {}

std::vector<std::string> FaultySmtpRelay::Messages() const {
  std::lock_guard lock(mu_);
  return messages_;
}

void FaultySmtpRelay::Serve(RawConnection& c) {
  if (!c.Write("220 faulty.test ESMTP\r\n")) return;
  std::string line;
  while (c.ReadUntil("\r\n", line)) {
    std::string verb = line.substr(0, 4);
    for (char& ch : verb) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (verb == "EHLO" || verb == "HELO") {
      c.Write("250-faulty.test\r\n250 8BITMIME\r\n");
    } else if (verb == "MAIL" || verb == "RCPT" || verb == "RSET" || verb == "NOOP") {
      c.Write("250 2.0.0 Ok\r\n");
    } else if (verb == "QUIT") {
      c.Write("221 2.0.0 Bye\r\n");
      return;
    } else if (verb == "DATA") {
      Data(c);
      if (!c.open()) return;
    } else {
      c.Write("502 5.5.2 Command not recognised\r\n");
    }
  }
}

void FaultySmtpRelay::Data(RawConnection& c) {
  int n = data_commands_++;
  RelayFault fault = fault_for_(n);
  if (fault == RelayFault::kNoAnswerToData) return c.HangUntilStopped();
  c.Write("354 End data with <CR><LF>.<CR><LF>\r\n");
  std::string body;
  if (fault == RelayFault::kStopReadingBody) return c.HangUntilStopped();
  if (fault == RelayFault::kResetDuringBody) {
    if (c.ReadExactly(64 * 1024, body)) c.Reset();
    return;
  }
  // A line of its own holding one dot: what the client writes after the body.
  if (!c.ReadUntil("\r\n.\r\n", body)) return;
  {
    std::lock_guard lock(mu_);
    messages_.push_back(body);
  }
  switch (fault) {
    case RelayFault::kHangAfterEndOfData:
      return c.HangUntilStopped();
    case RelayFault::kCloseAfterEndOfData:
      return c.Close();
    case RelayFault::kResetAfterEndOfData:
      return c.Reset();
    default:
      c.Write("250 2.0.0 Ok: queued as Q" + std::to_string(n) + "\r\n");
  }
}

}  // namespace herald::testing
