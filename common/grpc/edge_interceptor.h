#pragma once

#include <grpcpp/support/server_interceptor.h>

#include "common/grpc/rpc_runner.h"

namespace herald {

// gRPC 1.51 parses a unary request before any handler runs; when it cannot (e.g. a string
// field that is not UTF-8, which proto3 rejects) the library answers INTERNAL with an empty
// message, before authentication, and no handler logs or counts the call. This interceptor
// turns that answer into INVALID_ARGUMENT and records the call in the runner's log line and
// metric like every other. It sees every call but acts only on those.
class EdgeInterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit EdgeInterceptorFactory(RpcRunner& runner) : runner_(runner) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;

  // The status a request that could not be parsed gets.
  static grpc::Status UnparsableRequest();

 private:
  RpcRunner& runner_;
};

}  // namespace herald
