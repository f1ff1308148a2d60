#include "services/heraldctl/health_command.h"

#include <iostream>

#include "grpc/health/v1/health.grpc.pb.h"

namespace herald::ctl {
namespace {

namespace health = ::grpc::health::v1;

// Exit 0 only when SERVING, so that scripts and probes can use the status alone.
int Health(const Context& ctx, const Flags& f) {
  health::Health::Stub stub(ctx.channel);
  health::HealthCheckRequest req;
  req.set_service(f.Get("service"));  // "" asks about the server as a whole
  health::HealthCheckResponse resp;
  grpc::ClientContext call;
  ctx.Prepare(&call, /*authenticate=*/false);
  grpc::Status status = stub.Check(&call, req, &resp);
  if (!status.ok()) return Fail(status);
  int rc = Output(ctx, resp, [&] {
    std::cout << health::HealthCheckResponse_ServingStatus_Name(resp.status()) << '\n';
  });
  return rc == kExitOk && resp.status() == health::HealthCheckResponse::SERVING ? kExitOk
                                                                                : kExitCallFailed;
}

}  // namespace

Command HealthCommand() {
  return {"health",
          "[--service NAME]",
          "Ask grpc.health.v1.Health/Check; exit 0 only when SERVING.",
          {{"service", "NAME", "service to ask about (default: the whole server)"}},
          Health,
          /*needs_key=*/false};
}

}  // namespace herald::ctl
