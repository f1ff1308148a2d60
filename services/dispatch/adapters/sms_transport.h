#pragma once

#include <memory>
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
};
using SmsTransportPtr = std::unique_ptr<SmsTransport>;

}  // namespace herald::dispatch
