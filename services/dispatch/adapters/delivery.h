#pragma once

#include <chrono>
#include <optional>
#include <string>

namespace herald::dispatch {

// What a provider's answer means for the message.
enum class DeliveryOutcome {
  kSent,      // accepted by the provider
  kRetry,     // temporary: 4xx SMTP reply, HTTP 429/5xx, a timeout or connection failure
              // before the provider had the whole message
  kFailed,    // permanent for this message: 5xx SMTP reply, other HTTP 4xx
  kSuppress,  // permanent for the address: SMTP 5.1.x, Twilio 21610 (recipient unsubscribed)
  // The provider had the whole message (SMTP: the "." ending DATA was written; HTTP: the
  // whole request body was sent) and then never answered: a timeout, a reset or a closed
  // connection. It may have been delivered, so it is not sent again: a duplicate is worse
  // than a possibly missing message, and the attempt row tells the operator which.
  kMaybeSent,
};

// "SENT", "RETRY", "FAILED", "SUPPRESS", "MAYBE_SENT": stored in message_attempts.outcome.
inline const char* DeliveryOutcomeName(DeliveryOutcome o) {
  switch (o) {
    case DeliveryOutcome::kSent:
      return "SENT";
    case DeliveryOutcome::kRetry:
      return "RETRY";
    case DeliveryOutcome::kFailed:
      return "FAILED";
    case DeliveryOutcome::kSuppress:
      return "SUPPRESS";
    case DeliveryOutcome::kMaybeSent:
      return "MAYBE_SENT";
  }
  return "?";
}

struct DeliveryResult {
  DeliveryOutcome outcome = DeliveryOutcome::kRetry;
  int code = 0;                 // SMTP reply code or HTTP status; 0 for transport failures
  std::string enhanced_status;  // SMTP enhanced status such as "5.1.1", when the server gave one
  std::string provider_code;    // provider error code such as Twilio's "21610", when given
  // The provider's own words, at most 300 bytes. May quote the address, so it is stored
  // with the message (and destroyed with it) but never logged.
  std::string detail;
  std::string provider_message_id;
  std::optional<std::chrono::seconds> retry_after;  // from Retry-After, when given
  // Nothing reached the provider (its circuit is open): not an attempt of the message.
  bool not_attempted = false;
};

}  // namespace herald::dispatch
