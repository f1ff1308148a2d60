// The JSON API's translation (json_api.h) against a stand-in gRPC service in process: every
// gRPC status code and its HTTP status, headers to metadata (Bearer, Basic, X-Request-Id,
// Idempotency-Key), content types, methods, limits and value-free refusals. What the real
// services answer over JSON is tests/integration/json_api_test.cc. Ids: docs/requirements.md.
#include "services/web/json_api/json_api.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/config/config.h"
#include "common/crypto/hash.h"
#include "common/metrics/metrics.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/json_client.h"

namespace herald::web {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::PostJson;
using Json = nlohmann::json;

constexpr char kKey[] = "unit-key-0123456789";

std::string Metadata(const grpc::ServerContext* ctx, const std::string& name) {
  auto it = ctx->client_metadata().find(name);
  return it == ctx->client_metadata().end() ? ""
                                            : std::string(it->second.data(), it->second.size());
}

// Answers CheckEligibility with the status its topic names ("DEADLINE_EXCEEDED": the gRPC
// code of that name; "slow": after a second), and echoes what reached gRPC: the
// authorization metadata in decision.address, the request id in decision.explanation.
class StandInSubscriptions final : public v1::SubscriptionService::Service {
 public:
  grpc::Status CheckEligibility(grpc::ServerContext* ctx, const v1::CheckEligibilityRequest* r,
                                v1::CheckEligibilityResponse* out) override {
    ctx->AddInitialMetadata("x-request-id", Metadata(ctx, "x-request-id"));
    if (r->topic() == "slow") std::this_thread::sleep_for(std::chrono::seconds(1));
    for (int code = 1; code <= 16; ++code) {
      if (r->topic() == StatusCodeName(static_cast<grpc::StatusCode>(code))) {
        std::string message =
            r->provider_country() == "field" ? "recipient.address: must be valid" : "refused";
        return grpc::Status(static_cast<grpc::StatusCode>(code), message);
      }
    }
    out->mutable_decision()->set_allowed(true);
    out->mutable_decision()->set_address(Metadata(ctx, "authorization"));
    out->mutable_decision()->set_explanation(Metadata(ctx, "x-request-id"));
    return grpc::Status::OK;
  }
  // Echoes the idempotency key it received.
  grpc::Status UpsertSubject(grpc::ServerContext*, const v1::UpsertSubjectRequest* r,
                             v1::UpsertSubjectResponse* out) override {
    out->mutable_subject()->set_external_id(r->idempotency_key());
    return grpc::Status::OK;
  }
};

// Counts the messages of the stream and the rows in them; its upload id is the number of
// messages of the call.
class StandInDispatch final : public v1::DispatchService::Service {
 public:
  grpc::Status AddRecipients(grpc::ServerContext*,
                             grpc::ServerReader<v1::AddRecipientsRequest>* reader,
                             v1::AddRecipientsResponse* out) override {
    v1::AddRecipientsRequest r;
    int in_this_call = 0;
    while (reader->Read(&r)) {
      ++messages;
      ++in_this_call;
      out->set_received(out->received() + r.rows_size());
    }
    out->set_upload_id(std::to_string(in_this_call));
    return grpc::Status::OK;
  }
  std::atomic<int> messages{0};
};

class JsonApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(JsonApiSettings{}); }

  void Start(JsonApiSettings settings) {
    if (http_) http_->Stop();
    grpc::ServerBuilder builder;
    builder.RegisterService(&subscriptions_);
    builder.RegisterService(&dispatch_);
    grpc_ = builder.BuildAndStart();
    ASSERT_NE(grpc_, nullptr);
    settings.listen = "127.0.0.1:0";
    api_ = std::make_unique<JsonApi>(
        grpc_->InProcessChannel(grpc::ChannelArguments()),
        std::vector<std::string>{"herald.v1.SubscriptionService", "herald.v1.DispatchService"},
        runner_, auth_, settings);
    HttpServerOptions options;
    options.listen = settings.listen;
    api_->Configure(options);
    http_ = std::make_unique<HttpServer>(options);
    api_->AddRoutes(*http_);
    http_->Start();
  }
  void TearDown() override {
    if (http_) http_->Stop();
    if (grpc_) grpc_->Shutdown();
  }

  testing::JsonAnswer Check(const std::string& body,
                            const std::map<std::string, std::string>& headers = {},
                            const std::string& key = kKey) {
    return PostJson(http_->port(), "/v1/SubscriptionService/CheckEligibility", body, key, headers);
  }

  StandInSubscriptions subscriptions_;
  StandInDispatch dispatch_;
  Metrics metrics_;
  ApiKeyAuthenticator auth_{
      {{"unit", crypto::ToHex(crypto::Sha256(kKey)), {Scope::kAdmin}},
       // Basic's password keeps any colon after the first: "any:thing" as login gives this.
       {"unit-colon",
        crypto::ToHex(crypto::Sha256(std::string("thing:") + kKey)),
        {Scope::kAdmin}}}};
  RpcRunner runner_{auth_, metrics_};
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<JsonApi> api_;
  std::unique_ptr<HttpServer> http_;
};

