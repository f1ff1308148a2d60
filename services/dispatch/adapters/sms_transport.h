#pragma once

#include <memory>
#include <stop_token>
#include <string>

#include "services/dispatch/adapters/delivery.h"

namespace herald::dispatch {

struct SmsMessage {
  std::string message_id;  // Herald's id (UUID)
  std::string to_e164;     // "+994501234567"
  std::string body;        // UTF-8, final text (footer already appended)
};

class SmsTransport {
 public:
  virtual ~SmsTransport() = default;
  // Thread-safe; blocks for at most the transport's timeout.
  virtual DeliveryResult Send(const SmsMessage& message) = 0;
  // As EmailTransport::SendUnlessStopped: a stop ends a send whose request has not been
  // written in full (not attempted); one that has been waits for its answer.
  virtual DeliveryResult SendUnlessStopped(const SmsMessage& message, const std::stop_token& stop) {
    (void)stop;
    return Send(message);
  }
};
using SmsTransportPtr = std::unique_ptr<SmsTransport>;

}  // namespace herald::dispatch
