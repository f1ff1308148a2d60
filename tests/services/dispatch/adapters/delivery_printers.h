#pragma once

#include <ostream>

#include "services/dispatch/adapters/delivery.h"

namespace herald::dispatch {

// Lets gtest print "SUPPRESS" instead of "4-byte object <03-00 00-00>".
inline void PrintTo(DeliveryOutcome o, std::ostream* os) { *os << DeliveryOutcomeName(o); }

}  // namespace herald::dispatch
