#include "services/web/json_api/json_api.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/byte_buffer.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string_view>

#include "common/crypto/link_token.h"
#include "common/grpc/request_id.h"

namespace herald::web {

using json_api::FieldProblem;

struct JsonApi::Call {
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::string request_id;
  std::string authorization;  // the metadata value ("Bearer <key>"); empty: none was given
};

namespace {

using google::protobuf::Message;
using Json = nlohmann::json;
using Traits = grpc::SerializationTraits<Message>;

constexpr char kChallenge[] = "Bearer realm=\"herald\", Basic realm=\"herald\"";
constexpr char kPattern[] = R"(/v1/([A-Za-z][A-Za-z0-9]*)/([A-Za-z][A-Za-z0-9]*))";

// Header values travel on as gRPC metadata, which carries printable ASCII only.
bool Printable(std::string_view v) {
  return std::all_of(v.begin(), v.end(), [](unsigned char c) { return c >= 0x20 && c < 0x7f; });
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct MediaType {
  std::string type;  // lower case, without parameters
  bool utf8 = true;  // no charset, or UTF-8
};

MediaType ParseContentType(const std::string& value) {
  MediaType m;
  size_t semi = value.find(';');
  m.type = Lower(Trim(value.substr(0, semi)));
  while (semi != std::string::npos) {
    size_t next = value.find(';', semi + 1);
    std::string param = Lower(Trim(value.substr(semi + 1, next - semi - 1)));
    if (param.rfind("charset=", 0) == 0) {
      std::string charset = param.substr(8);
      if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') {
        charset = charset.substr(1, charset.size() - 2);
      }
      m.utf8 = charset == "utf-8" || charset == "utf8";
    }
    semi = next;
  }
  return m;
}

// "Bearer <key>" passes as it is; Basic carries the key as its password (Creatio's "Basic"
// auth type), its login is not checked. Anything else passes on too, and the edge names
// what it expects. nullopt with `problem` set: a header that cannot be passed on.
std::optional<std::string> Authorization(const std::string& header, std::string* problem) {
  if (header.empty()) return std::string();
  if (!Printable(header)) {
    *problem = "authorization: not a valid header value";
    return std::nullopt;
  }
  size_t space = header.find(' ');
  if (space == std::string::npos || Lower(header.substr(0, space)) != "basic") return header;
  std::string text = Trim(std::string_view(header).substr(space + 1));
  // Base64 to the URL alphabet without padding, which the shared decoder reads.
  std::replace(text.begin(), text.end(), '+', '-');
  std::replace(text.begin(), text.end(), '/', '_');
  while (!text.empty() && text.back() == '=') text.pop_back();
  auto decoded = crypto::Base64UrlDecode(text);
  size_t colon = decoded ? decoded->find(':') : std::string::npos;
  if (colon == std::string::npos || colon + 1 == decoded->size() ||
      !Printable(decoded->substr(colon + 1))) {
    *problem = "authorization: Basic credentials must be base64 of login:key";
    return std::nullopt;
  }
  return "Bearer " + decoded->substr(colon + 1);
}

// The domain's messages name their field first ("recipient.subject_id: must be a UUID").
bool SplitFieldMessage(const std::string& message, std::string* field, std::string* what) {
  size_t colon = message.find(": ");
  if (colon == std::string::npos || colon == 0 || colon > 120) return false;
  for (size_t i = 0; i < colon; ++i) {
    unsigned char c = static_cast<unsigned char>(message[i]);
    if (!std::islower(c) && !std::isdigit(c) && c != '_' && c != '.' && c != '[' && c != ']') {
      return false;
    }
  }
  *field = message.substr(0, colon);
  *what = message.substr(colon + 2);
  return true;
}

Json BadRequest(const std::string& field, const std::string& description) {
  return {{"@type", "type.googleapis.com/google.rpc.BadRequest"},
          {"field_violations", Json::array({{{"field", field}, {"description", description}}})}};
}

HttpResponse ErrorAnswer(grpc::StatusCode code, const std::string& message,
                         const std::string& request_id, const FieldProblem* problem,
                         int http_status) {
  Json details = Json::array();
  std::string field, what;
  if (problem) {
    if (!problem->field.empty())
      details.push_back(BadRequest(problem->field, problem->description));
  } else if ((code == grpc::INVALID_ARGUMENT || code == grpc::FAILED_PRECONDITION ||
              code == grpc::OUT_OF_RANGE) &&
             SplitFieldMessage(message, &field, &what)) {
    details.push_back(BadRequest(field, what));
  }
  Json body = {{"code", static_cast<int>(code)},
               {"status", StatusCodeName(code)},
               {"message", message},
               {"details", details}};
  HttpResponse r;
  r.status = http_status ? http_status : JsonApi::HttpStatus(code);
  r.content_type = "application/json";
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  r.headers["X-Request-Id"] = request_id;
  r.headers["Cache-Control"] = "no-store";
  if (code == grpc::UNAUTHENTICATED) r.headers["WWW-Authenticate"] = kChallenge;
  return r;
}

// The gRPC answer as the HTTP answer: the response message printed, or the status.
HttpResponse Answer(const Message& response, grpc::ClientContext& ctx, const grpc::Status& status,
                    std::string request_id) {
  const auto& sent = ctx.GetServerInitialMetadata();
  if (auto it = sent.find("x-request-id"); it != sent.end()) {
    request_id.assign(it->second.data(), it->second.size());
  }
  if (!status.ok()) {
    return ErrorAnswer(status.error_code(), status.error_message(), request_id, nullptr, 0);
  }
  HttpResponse r;
  r.content_type = "application/json";
  r.body = json_api::PrintAnswer(response);
  r.headers["X-Request-Id"] = request_id;
  // Answers may carry personal data.
  r.headers["Cache-Control"] = "no-store";
  return r;
}

}  // namespace

JsonApi::JsonApi(std::shared_ptr<grpc::Channel> channel, const std::vector<std::string>& services,
                 RpcRunner& runner, const ApiKeyAuthenticator& keys, JsonApiSettings settings)
    : channel_(std::move(channel)), runner_(runner), keys_(keys), settings_(std::move(settings)) {
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  for (const auto& name : services) {
    const auto* service = pool->FindServiceByName(name);
    if (!service) throw std::invalid_argument("JsonApi: no descriptor for service " + name);
    for (int i = 0; i < service->method_count(); ++i) {
      const auto* md = service->method(i);
      if (md->server_streaming()) continue;  // answers that arrive as a stream have no JSON form
      Method m;
      m.label = md->name();
      m.grpc_path = "/" + service->full_name() + "/" + md->name();
      m.request = factory->GetPrototype(md->input_type());
      m.response = factory->GetPrototype(md->output_type());
      const auto* key = md->input_type()->FindFieldByName("idempotency_key");
      if (key && key->type() == google::protobuf::FieldDescriptor::TYPE_STRING &&
          !key->is_repeated()) {
        m.idempotency_key = key;
      }
      m.client_streaming = md->client_streaming();
      methods_.emplace(service->name() + "/" + md->name(), std::move(m));
    }
  }
}

JsonApi::~JsonApi() = default;

std::string JsonApi::PathOf(const std::string& service_full_name, const std::string& method) {
  return "/v1/" + service_full_name.substr(service_full_name.rfind('.') + 1) + "/" + method;
}

int JsonApi::HttpStatus(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK:
      return 200;
    case grpc::CANCELLED:
      return 499;
    case grpc::INVALID_ARGUMENT:
    case grpc::FAILED_PRECONDITION:
    case grpc::OUT_OF_RANGE:
      return 400;
    case grpc::DEADLINE_EXCEEDED:
      return 504;
    case grpc::NOT_FOUND:
      return 404;
    case grpc::ALREADY_EXISTS:
    case grpc::ABORTED:
      return 409;
    case grpc::PERMISSION_DENIED:
      return 403;
    case grpc::UNAUTHENTICATED:
      return 401;
    case grpc::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::UNIMPLEMENTED:
      return 501;
    case grpc::UNAVAILABLE:
      return 503;
    case grpc::UNKNOWN:
    case grpc::INTERNAL:
    case grpc::DATA_LOSS:
    default:
      return 500;
  }
}

