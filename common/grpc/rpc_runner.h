#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <exception>
#include <initializer_list>
#include <memory>
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

  // The same edge for a method served on gRPC's callback API. Everything before the
  // handler runs on the gRPC thread; `handler(caller, finish)` checks the request and starts
  // the work (throwing only before it has started it), and `finish(error)` — nullptr once
  // `response` is filled — is called exactly once, from any thread, and ends the call.
  template <typename Fn>
  grpc::ServerUnaryReactor* RunAsync(grpc::CallbackServerContext* ctx, const char* method,
                                     const google::protobuf::Message* request,
                                     google::protobuf::Message* response, Fn&& handler) {
    auto call = std::make_shared<AsyncCall>();
    call->start = std::chrono::steady_clock::now();
    call->method = method;
    call->response = response;
    call->reactor = ctx->DefaultReactor();
    call->caller.request_id = RequestId(ctx);
    call->rule = FindRpcRule(method);
    grpc::Status status = Authorize(ctx, call->rule, call->caller);
    if (status.ok()) {
      try {
        if (request) CheckRequestFields(*request);
        handler(static_cast<const Caller&>(call->caller),
                [this, call](const std::exception_ptr& error) { FinishAsync(*call, error); });
        return call->reactor;
      } catch (...) {
        status = MapException(std::current_exception(), method, call->caller);
      }
    }
    Finish(method, call->caller, status, std::chrono::steady_clock::now() - call->start);
    call->reactor->Finish(status);
    return call->reactor;
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
  struct AsyncCall {
    std::chrono::steady_clock::time_point start;
    const char* method = nullptr;
    const RpcRule* rule = nullptr;
    Caller caller;
    google::protobuf::Message* response = nullptr;
    grpc::ServerUnaryReactor* reactor = nullptr;
  };
  void FinishAsync(AsyncCall& call, const std::exception_ptr& error);
  std::string RequestId(grpc::ServerContextBase* ctx);
  grpc::Status Authorize(grpc::ServerContextBase* ctx, const RpcRule* rule, Caller& caller);
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