// J5: the table grpc-gateway and Envoy share.
TEST(JsonApiStatusTest, J5_EveryGrpcCodeHasItsHttpStatus) {
  const std::map<grpc::StatusCode, int> expected = {
      {grpc::OK, 200},
      {grpc::CANCELLED, 499},
      {grpc::UNKNOWN, 500},
      {grpc::INVALID_ARGUMENT, 400},
      {grpc::DEADLINE_EXCEEDED, 504},
      {grpc::NOT_FOUND, 404},
      {grpc::ALREADY_EXISTS, 409},
      {grpc::PERMISSION_DENIED, 403},
      {grpc::RESOURCE_EXHAUSTED, 429},
      {grpc::FAILED_PRECONDITION, 400},
      {grpc::ABORTED, 409},
      {grpc::OUT_OF_RANGE, 400},
      {grpc::UNIMPLEMENTED, 501},
      {grpc::INTERNAL, 500},
      {grpc::UNAVAILABLE, 503},
      {grpc::DATA_LOSS, 500},
      {grpc::UNAUTHENTICATED, 401},
  };
  for (const auto& [code, status] : expected) {
    EXPECT_EQ(JsonApi::HttpStatus(code), status) << StatusCodeName(code);
  }
}

// J5: each code the service answers arrives as its HTTP status with the error body.
TEST_F(JsonApiTest, J5_EachGrpcErrorArrivesWithItsStatusAndBody) {
  for (int code = 1; code <= 16; ++code) {
    auto c = static_cast<grpc::StatusCode>(code);
    SCOPED_TRACE(StatusCodeName(c));
    auto a = Check(Json{{"topic", StatusCodeName(c)}}.dump());
    EXPECT_EQ(a.status, JsonApi::HttpStatus(c));
    Json body = a.Json();
    EXPECT_EQ(body["code"], code);
    EXPECT_EQ(body["status"], StatusCodeName(c));
    EXPECT_EQ(body["message"], "refused");
    EXPECT_EQ(body["details"], Json::array());
    EXPECT_EQ(a.Header("Content-Type"), "application/json");
    EXPECT_EQ(a.Header("WWW-Authenticate").empty(), c != grpc::UNAUTHENTICATED);
  }
}

TEST_F(JsonApiTest, J5_AFieldErrorOfTheServiceGetsABadRequestDetail) {
  auto a = Check(R"({"topic": "INVALID_ARGUMENT", "provider_country": "field"})");
  ASSERT_EQ(a.status, 400);
  Json detail = a.Json()["details"][0];
  EXPECT_EQ(detail["@type"], "type.googleapis.com/google.rpc.BadRequest");
  EXPECT_EQ(detail["field_violations"][0]["field"], "recipient.address");
  EXPECT_EQ(detail["field_violations"][0]["description"], "must be valid");
}

