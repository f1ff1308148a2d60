#pragma once

#include "common/config/section.h"

namespace herald::subscriptions {

// The `gate.*` section: how the eligibility gate answers concurrent checks.
struct GateSettings {
  // Concurrent CheckEligibility calls answered by one gate run (1: each alone).
  int coalesce_max_batch = 256;
};

const config::Section<GateSettings>& GateSection();

}  // namespace herald::subscriptions
