#pragma once

#include <grpcpp/channel.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/grpc/rpc_runner.h"
#include "services/web/http_server.h"
#include "services/web/http_types.h"
#include "services/web/json_api/json_api_settings.h"
#include "services/web/json_api/json_codec.h"

namespace google::protobuf {
class FieldDescriptor;
class Message;
}  // namespace google::protobuf

namespace herald::web {

// JSON over HTTP for every RPC of the given gRPC services: POST /v1/{Service}/{Method}
// (docs/creatio.md). Descriptor-driven: the method is looked up in the services'
// descriptors and called on the server's own in-process channel, so the key check, scopes,
// idempotency, request ids, redaction, logs and metrics are the gRPC edge's own
// (RpcRunner), and a new RPC needs no code here. This class only translates: headers to
// metadata (Bearer, or Basic with the key as password; Idempotency-Key; X-Request-Id),
// strict JSON to messages and back (json_codec.h), gRPC status to HTTP status and a
// {"code","status","message","details"} body. The client-streaming AddRecipients takes one
// JSON message or an NDJSON upload of them, every line checked before the first is sent.
class JsonApi {
 public:
  // `services`: full names ("herald.v1.SubscriptionService"); every one must be in the
  // generated descriptor pool. `runner` records calls refused before they reach gRPC.
  // `keys` turns away a caller without a known key before its body is read: reading is the
  // costly part of a call nobody may make (scopes stay the edge's to check).
  JsonApi(std::shared_ptr<grpc::Channel> channel, const std::vector<std::string>& services,
          RpcRunner& runner, const ApiKeyAuthenticator& keys, JsonApiSettings settings);
  ~JsonApi();
  JsonApi(const JsonApi&) = delete;
  JsonApi& operator=(const JsonApi&) = delete;

  // The listener's options on top of the shared ones: threads and body limits (uploads to
  // client-streaming methods get json_api.max_upload_bytes).
  void Configure(HttpServerOptions& options) const;
  void AddRoutes(HttpServer& server) const;

  HttpResponse Handle(const HttpRequest& request) const;

  // The HTTP status of a gRPC status code (the table grpc-gateway and Envoy share).
  static int HttpStatus(grpc::StatusCode code);
  // The path of a method: "/v1/SubscriptionService/CheckEligibility".
  static std::string PathOf(const std::string& service_full_name, const std::string& method);

 private:
  struct Method {
    std::string label;      // "CheckEligibility": the metric and log name
    std::string grpc_path;  // "/herald.v1.SubscriptionService/CheckEligibility"
    const google::protobuf::Message* request = nullptr;
    const google::protobuf::Message* response = nullptr;
    const google::protobuf::FieldDescriptor* idempotency_key = nullptr;
    bool client_streaming = false;
  };
  struct Call;

  HttpResponse Unary(const Method& m, const Call& call, const HttpRequest& request) const;
  HttpResponse Upload(const Method& m, const Call& call, const HttpRequest& request) const;
  // Records a call refused before it reached gRPC (as the edge records its own) and
  // answers it; `http_status` 0: the code's own.
  HttpResponse Refuse(const std::string& label, const Call& call, grpc::StatusCode code,
                      const std::string& message, const json_api::FieldProblem* problem = nullptr,
                      int http_status = 0) const;

  std::shared_ptr<grpc::Channel> channel_;
  RpcRunner& runner_;
  const ApiKeyAuthenticator& keys_;
  JsonApiSettings settings_;
  std::map<std::string, Method> methods_;  // by "SubscriptionService/CheckEligibility"
};

}  // namespace herald::web