void JsonApi::Configure(HttpServerOptions& options) const {
  options.threads = settings_.threads;
  options.max_body_bytes = static_cast<size_t>(settings_.max_body_bytes);
  // Every caller holds a key; the per-address buckets of the public pages do not apply.
  options.limited_prefixes.clear();
  options.rate_per_second = 0;
  // A CRM's HTTP client keeps a few connections and sends call after call on them; closing
  // one every 20 requests (the public pages' figure) would cost a reconnect each time.
  options.keep_alive_max_requests = 1000;
  // Callers sit behind a few addresses (a CRM's servers, a NAT) and hold a pool of
  // connections each: the per-address cap that guards the public pages would refuse them.
  options.max_connections_per_client = options.max_connections;
  for (const auto& [name, m] : methods_) {
    if (!m.client_streaming) continue;
    options.routes.push_back({"/v1/" + name, static_cast<size_t>(settings_.max_upload_bytes)});
  }
}

void JsonApi::AddRoutes(HttpServer& server) const {
  server.Post(kPattern, [this](const HttpRequest& r) { return Handle(r); });
  for (const char* method : {"GET", "PUT", "PATCH", "DELETE"}) {
    server.Handle(method, kPattern, [](const HttpRequest& r) {
      std::string given = r.Header("X-Request-Id");
      HttpResponse answer =
          ErrorAnswer(grpc::UNIMPLEMENTED, "every method is called with POST",
                      ValidRequestId(given) ? given : RpcRunner::NewRequestId(), nullptr, 405);
      answer.headers["Allow"] = "POST";
      return answer;
    });
  }
}