TEST_F(JsonApiTest, J5_PastTheDeadlineTheAnswerIs504) {
  JsonApiSettings s;
  s.deadline_ms = 100;
  Start(s);
  auto a = Check(R"({"topic": "slow"})");
  EXPECT_EQ(a.status, 504);
  EXPECT_EQ(a.Json()["status"], "DEADLINE_EXCEEDED");
}

// J1: the answer is the message printed; what reached gRPC is what the headers said.
TEST_F(JsonApiTest, J1_BearerAndRequestIdReachGrpcAsMetadata) {
  auto a = Check(R"({"topic": "news"})", {{"X-Request-Id", "crm-call-42"}});
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.Json()["decision"]["address"], std::string("Bearer ") + kKey);
  EXPECT_EQ(a.Json()["decision"]["explanation"], "crm-call-42");
  EXPECT_EQ(a.Header("X-Request-Id"), "crm-call-42");
  EXPECT_EQ(a.Header("Cache-Control"), "no-store");
  // An unusable request id is replaced by a fresh one, which the answer names.
  auto fresh = Check(R"({"topic": "news"})", {{"X-Request-Id", "not valid!"}});
  EXPECT_EQ(fresh.Header("X-Request-Id").size(), 16u);
  EXPECT_EQ(fresh.Json()["decision"]["explanation"], fresh.Header("X-Request-Id"));
}

std::string Base64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

// J1: Creatio's "Basic" auth type carries the key as the password; the login is not read.
TEST_F(JsonApiTest, J1_BasicCarriesTheKeyAsPassword) {
  for (const std::string login : {"creatio", "", "any:thing"}) {
    auto a = Check(R"({"topic": "news"})",
                   {{"Authorization", "Basic " + Base64(login + ":" + kKey)}}, "");
    ASSERT_EQ(a.status, 200) << a.body;
    // A login with a colon splits at its first one: the rest is the password.
    std::string key = login == "any:thing" ? std::string("thing:") + kKey : kKey;
    EXPECT_EQ(a.Json()["decision"]["address"], "Bearer " + key);
  }
  for (const std::string& bad : std::vector<std::string>{"Basic !!!", "Basic " + Base64("no-colon"),
                                                         "Basic " + Base64("x:")}) {
    auto a = Check(R"({"topic": "news"})", {{"Authorization", bad}}, "");
    EXPECT_EQ(a.status, 401) << bad;
    EXPECT_THAT(a.Json()["message"].get<std::string>(), HasSubstr("base64 of login:key"));
    EXPECT_EQ(a.Header("WWW-Authenticate"), "Bearer realm=\"herald\", Basic realm=\"herald\"");
  }
}

// J5: the header is the request's key; a body that names another is refused.
TEST_F(JsonApiTest, J5_TheIdempotencyKeyHeaderIsTheRequestsKey) {
  const std::string path = "/v1/SubscriptionService/UpsertSubject";
  auto header = PostJson(http_->port(), path, "{}", kKey, {{"Idempotency-Key", "form-17"}});
  EXPECT_EQ(header.Json()["subject"]["external_id"], "form-17");
  auto same = PostJson(http_->port(), path, R"({"idempotency_key": "form-17"})", kKey,
                       {{"Idempotency-Key", "form-17"}});
  EXPECT_EQ(same.Json()["subject"]["external_id"], "form-17");
  auto body_only = PostJson(http_->port(), path, R"({"idempotency_key": "form-18"})", kKey);
  EXPECT_EQ(body_only.Json()["subject"]["external_id"], "form-18");
  auto differ = PostJson(http_->port(), path, R"({"idempotency_key": "form-19"})", kKey,
                         {{"Idempotency-Key", "form-17"}});
  EXPECT_EQ(differ.status, 400);
  EXPECT_EQ(differ.Json()["details"][0]["field_violations"][0]["field"], "idempotency_key");
  auto no_such_field = Check(R"({"topic": "news"})", {{"Idempotency-Key", "k"}});
  EXPECT_EQ(no_such_field.status, 400);
  EXPECT_THAT(no_such_field.Json()["message"].get<std::string>(),
              HasSubstr("takes no idempotency key"));
}

