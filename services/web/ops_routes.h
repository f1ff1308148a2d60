#pragma once

#include <functional>
#include <string>

#include "services/web/http_server.h"

namespace herald::web {

// The ops listener's routes, served by every role: /healthz (the process answers; never
// asks the database, so a database outage does not get the process restarted), /readyz
// (database reachable and migrations applied) and /metrics (Prometheus text format).
struct OpsProbes {
  std::function<bool(std::string* why)> ready;
  std::function<std::string()> metrics;
  // When set, /metrics answers only a request carrying "Authorization: Bearer <token>".
  std::string metrics_token;
};

void AddOpsRoutes(HttpServer& server, const OpsProbes& probes);

}  // namespace herald::web
