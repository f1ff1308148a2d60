#pragma once

#include <memory>
#include <stop_token>
#include <string>

#include "common/clock.h"
#include "services/dispatch/adapters/delivery.h"

namespace herald::dispatch {

// One e-mail as the outbox hands it to a transport: already rendered, already allowed by
// the gate.
struct EmailMessage {
  std::string message_id;  // Herald's id (UUID): X-Herald-Message-Id
  // The message's report token (common/crypto/report_tag.h): the Message-ID <token@domain>
  // and, at an SMTP relay, the VERP return path local+token@domain, so that a bounce or a
  // complaint can prove which message it is about. Empty: Message-ID <message_id@domain>
  // and the plain return path (such reports then suppress nothing).
  std::string report_token;
  std::string from_address;
  std::string from_name;   // UTF-8, may be empty
  std::string to_address;  // normalised (ASCII domain)
  std::string subject;     // UTF-8
  std::string text_body;   // UTF-8
  std::string html_body;   // UTF-8, optional
  // RFC 2369 / RFC 8058, set for marketing mail (E4): the HTTPS one-click URL, and a mailto
  // fallback whose subject is the seed's opt-out marker.
  std::string list_unsubscribe_url;
  std::string list_unsubscribe_mailto;
  std::string list_unsubscribe_subject;
  Timestamp date;
};

class EmailTransport {
 public:
  virtual ~EmailTransport() = default;
  // Thread-safe; blocks for at most the transport's timeout.
  virtual DeliveryResult Send(const EmailMessage& message) = 0;
  // The same, but once `stop` is requested a send that has not yet handed the whole message
  // to the provider ends early: a retry marked not attempted (the provider cannot have it).
  // One that has waits for the provider's answer as Send does. Transports that cannot be
  // interrupted just send.
  virtual DeliveryResult SendUnlessStopped(const EmailMessage& message,
                                           const std::stop_token& stop) {
    (void)stop;
    return Send(message);
  }
};
using EmailTransportPtr = std::unique_ptr<EmailTransport>;

}  // namespace herald::dispatch