// A caller without a known key is turned away before its body is read: a malformed body
// answers 401, not 400, and nothing reaches gRPC.
TEST_F(JsonApiTest, J5_NoKnownKeyIsRefusedBeforeTheBodyIsRead) {
  int before = dispatch_.messages;
  for (const std::string key : {"", "not-a-key-0123456789"}) {
    auto a = PostJson(http_->port(), "/v1/DispatchService/AddRecipients", "{not json", key, {},
                      "application/x-ndjson");
    EXPECT_EQ(a.status, 401) << key;
    EXPECT_EQ(a.Header("WWW-Authenticate"), "Bearer realm=\"herald\", Basic realm=\"herald\"");
    EXPECT_EQ(a.Json()["message"], key.empty() ? "authorization: a bearer API key is required"
                                               : "authorization: unknown API key");
  }
  EXPECT_EQ(dispatch_.messages, before);
  EXPECT_EQ(Check("{not json").status, 400);  // with the key, the body's own answer
}

TEST_F(JsonApiTest, J5_OnlyJsonIsRead) {
  auto form = PostJson(http_->port(), "/v1/SubscriptionService/CheckEligibility", "topic=news",
                       kKey, {}, "application/x-www-form-urlencoded");
  EXPECT_EQ(form.status, 415);
  EXPECT_EQ(form.Json()["status"], "INVALID_ARGUMENT");
  auto latin1 = PostJson(http_->port(), "/v1/SubscriptionService/CheckEligibility", "{}", kKey, {},
                         "application/json; charset=iso-8859-1");
  EXPECT_EQ(latin1.status, 415);
  auto utf8 = PostJson(http_->port(), "/v1/SubscriptionService/CheckEligibility",
                       R"({"topic": "news"})", kKey, {}, "Application/JSON; Charset=\"UTF-8\"");
  EXPECT_EQ(utf8.status, 200) << utf8.body;
  // No body at all is the empty request.
  auto empty =
      PostJson(http_->port(), "/v1/SubscriptionService/CheckEligibility", "", kKey, {}, "");
  EXPECT_EQ(empty.status, 200) << empty.body;
}

TEST_F(JsonApiTest, J2_J3_BadBodiesAreRefusedBeforeGrpcWithoutTheirValues) {
  auto typo = Check(R"({"topic": "news", "chanel": "EMAIL"})");
  EXPECT_EQ(typo.status, 400);
  EXPECT_EQ(typo.Json()["message"], "chanel: unknown field");
  EXPECT_EQ(typo.Json()["details"][0]["field_violations"][0]["field"], "chanel");
  auto malformed = Check(R"({"recipient": {"address": "+994501234567)");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_THAT(malformed.body, Not(HasSubstr("994501234567")));
  auto type = Check(R"({"recipient": {"address": ["anna@example.com"]}})");
  EXPECT_EQ(type.status, 400);
  EXPECT_EQ(type.Json()["message"], "recipient.address: expected a string");
  EXPECT_THAT(type.body, Not(HasSubstr("anna@example.com")));
}

TEST_F(JsonApiTest, MethodsAndPathsOutsideTheApiAreRefused) {
  for (const char* method : {"GET", "PUT", "PATCH", "DELETE"}) {
    auto a =
        testing::SendHttp(http_->port(), method, "/v1/SubscriptionService/CheckEligibility", kKey);
    EXPECT_EQ(a.status, 405) << method;
    EXPECT_EQ(a.Header("Allow"), "POST");
  }
  auto unknown = PostJson(http_->port(), "/v1/SubscriptionService/Nope", "{}", kKey);
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.Json()["status"], "NOT_FOUND");
  // A service that is not offered, and gRPC's own path form.
  EXPECT_EQ(PostJson(http_->port(), "/v1/PrivacyService/BlockSubject", "{}", kKey).status, 404);
  EXPECT_EQ(
      PostJson(http_->port(), "/herald.v1.SubscriptionService/CheckEligibility", "{}", kKey).status,
      404);
}

