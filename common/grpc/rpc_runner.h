#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <exception>
#include <initializer_list>
#include <string>

#include "common/config/config.h"
#include "common/grpc/api_key_authenticator.h"
#include "common/grpc/caller.h"
#include "common/grpc/request_checks.h"
#include "common/grpc/rpc_access.h"
#include "common/metrics/metrics.h"

namespace herald {

// The edge of every authenticated RPC: checks the bearer key against the method's row of the
// access table (rpc_access.h), gives the call a request id, range-checks the request
// (request_checks.h), runs the handler, clears the personal fields the caller may not see,
// maps herald::Error (and anything else) to one grpc::Status, and records the outcome in the
// log line and the metrics. Handlers stay free of all this.
class RpcRunner {
 public:
  RpcRunner(const ApiKeyAuthenticator& auth, Metrics& metrics) : auth_(auth), metrics_(metrics) {}

  // `request` and `response` may be null (streams check and fill their own messages).
  template <typename Fn>
  grpc::Status Run(grpc::ServerContext* ctx, const char* method,
                   const google::protobuf::Message* request, google::protobuf::Message* response,
                   Fn&& handler) {
    auto start = std::chrono::steady_clock::now();
    Caller caller;
    caller.request_id = RequestId(ctx);
    const RpcRule* rule = FindRpcRule(method);
    grpc::Status status = Authorize(ctx, rule, caller);
    if (status.ok()) {
      try {
        if (request) CheckRequestFields(*request);
        handler(static_cast<const Caller&>(caller));
        if (response) Redact(*rule, caller, *response);
      } catch (...) {
        status = MapException(std::current_exception(), method, caller);
      }
    }
    Finish(method, caller, status, std::chrono::steady_clock::now() - start);
    return status;
  }

  // Records a call that never reached a handler (e.g. a request the library, or the JSON
  // API, could not parse) in the same log line and metric as every other call. Without a
  // request id a new one is logged.
  void RecordRejected(const char* method, const grpc::Status& status,
                      std::chrono::nanoseconds latency, const std::string& request_id = "");

  // A fresh request id (16 hex digits), for a call whose caller named none.
  static std::string NewRequestId();

  static grpc::StatusCode ToGrpcCode(int herald_error_code);

 private:
  std::string RequestId(grpc::ServerContext* ctx);
  grpc::Status Authorize(grpc::ServerContext* ctx, const RpcRule* rule, Caller& caller);
  static void Redact(const RpcRule& rule, const Caller& caller,
                     google::protobuf::Message& response);
  grpc::Status MapException(std::exception_ptr e, const char* method, const Caller& caller);
  void Finish(const char* method, const Caller& caller, const grpc::Status& status,
              std::chrono::nanoseconds latency);

  const ApiKeyAuthenticator& auth_;
  Metrics& metrics_;
};

const char* StatusCodeName(grpc::StatusCode code);

}  // namespace herald
