#pragma once

#include <ostream>

#include "services/dispatch/adapters/delivery.h"

namespace herald::dispatch {

// Lets gtest print "kSuppress" instead of "4-byte object <03-00 00-00>". DeliveryOutcomeName
// lives in herald_dispatch, which the adapter's tests deliberately do not link.
inline void PrintTo(DeliveryOutcome o, std::ostream* os) {
  switch (o) {
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
  *os << static_cast<int>(o);
}

}  // namespace herald::dispatch
