#include "services/dispatch/adapters/delivery.h"

namespace herald::dispatch {

const char* DeliveryOutcomeName(DeliveryOutcome o) {
  switch (o) {
    case DeliveryOutcome::kSent: return "SENT";
    case DeliveryOutcome::kRetry: return "RETRY";
    case DeliveryOutcome::kFailed: return "FAILED";
    case DeliveryOutcome::kSuppress: return "SUPPRESS";
  }
  return "?";
}

}  // namespace herald::dispatch
