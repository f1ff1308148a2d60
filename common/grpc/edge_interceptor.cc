#include "common/grpc/edge_interceptor.h"

#include <chrono>
#include <string>

namespace herald {
namespace {

using grpc::experimental::InterceptionHookPoints;

class EdgeInterceptor final : public grpc::experimental::Interceptor {
 public:
  EdgeInterceptor(RpcRunner& runner, grpc::experimental::ServerRpcInfo* info)
      : runner_(runner), unary_(info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY) {
    // The metric label must stay bounded: a method outside the access table (which an
    // unknown path would be) is counted under one name.
    std::string path = info->method() ? info->method() : "";
    auto slash = path.rfind('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    method_ = FindRpcRule(name) ? name : "unknown";
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      unparsed_ = true;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS) && unary_ &&
        unparsed_ && methods->GetSendStatus().error_code() == grpc::INTERNAL) {
      grpc::Status status = EdgeInterceptorFactory::UnparsableRequest();
      methods->ModifySendStatus(status);
      runner_.RecordRejected(method_.c_str(), status, std::chrono::steady_clock::now() - start_);
    }
    methods->Proceed();
  }

 private:
  RpcRunner& runner_;
  bool unary_;
  std::string method_;
  bool unparsed_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

grpc::Status EdgeInterceptorFactory::UnparsableRequest() {
  return grpc::Status(grpc::INVALID_ARGUMENT,
                      "request: not a valid message (every string field must be UTF-8)");
}

grpc::experimental::Interceptor* EdgeInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new EdgeInterceptor(runner_, info);
}

}  // namespace herald