HttpResponse JsonApi::Refuse(const std::string& label, const Call& call, grpc::StatusCode code,
                             const std::string& message, const FieldProblem* problem,
                             int http_status) const {
  grpc::Status status(code, message);
  runner_.RecordRejected(label.c_str(), status, std::chrono::steady_clock::now() - call.start,
                         call.request_id);
  return ErrorAnswer(code, message, call.request_id, problem, http_status);
}

HttpResponse JsonApi::Handle(const HttpRequest& request) const {
  Call call;
  std::string given = request.Header("X-Request-Id");
  call.request_id = ValidRequestId(given) ? given : RpcRunner::NewRequestId();
  auto it = methods_.find(request.path_params.at(0) + "/" + request.path_params.at(1));
  if (it == methods_.end()) {
    // The metric label stays bounded: every unknown path counts as one name.
    return Refuse("unknown", call, grpc::NOT_FOUND,
                  "no such method: the paths are /v1/{Service}/{Method} (docs/creatio.md)");
  }
  const Method& m = it->second;
  std::string problem;
  auto authorization = Authorization(request.Header("Authorization"), &problem);
  if (!authorization) return Refuse(m.label, call, grpc::UNAUTHENTICATED, problem);
  // The edge's own answers, given before the body is read (the edge still checks the key
  // and then the scope).
  if (authorization->empty()) {
    return Refuse(m.label, call, grpc::UNAUTHENTICATED,
                  "authorization: a bearer API key is required");
  }
  if (!keys_.Authenticate(*authorization)) {
    return Refuse(m.label, call, grpc::UNAUTHENTICATED, "authorization: unknown API key");
  }
  call.authorization = *authorization;
  return m.client_streaming ? Upload(m, call, request) : Unary(m, call, request);
}

namespace {

void Prepare(grpc::ClientContext& ctx, const std::string& request_id,
             const std::string& authorization, int deadline_ms) {
  ctx.AddMetadata("x-request-id", request_id);
  if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
}

// The Idempotency-Key header is the request's idempotency_key; a body that names another
// key is refused rather than one of the two silently winning.
std::optional<FieldProblem> ApplyIdempotencyKey(const google::protobuf::FieldDescriptor* field,
                                                const HttpRequest& request, Message& message) {
  std::string key = request.Header("Idempotency-Key");
  if (key.empty()) return std::nullopt;
  if (!field) return FieldProblem{"Idempotency-Key", "this method takes no idempotency key"};
  const auto* reflection = message.GetReflection();
  std::string in_body = reflection->GetString(message, field);
  if (!in_body.empty() && in_body != key) {
    return FieldProblem{"idempotency_key", "differs from the Idempotency-Key header"};
  }
  reflection->SetString(&message, field, key);
  return std::nullopt;
}

// The completion queue of the calling worker thread, kept for the thread's life: calls wait
// on it in this thread (no hop through callback threads), and no queue is made and
// destroyed per call as a blocking call would.
grpc::CompletionQueue& ThreadQueue() {
  struct Queue {
    grpc::CompletionQueue cq;
    ~Queue() {
      cq.Shutdown();
      void* tag;
      bool ok;
      while (cq.Next(&tag, &ok)) {
      }
    }
  };
  thread_local Queue queue;
  return queue.cq;
}

// Waits for the one operation in flight on this thread's queue, started with `tag`; whether
// it succeeded. Every call here starts one operation at a time and waits for it, so nothing
// is left on the queue when a call returns.
bool AwaitOne(void* tag) {
  void* got = nullptr;
  bool ok = false;
  return ThreadQueue().Next(&got, &ok) && got == tag && ok;
}

}  // namespace

