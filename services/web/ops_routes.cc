#include "services/web/ops_routes.h"

#include "common/crypto/hash.h"

namespace herald::web {

void AddOpsRoutes(HttpServer& server, const OpsProbes& probes) {
  server.Get("/healthz", [](const HttpRequest&) {
    return HttpResponse{200, "text/plain", "ok\n", {}};
  });
  server.Get("/readyz", [ready = probes.ready](const HttpRequest&) {
    std::string why;
    if (ready(&why)) return HttpResponse{200, "text/plain", "ready\n", {}};
    return HttpResponse{503, "text/plain", "not ready: " + why + "\n", {}};
  });
  server.Get(
      "/metrics", [metrics = probes.metrics, token = probes.metrics_token](const HttpRequest& req) {
        if (!token.empty() &&
            !crypto::ConstantTimeEquals(req.Header("Authorization"), "Bearer " + token)) {
          return HttpResponse{401,
                              "text/plain; charset=utf-8",
                              "metrics: a bearer token is required\n",
                              {{"WWW-Authenticate", "Bearer"}, {"Cache-Control", "no-store"}}};
        }
        return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics(), {}};
      });
}

}  // namespace herald::web
