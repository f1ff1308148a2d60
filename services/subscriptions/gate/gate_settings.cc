#include "services/subscriptions/gate/gate_settings.h"

namespace herald::subscriptions {

const config::Section<GateSettings>& GateSection() {
  using S = GateSettings;
  static const config::Section<S> kSection{{
      config::Int("gate.coalesce_max_batch", &S::coalesce_max_batch, 1, 10000,
                  "Concurrent CheckEligibility calls answered by one gate statement run; 1: "
                  "each call alone."),
  }};
  return kSection;
}

}  // namespace herald::subscriptions
