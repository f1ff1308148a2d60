#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <exception>
#include <initializer_list>
#include <string>

#include "common/config/config.h"
#include "common/grpc/api_key_authenticator.h"
#include "common/grpc/caller.h"
#include "common/metrics/metrics.h"

namespace herald {

// The edge of every authenticated RPC: checks the bearer key and scope, gives the call a
// request id, runs the handler, maps herald::Error (and anything else) to one grpc::Status,
// and records the outcome in the log line and the metrics. Handlers stay free of all this.
class RpcRunner {
 public:
  RpcRunner(const ApiKeyAuthenticator& auth, Metrics& metrics) : auth_(auth), metrics_(metrics) {}

  template <typename Fn>
  grpc::Status Run(grpc::ServerContext* ctx, const char* method,
                   std::initializer_list<Scope> scopes, Fn&& handler) {
    auto start = std::chrono::steady_clock::now();
    Caller caller;
    caller.request_id = RequestId(ctx);
    grpc::Status status = Authorize(ctx, scopes, caller);
    if (status.ok()) {
      try {
        handler(static_cast<const Caller&>(caller));
      } catch (...) {
        status = MapException(std::current_exception(), method, caller);
      }
    }
    Finish(method, caller, status, std::chrono::steady_clock::now() - start);
    return status;
  }

  static grpc::StatusCode ToGrpcCode(int herald_error_code);

 private:
  std::string RequestId(grpc::ServerContext* ctx);
  grpc::Status Authorize(grpc::ServerContext* ctx, std::initializer_list<Scope> scopes,
                         Caller& caller);
  grpc::Status MapException(std::exception_ptr e, const char* method, const Caller& caller);
  void Finish(const char* method, const Caller& caller, const grpc::Status& status,
              std::chrono::nanoseconds latency);

  const ApiKeyAuthenticator& auth_;
  Metrics& metrics_;
};

const char* StatusCodeName(grpc::StatusCode code);

}  // namespace herald
