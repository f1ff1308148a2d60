#pragma once

#include <functional>
#include <string>

#include "services/web/http_server.h"

namespace herald::web {

// /healthz (the process answers), /readyz (database reachable and migrations applied) and
// /metrics (Prometheus text format).
struct OpsProbes {
  std::function<bool(std::string* why)> ready;
  std::function<std::string()> metrics;
};

void AddOpsRoutes(HttpServer& server, OpsProbes probes);

}  // namespace herald::web
