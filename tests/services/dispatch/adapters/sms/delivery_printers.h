#pragma once

#include <ostream>

#include "services/dispatch/adapters/delivery.h"

namespace herald::dispatch {

// Readable gtest failures ("kSuppress", not "3"). Written here because DeliveryOutcomeName
// is defined in herald_dispatch, which the adapter's tests do not link.
inline void PrintTo(DeliveryOutcome outcome, std::ostream* os) {
  switch (outcome) {
    case DeliveryOutcome::kSent:
      *os << "kSent";
      return;
    case DeliveryOutcome::kRetry:
      *os << "kRetry";
      return;
    case DeliveryOutcome::kFailed:
      *os << "kFailed";
      return;
    case DeliveryOutcome::kSuppress:
      *os << "kSuppress";
      return;
  }
  *os << "DeliveryOutcome(" << static_cast<int>(outcome) << ")";
}

}  // namespace herald::dispatch
