#pragma once

#include <string>

#include "services/dispatch/adapters/email_transport.h"
#include "services/dispatch/adapters/smtp/curl_handle_pool.h"

namespace herald::dispatch {

struct SmtpRelayConfig {
  std::string url;  // "smtp://host:port" or "smtps://host:port"
  // STARTTLS on smtp:// (ignored for smtps://, which is TLS from the first byte).
  enum class StartTls { kNone, kOpportunistic, kRequired } starttls = StartTls::kOpportunistic;
  // AUTH when username is non-empty; then smtp:// needs starttls kRequired (or kNone).
  std::string username, password;
  std::string ca_file;  // PEM to trust; empty = the system store
  bool verify_peer = true;
  std::string message_id_domain = "herald.invalid";
  // The envelope sender (MAIL FROM) that bounces go to, "local@domain"; empty = the
  // message's From address. A message with a report token is sent from the VERP address
  // local+token@domain (see EnvelopeSender), so local is at most kMaxReturnPathLocalChars.
  std::string return_path;
  std::string helo_name;    // EHLO name; empty = libcurl's default (the local host name)
  int timeout_s = 30;       // whole Send: waiting for a connection plus the SMTP dialogue
  int max_connections = 4;  // connections kept open and reused across Send calls
};

// 64 octets (RFC 5321 4.5.3.1.1) less "+" and a 49-character report token.
inline constexpr size_t kMaxReturnPathLocalChars = 14;

// MAIL FROM for `message`: `return_path` (or, when empty, the From address) as
// local+report_token@domain when the message has a report token, the plain address
// otherwise. A From address whose local part is too long for VERP is used plainly: its
// reports can still be matched by the token in the Message-ID they quote.
std::string EnvelopeSender(const EmailMessage& message, const std::string& return_path);

// Sends each message as one SMTP transaction (MAIL FROM, one RCPT TO, DATA) to a relay,
// through libcurl. Connections stay open and are reused by later Sends, up to
// max_connections at once. Never logs: addresses and content stay out of logs, and the
// relay's words go only into DeliveryResult::detail. See smtp_outcome.h for how replies
// map to outcomes.
class SmtpRelaySender final : public EmailTransport {
 public:
  // Throws std::invalid_argument when the config cannot work (not an smtp/smtps URL, bad
  // EHLO name, non-positive limits), so a bad config stops start-up instead of failing
  // every message.
  explicit SmtpRelaySender(SmtpRelayConfig config);

  DeliveryResult Send(const EmailMessage& message) override;
  // Once `stop` is requested, a send still waiting for a connection, or one in the SMTP
  // dialogue before the whole message is written, ends within about a second; one whose
  // message is written waits for the relay's reply (up to timeout_s).
  DeliveryResult SendUnlessStopped(const EmailMessage& message,
                                   const std::stop_token& stop) override;

 private:
  void ConfigureHandle(CURL* handle) const;

  const SmtpRelayConfig config_;
  const std::string url_;  // config_.url with the EHLO name as its path
  CurlHandlePool pool_;
};

}  // namespace herald::dispatch