TEST_F(JsonApiTest, J7_AnUploadIsOneJsonMessageOrNdjsonLines) {
  const std::string path = "/v1/DispatchService/AddRecipients";
  auto one = PostJson(http_->port(), path,
                      R"({"campaign_id": "c", "rows": [{"address": "a@example.com"}, {}]})", kKey);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.Json()["received"], "2");
  EXPECT_EQ(one.Json()["upload_id"], "1");  // one message
  std::string ndjson = "{\"campaign_id\": \"c\", \"rows\": [{}]}\r\n\n{\"rows\": [{}, {}]}\n";
  auto lines = PostJson(http_->port(), path, ndjson, kKey, {}, "application/x-ndjson");
  ASSERT_EQ(lines.status, 200) << lines.body;
  EXPECT_EQ(lines.Json()["received"], "3");
  EXPECT_EQ(lines.Json()["upload_id"], "2");
}

TEST_F(JsonApiTest, J7_ABadLineSendsNothing) {
  int before = dispatch_.messages;
  std::string ndjson =
      "{\"campaign_id\": \"c\", \"rows\": [{}]}\n{\"rows\": [{}]}\n"
      "{\"rows\": [{\"adress\": \"+994501234567\"}]}\n";
  auto a = PostJson(http_->port(), "/v1/DispatchService/AddRecipients", ndjson, kKey, {},
                    "application/x-ndjson");
  EXPECT_EQ(a.status, 400);
  EXPECT_EQ(a.Json()["message"], "line 3: rows[0].adress: unknown field");
  EXPECT_THAT(a.body, Not(HasSubstr("994501234567")));
  EXPECT_EQ(dispatch_.messages, before);
  auto text = PostJson(http_->port(), "/v1/DispatchService/AddRecipients", "c,a@example.com", kKey,
                       {}, "text/csv");
  EXPECT_EQ(text.status, 415);
}

TEST_F(JsonApiTest, J7_UploadLimits) {
  JsonApiSettings s;
  s.max_body_bytes = 2048;
  s.max_upload_bytes = 8192;
  Start(s);
  std::string big_row = "{\"rows\": [{\"address\": \"" + std::string(3000, 'a') + "\"}]}";
  auto json = PostJson(http_->port(), "/v1/DispatchService/AddRecipients", big_row, kKey);
  EXPECT_EQ(json.status, 413);
  auto line = PostJson(http_->port(), "/v1/DispatchService/AddRecipients", big_row + "\n", kKey, {},
                       "application/x-ndjson");
  EXPECT_EQ(line.status, 413);
  EXPECT_THAT(line.Json()["message"].get<std::string>(), HasSubstr("line 1: longer than 2048"));
  std::string many;
  for (int i = 0; i < 200; ++i) many += "{\"rows\": [{}]}\n";  // 2,800 bytes: within the upload
  EXPECT_EQ(PostJson(http_->port(), "/v1/DispatchService/AddRecipients", many, kKey, {},
                     "application/x-ndjson")
                .status,
            200);
  std::string too_many;
  for (int i = 0; i < 700; ++i) too_many += "{\"rows\": [{}]}\n";  // 9,800 bytes
  EXPECT_EQ(PostJson(http_->port(), "/v1/DispatchService/AddRecipients", too_many, kKey, {},
                     "application/x-ndjson")
                .status,
            413);
  // An ordinary method keeps the JSON body limit.
  EXPECT_EQ(Check("{\"topic\": \"" + std::string(3000, 'n') + "\"}").status, 413);
}

}  // namespace
}  // namespace herald::web