HttpResponse JsonApi::Unary(const Method& m, const Call& call, const HttpRequest& request) const {
  if (!request.body.empty()) {
    MediaType media = ParseContentType(request.Header("Content-Type"));
    if (media.type != "application/json" || !media.utf8) {
      return Refuse(m.label, call, grpc::INVALID_ARGUMENT,
                    "Content-Type: expected application/json (UTF-8)", nullptr, 415);
    }
  }
  std::unique_ptr<Message> message(m.request->New());
  if (auto p = json_api::ParseRequest(request.body.empty() ? "{}" : request.body, *message)) {
    return Refuse(m.label, call, grpc::INVALID_ARGUMENT, p->Text(), &*p);
  }
  if (auto p = ApplyIdempotencyKey(m.idempotency_key, request, *message)) {
    return Refuse(m.label, call, grpc::INVALID_ARGUMENT, p->Text(), &*p);
  }
  grpc::ClientContext ctx;
  Prepare(ctx, call.request_id, call.authorization, settings_.deadline_ms);
  std::unique_ptr<Message> response(m.response->New());
  grpc::TemplatedGenericStub<Message, Message> stub(channel_);
  auto reader = stub.PrepareUnaryCall(&ctx, m.grpc_path, *message, &ThreadQueue());
  reader->StartCall();
  grpc::Status status;
  reader->Finish(response.get(), &status, &status);
  if (!AwaitOne(&status)) status = grpc::Status(grpc::INTERNAL, "internal error");
  return Answer(*response, ctx, status, call.request_id);
}

HttpResponse JsonApi::Upload(const Method& m, const Call& call, const HttpRequest& request) const {
  MediaType media = ParseContentType(request.Header("Content-Type"));
  bool ndjson = media.type == "application/x-ndjson";
  if (request.body.empty()) {
    return Refuse(m.label, call, grpc::INVALID_ARGUMENT,
                  "the body is empty: send one " + m.request->GetDescriptor()->name() +
                      " as application/json, or one per line as application/x-ndjson");
  }
  if ((!ndjson && media.type != "application/json") || !media.utf8) {
    return Refuse(m.label, call, grpc::INVALID_ARGUMENT,
                  "Content-Type: expected application/json or application/x-ndjson (UTF-8)",
                  nullptr, 415);
  }
  const size_t line_limit = static_cast<size_t>(settings_.max_body_bytes);
  if (!ndjson && request.body.size() > line_limit) {
    return Refuse(m.label, call, grpc::RESOURCE_EXHAUSTED,
                  "a JSON body is limited to " + std::to_string(line_limit) +
                      " bytes; send larger uploads as application/x-ndjson",
                  nullptr, 413);
  }
  // Every line is read and checked before the first is sent, so a bad line adds nothing;
  // what is sent is the messages as read, kept serialized (smaller than their JSON).
  std::vector<std::string> messages;
  std::string_view body = request.body;
  for (size_t number = 1; !body.empty(); ++number) {
    size_t end = ndjson ? body.find('\n') : std::string_view::npos;
    std::string_view line = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    std::string where = ndjson ? "line " + std::to_string(number) + ": " : "";
    if (line.size() > line_limit) {
      return Refuse(m.label, call, grpc::RESOURCE_EXHAUSTED,
                    where + "longer than " + std::to_string(line_limit) +
                        " bytes; spread the rows over more lines",
                    nullptr, 413);
    }
    std::unique_ptr<Message> message(m.request->New());
    auto p = json_api::ParseRequest(line, *message);
    if (!p) p = ApplyIdempotencyKey(m.idempotency_key, request, *message);
    if (p) return Refuse(m.label, call, grpc::INVALID_ARGUMENT, where + p->Text(), &*p);
    messages.push_back(message->SerializeAsString());
  }
  if (messages.empty()) {
    return Refuse(m.label, call, grpc::INVALID_ARGUMENT, "the upload holds no line");
  }

  grpc::ClientContext ctx;
  Prepare(ctx, call.request_id, call.authorization, settings_.deadline_ms);
  grpc::GenericStub stub(channel_);
  auto stream = stub.PrepareCall(&ctx, m.grpc_path, &ThreadQueue());
  stream->StartCall(&ctx);
  bool open = AwaitOne(&ctx);
  for (const auto& bytes : messages) {
    if (!open) break;  // the server has answered already; Finish says how
    grpc::Slice slice(bytes);
    stream->Write(grpc::ByteBuffer(&slice, 1), &ctx);
    open = AwaitOne(&ctx);
  }
  if (open) {
    stream->WritesDone(&ctx);
    AwaitOne(&ctx);
  }
  grpc::ByteBuffer received;
  stream->Read(&received, &ctx);
  bool answered = AwaitOne(&ctx);
  grpc::Status status;
  stream->Finish(&status, &ctx);
  AwaitOne(&ctx);
  std::unique_ptr<Message> response(m.response->New());
  if (status.ok() && (!answered || !Traits::Deserialize(&received, response.get()).ok())) {
    status = grpc::Status(grpc::INTERNAL, "internal error");
  }
  return Answer(*response, ctx, status, call.request_id);
}

}  // namespace herald::web
