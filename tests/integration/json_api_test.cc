// heraldd's JSON API end to end (docs/creatio.md; J1-J7 in docs/requirements.md): every
// unary RPC over JSON answers what the same call over gRPC answers, printed by protobuf's own
// printer; typos and wrong types change nothing; identical POSTs replay one answer and record
// one event; an NDJSON upload adds its rows, or none when a line is bad; the gate's answer
// says which fact decided. The access table over JSON is in edge_test.cc.
#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <gtest/gtest.h>

#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/json_client.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using testing::JsonAnswer;
using ::testing::Not;
using testing::PostJson;
using Json = nlohmann::json;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

const MethodDescriptor* FindMethod(const std::string& service, const std::string& method) {
  const auto* s =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName("herald.v1." + service);
  return s ? s->FindMethodByName(method) : nullptr;
}

std::vector<const MethodDescriptor*> HeraldMethods() {
  std::vector<const MethodDescriptor*> out;
  // Through a message of each file, so the file's generated code is linked in.
  for (const auto* file :
       {v1::UpsertSubjectRequest::descriptor()->file(), v1::SendRequest::descriptor()->file(),
        v1::BlockSubjectRequest::descriptor()->file()}) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        out.push_back(file->service(s)->method(m));
      }
    }
  }
  return out;
}

// The gRPC side of a comparison: the request read by protobuf's own JSON parser, the answer
// printed by protobuf's own printer with the options docs/creatio.md states.
std::string CallOverGrpc(const std::shared_ptr<grpc::Channel>& channel, const MethodDescriptor* md,
                         const std::string& request_json, const std::string& key) {
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<Message> request(factory->GetPrototype(md->input_type())->New());
  std::unique_ptr<Message> response(factory->GetPrototype(md->output_type())->New());
  auto parsed = google::protobuf::util::JsonStringToMessage(request_json, request.get());
  EXPECT_TRUE(parsed.ok()) << parsed.ToString();
  grpc::ByteBuffer sent, received;
  bool own = false;
  EXPECT_TRUE(grpc::SerializationTraits<Message>::Serialize(*request, &sent, &own).ok());
  grpc::ClientContext ctx;
  testing::Authorize(ctx, key);
  grpc::GenericStub stub(channel);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/" + md->service()->full_name() + "/" + md->name(), grpc::StubOptions(),
                 &sent, &received, [&done](grpc::Status s) { done.set_value(std::move(s)); });
  grpc::Status status = done.get_future().get();
  if (!status.ok())
    return "gRPC status " + std::to_string(status.error_code()) + ": " + status.error_message();
  EXPECT_TRUE(grpc::SerializationTraits<Message>::Deserialize(&received, response.get()).ok());
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string out;
  EXPECT_TRUE(google::protobuf::util::MessageToJsonString(*response, &out, options).ok());
  return out;
}

// How a JSON answer is compared with gRPC's.
enum class Compare {
  kSame,         // the same request over gRPC: a read, or a keyed write that replays
  kSameButTime,  // the same, except the time the answer was made (an export)
  kThenRead,     // a write without a key: gRPC reads the object it answered with
};

struct Fixture {
  std::string service, method, body;
  Compare compare = Compare::kSame;
  std::string read_method, read_body;           // kThenRead
  std::map<std::string, std::string> captures;  // ${NAME} <- JSON pointer into the answer
};

std::string Substitute(std::string text, const std::map<std::string, std::string>& vars) {
  for (const auto& [name, value] : vars) {
    for (size_t at; (at = text.find("${" + name + "}")) != std::string::npos;) {
      text.replace(at, name.size() + 3, value);
    }
  }
  return text;
}

std::string WithoutTimes(const std::string& s) {
  static const std::regex time(R"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d(:\d\d)?)?)");
  return std::regex_replace(s, time, "<time>");
}

// Every unary RPC, in an order that builds what the later ones need. Each succeeds: a
// transcoder that answered every method with 400 cannot pass.
std::vector<Fixture> Fixtures() {
  const std::string proof = R"("proof": {"source": "WEB_FORM", "form_id": "landing",
      "document_version": "v3", "ip": "203.0.113.7", "user_agent": "Mozilla/5.0"})";
  const std::string content =
      R"("content": {"subject": "Hello {{given_name}}", "text": "Hi {{given_name}}",
                     "html": "<p>Hi {{given_name}}</p>"})";
  return {
      {"SubscriptionService", "ListTopics", "{}"},
      {"SubscriptionService",
       "UpsertSubject",
       R"({"idempotency_key": "j-upsert-1", "external_id": "crm-1", "surname": "Sokolova",
           "given_name": "Anna", "emails": ["anna@example.com"], "phones": ["+994501234567"],
           "source": "CRM"})",
       Compare::kSame,
       "",
       "",
       {{"SUBJECT", "/subject/id"}}},
      // A CRM duplicate of the same person, and a third subject to destroy.
      {"SubscriptionService",
       "UpsertSubject",
       R"({"idempotency_key": "j-upsert-2", "external_id": "crm-2", "given_name": "Anya",
           "emails": ["anna@example.com"]})",
       Compare::kSame,
       "",
       "",
       {{"DUPLICATE", "/subject/id"}}},
      {"SubscriptionService",
       "UpsertSubject",
       R"({"idempotency_key": "j-upsert-3", "external_id": "crm-3", "given_name": "Ivan",
           "emails": ["ivan@example.com"]})",
       Compare::kSame,
       "",
       "",
       {{"THIRD", "/subject/id"}}},
      {"SubscriptionService", "RecordConsent",
       R"({"idempotency_key": "j-consent-1", "subject_id": "${SUBJECT}", "kind": "PROCESSING",
           "granted": true, )" +
           proof + "}"},
      {"SubscriptionService", "RecordConsent",
       R"({"idempotency_key": "j-consent-2", "subject_id": "${SUBJECT}", "kind": "MARKETING",
           "channel": "EMAIL", "granted": true, )" +
           proof + "}"},
      {"SubscriptionService", "SetPreferences",
       R"({"idempotency_key": "j-prefs-1", "subject_id": "${SUBJECT}",
           "changes": [{"topic": "product_news", "channel": "EMAIL", "subscribed": true}],
           "proof": {"source": "CRM"}})"},
      {"SubscriptionService", "GetPreferences", R"({"subject_id": "${SUBJECT}"})"},
      {"SubscriptionService", "GetSubject", R"({"subject_id": "${SUBJECT}"})"},
      {"SubscriptionService",
       "UpsertSubject",
       R"({"idempotency_key": "j-upsert-4", "external_id": "crm-4", "given_name": "Anna",
           "emails": ["anna.duplicate@example.com"]})",
       Compare::kSame,
       "",
       "",
       {{"FOURTH", "/subject/id"}}},
      // Replayed by its key over gRPC, so both transports answer the one merge.
      {"SubscriptionService", "MergeSubjects",
       R"({"idempotency_key": "j-merge-1", "survivor_id": "${SUBJECT}",
           "merged_id": "${FOURTH}", "proof": {"source": "CRM"}})"},
      {"SubscriptionService", "RecordCallOutcome",
       R"({"idempotency_key": "j-call-1", "subject_id": "${SUBJECT}", "phone": "+994501234567",
           "outcome": "CONSENT_GIVEN", "agent": "agent-12", "recording_reference": "rec-1",
           "document_version": "calls-v1"})"},
      {"SubscriptionService", "FindSubjects", R"({"address": "anna@example.com"})"},
      // A dry run: both transports answer the same counts.
      {"SubscriptionService", "RehashSuppressions", R"({"dry_run": true})"},
      {"SubscriptionService", "CheckEligibility",
       R"({"recipient": {"subject_id": "${SUBJECT}"}, "channel": "EMAIL",
           "topic": "product_news"})"},
      {"SubscriptionService", "CheckEligibilityBatch",
       R"({"recipients": [{"subject_id": "${SUBJECT}"}, {"address": "nobody@example.org"}],
           "channel": "EMAIL", "topic": "product_news"})"},
      {"SubscriptionService", "ListSubjectEvents",
       R"({"subject_id": "${SUBJECT}", "page_size": 10})"},
      {"SubscriptionService", "OptOut",
       R"({"idempotency_key": "j-optout-1", "address": "+994501234599", "scope": "CHANNEL",
           "channel": "SMS", "reason": "MANUAL", "proof": {"source": "CRM"}})"},
      {"DispatchService", "PreviewMessage",
       R"({"recipient": {"subject_id": "${SUBJECT}"}, "channel": "EMAIL",
           "topic": "product_news", )" +
           content + "}"},
      {"DispatchService",
       "Send",
       R"({"idempotency_key": "j-send-1", "recipient": {"subject_id": "${SUBJECT}"},
           "channel": "EMAIL", "topic": "product_news", )" +
           content + "}",
       Compare::kSame,
       "",
       "",
       {{"MESSAGE", "/message_id"}}},
      {"DispatchService", "GetMessage", R"({"message_id": "${MESSAGE}"})"},
      {"DispatchService", "ListMessages", R"({"subject_id": "${SUBJECT}"})"},
      {"DispatchService",
       "CreateCampaign",
       R"({"idempotency_key": "j-campaign-1", "name": "December news", "topic": "product_news",
           "channel": "EMAIL", "variables": ["offer_code"], "rate_per_second": 5, )" +
           content + "}",
       Compare::kSame,
       "",
       "",
       {{"CAMPAIGN", "/campaign/id"}}},
      {"DispatchService", "StartCampaign", R"({"campaign_id": "${CAMPAIGN}"})", Compare::kThenRead,
       "GetCampaign", R"({"campaign_id": "${CAMPAIGN}"})"},
      {"DispatchService", "PauseCampaign", R"({"campaign_id": "${CAMPAIGN}"})", Compare::kThenRead,
       "GetCampaign", R"({"campaign_id": "${CAMPAIGN}"})"},
      {"DispatchService", "ResumeCampaign", R"({"campaign_id": "${CAMPAIGN}"})", Compare::kThenRead,
       "GetCampaign", R"({"campaign_id": "${CAMPAIGN}"})"},
      {"DispatchService", "GetCampaign", R"({"campaign_id": "${CAMPAIGN}"})"},
      {"DispatchService", "GetRecipientUpload",
       R"({"campaign_id": "${CAMPAIGN}", "upload_id": "${UPLOAD}"})"},
      {"DispatchService", "ListCampaigns", R"({"page_size": 5})"},
      {"DispatchService", "CancelCampaign", R"({"campaign_id": "${CAMPAIGN}"})", Compare::kThenRead,
       "GetCampaign", R"({"campaign_id": "${CAMPAIGN}"})"},
      {"PrivacyService",
       "OpenPrivacyRequest",
       R"({"idempotency_key": "j-open-1", "kind": "ACCESS", "subject_id": "${SUBJECT}",
           "source": "OPERATOR"})",
       Compare::kSame,
       "",
       "",
       {{"REQUEST", "/request/id"}}},
      {"PrivacyService", "GetPrivacyRequest", R"({"request_id": "${REQUEST}"})"},
      {"PrivacyService", "ListPrivacyRequests", R"({"subject_id": "${SUBJECT}"})"},
      {"PrivacyService", "ExportSubjectData", R"({"subject_id": "${SUBJECT}"})",
       Compare::kSameButTime},
      {"PrivacyService", "CompletePrivacyRequest",
       R"({"request_id": "${REQUEST}", "status": "DONE", "note": "export sent"})",
       Compare::kThenRead, "GetPrivacyRequest", R"({"request_id": "${REQUEST}"})"},
      {"PrivacyService", "RectifySubject",
       R"({"idempotency_key": "j-rectify-1", "subject_id": "${SUBJECT}",
           "update_fields": ["given_name"], "given_name": "Anne"})"},
      {"PrivacyService", "BlockSubject",
       R"({"idempotency_key": "j-block-1", "subject_id": "${DUPLICATE}", "reason": "disputed"})"},
      {"PrivacyService", "UnblockSubject",
       R"({"idempotency_key": "j-unblock-1", "subject_id": "${DUPLICATE}",
           "reason": "resolved"})"},
      {"PrivacyService", "RevokeConsent",
       R"({"idempotency_key": "j-revoke-1", "subject_id": "${DUPLICATE}",
           "proof": {"source": "OPERATOR"}})"},
      {"PrivacyService",
       "DepersonalizeSubject",
       R"({"idempotency_key": "j-depersonalize-1", "subject_id": "${DUPLICATE}",
           "reason": "consent revoked"})",
       Compare::kSame,
       "",
       "",
       {{"RECORD", "/destruction_record_id"}}},
      {"PrivacyService", "DestroySubject",
       R"({"idempotency_key": "j-destroy-1", "subject_id": "${THIRD}",
           "reason": "the subject asked"})"},
      {"PrivacyService", "ListDestructionRecords", R"({"page_size": 10})"},
      {"PrivacyService", "GetDestructionAct", R"({"record_id": "${RECORD}"})"},
  };
}

class JsonApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    // No worker: campaigns and messages stay as the calls leave them between two reads.
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), "roles: [api]\n");
    server_->Start();
    ASSERT_GT(server_->json_port(), 0) << "the api role opened no JSON listener";
  }

  JsonAnswer Post(const std::string& service, const std::string& method, const std::string& body,
                  const std::string& key = HeralddProcess::kAdminKey,
                  const std::map<std::string, std::string>& headers = {}) {
    return PostJson(server_->json_port(), "/v1/" + service + "/" + method, body, key, headers);
  }

  std::string NewSubject(const std::string& email) {
    std::string external_id = "crm-" + email.substr(0, email.find('@'));
    auto a = Post("SubscriptionService", "UpsertSubject",
                  Json{{"external_id", external_id}, {"emails", {email}}}.dump());
    EXPECT_EQ(a.status, 200) << a.body;
    return a.Json()["subject"]["id"].get<std::string>();
  }

  std::string EventCount(const std::string& subject_id) {
    return db_->Scalar("SELECT count(*) FROM events WHERE subject_id = '" + subject_id + "'");
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
};

// J1: for every unary RPC, the JSON answer is the gRPC answer printed by protobuf's printer.
TEST_F(JsonApiTest, J1_EveryUnaryRpcAnswersWhatGrpcAnswers) {
  auto fixtures = Fixtures();
  std::set<std::string> covered;
  for (const auto& f : fixtures) covered.insert(f.service + "/" + f.method);
  for (const auto* md : HeraldMethods()) {
    if (md->client_streaming()) continue;  // AddRecipients: its own tests below
    EXPECT_TRUE(covered.count(md->service()->name() + "/" + md->name()))
        << md->full_name() << " has no fixture";
  }
  auto channel = server_->Channel();
  std::map<std::string, std::string> vars;
  int compared = 0;
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.service + "/" + f.method);
    if (f.body.find("${UPLOAD}") != std::string::npos && !vars.count("UPLOAD")) {
      // An upload to read: AddRecipients streams (no fixture of its own), so the campaign gets
      // one here, resolved before both transports read it.
      auto added = Post(
          "DispatchService", "AddRecipients",
          Json{{"campaign_id", vars.at("CAMPAIGN")},
               {"rows",
                {{{"address", "j1-upload@example.com"}, {"variables", {{"offer_code", "J1"}}}}}}}
              .dump());
      ASSERT_EQ(added.status, 200) << added.body;
      vars["UPLOAD"] = added.Json()["upload_id"].get<std::string>();
      const std::string ask = Substitute(f.body, vars);
      ASSERT_TRUE(testing::Eventually(
          [&] { return Post(f.service, f.method, ask).Json()["state"] == "UPLOAD_RESOLVED"; },
          std::chrono::seconds(30)));
    }
    std::string body = Substitute(f.body, vars);
    JsonAnswer a = Post(f.service, f.method, body);
    ASSERT_EQ(a.status, 200) << a.body;
    EXPECT_EQ(a.Header("Content-Type"), "application/json");
    for (const auto& [name, pointer] : f.captures) {
      vars[name] = a.Json().at(Json::json_pointer(pointer)).get<std::string>();
      ASSERT_FALSE(vars[name].empty()) << name;
    }
    std::string expected;
    if (f.compare == Compare::kThenRead) {
      expected = CallOverGrpc(channel, FindMethod(f.service, f.read_method),
                              Substitute(f.read_body, vars), HeralddProcess::kAdminKey);
    } else {
      expected =
          CallOverGrpc(channel, FindMethod(f.service, f.method), body, HeralddProcess::kAdminKey);
    }
    // Compared as JSON values: the members of a protobuf map field (Topic.labels) print in
    // the map's hash order, which two messages need not share, and JSON objects are unordered.
    if (f.compare == Compare::kSameButTime) {
      EXPECT_EQ(Json::parse(WithoutTimes(a.body)), Json::parse(WithoutTimes(expected)));
    } else {
      EXPECT_EQ(Json::parse(a.body), Json::parse(expected)) << a.body << "\n" << expected;
    }
    ++compared;
  }
  EXPECT_EQ(compared, static_cast<int>(fixtures.size()));
}

// J2: a typo in a field name is refused and records nothing: "grantd" is not a withdrawal.
TEST_F(JsonApiTest, J2_ATypoRecordsNothing) {
  std::string subject = NewSubject("typo@example.com");
  std::string before = EventCount(subject);
  for (const std::string body :
       {R"({"subject_id": "S", "kind": "MARKETING", "channel": "EMAIL", "grantd": true})",
        R"({"subject_id": "S", "kind": "MARKETING", "channel": "EMAIL", "granted": "false"})",
        R"({"subject_id": "S", "kind": "MARKETING", "chanel": "EMAIL", "granted": false})"}) {
    auto a = Post("SubscriptionService", "RecordConsent",
                  std::regex_replace(body, std::regex("\"S\""), "\"" + subject + "\""),
                  HeralddProcess::kCrmKey);
    EXPECT_EQ(a.status, 400) << body;
    EXPECT_EQ(a.Json()["status"], "INVALID_ARGUMENT");
    EXPECT_EQ(a.Json()["details"][0]["@type"], "type.googleapis.com/google.rpc.BadRequest");
  }
  EXPECT_EQ(EventCount(subject), before);
  // The control: the same call spelled right records one event.
  auto ok = Post("SubscriptionService", "RecordConsent",
                 Json{{"subject_id", subject},
                      {"kind", "PROCESSING"},
                      {"granted", true},
                      {"proof", {{"source", "CRM"}, {"document_version", "v1"}}}}
                     .dump(),
                 HeralddProcess::kCrmKey);
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(std::stoi(EventCount(subject)), std::stoi(before) + 1);
}

// J3: the service's own refusals over JSON name the field and never repeat the value.
TEST_F(JsonApiTest, J3_RefusalsNameTheFieldNotTheValue) {
  auto a = Post("SubscriptionService", "CheckEligibility",
                R"({"recipient": {"subject_id": "+994501234567"}, "channel": "SMS",
                    "topic": "product_news"})",
                HeralddProcess::kCrmKey);
  EXPECT_EQ(a.status, 400) << a.body;
  EXPECT_THAT(a.body, Not(HasSubstr("994501234567")));
  EXPECT_EQ(a.Json()["details"][0]["field_violations"][0]["field"], "recipient.subject_id");
  auto wrong_type = Post("SubscriptionService", "OptOut",
                         R"({"address": "+994501234567", "scope": 3})", HeralddProcess::kCrmKey);
  EXPECT_EQ(wrong_type.status, 400);
  EXPECT_THAT(wrong_type.Json()["message"].get<std::string>(),
              HasSubstr("scope: expected the name of a value"));
  EXPECT_THAT(wrong_type.body, Not(HasSubstr("994501234567")));
  // Neither reached the logs with its value either.
  EXPECT_THAT(server_->Log(), Not(HasSubstr("994501234567")));
}

// J5: two identical POSTs with one Idempotency-Key answer the same body and record one event;
// the same key with another request is 409.
TEST_F(JsonApiTest, J5_IdenticalPostsReplayOneAnswerAndOneEvent) {
  std::string subject = NewSubject("replay@example.com");
  std::string before = EventCount(subject);
  const std::string body =
      Json{{"subject_id", subject}, {"scope", "ALL_MARKETING"}, {"proof", {{"source", "CRM"}}}}
          .dump();
  std::map<std::string, std::string> key = {{"Idempotency-Key", "crm-process-991"}};
  auto first = Post("SubscriptionService", "OptOut", body, HeralddProcess::kCrmKey, key);
  auto second = Post("SubscriptionService", "OptOut", body, HeralddProcess::kCrmKey, key);
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(second.status, 200);
  EXPECT_EQ(second.body, first.body);
  EXPECT_EQ(first.Json()["changed"], true);
  EXPECT_EQ(std::stoi(EventCount(subject)), std::stoi(before) + 1);
  auto other = Post("SubscriptionService", "OptOut",
                    Json{{"subject_id", subject},
                         {"scope", "CHANNEL"},
                         {"channel", "SMS"},
                         {"proof", {{"source", "CRM"}}}}
                        .dump(),
                    HeralddProcess::kCrmKey, key);
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_EQ(other.Json()["status"], "ALREADY_EXISTS");
  EXPECT_EQ(std::stoi(EventCount(subject)), std::stoi(before) + 1);
}

// J5: the statuses a caller meets from the real services.
TEST_F(JsonApiTest, J5_ErrorsOfTheServicesMapToHttpStatuses) {
  std::string subject = NewSubject("errors@example.com");
  auto none = Post("SubscriptionService", "GetSubject", Json{{"subject_id", subject}}.dump(), "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.Header("WWW-Authenticate"), "Bearer realm=\"herald\", Basic realm=\"herald\"");
  auto wrong = Post("SubscriptionService", "GetSubject", Json{{"subject_id", subject}}.dump(),
                    "not-a-key-0123456789");
  EXPECT_EQ(wrong.status, 401);
  auto scope = Post("SubscriptionService", "GetSubject", Json{{"subject_id", subject}}.dump(),
                    HeralddProcess::kSchedulerKey);
  EXPECT_EQ(scope.status, 403);
  EXPECT_EQ(scope.Json()["status"], "PERMISSION_DENIED");
  auto missing =
      Post("SubscriptionService", "GetSubject",
           R"({"subject_id": "5b0c1f0e-8a4e-4c53-9a52-2f0e4f7f6a10"})", HeralddProcess::kCrmKey);
  EXPECT_EQ(missing.status, 404);
  auto block = Post("PrivacyService", "BlockSubject",
                    Json{{"subject_id", subject}, {"reason", "disputed"}}.dump(),
                    HeralddProcess::kPrivacyKey);
  ASSERT_EQ(block.status, 200) << block.body;
  auto blocked = Post("SubscriptionService", "GetSubject", Json{{"subject_id", subject}}.dump(),
                      HeralddProcess::kCrmKey);
  EXPECT_EQ(blocked.status, 400);
  EXPECT_EQ(blocked.Json()["status"], "FAILED_PRECONDITION");
  // The request id the caller gave is the one the server logged the call under.
  auto traced = Post("SubscriptionService", "ListTopics", "{}", HeralddProcess::kCrmKey,
                     {{"X-Request-Id", "creatio-trace-7"}});
  EXPECT_EQ(traced.Header("X-Request-Id"), "creatio-trace-7");
  EXPECT_TRUE(server_->WaitForLogLine({"\"request_id\":\"creatio-trace-7\"", "ListTopics"},
                                      std::chrono::seconds(10)));
}

// J6: a consented contact refused because of its CRM duplicate says so.
TEST_F(JsonApiTest, J6_TheGateNamesTheDuplicateThatDecided) {
  auto subject =
      Post("SubscriptionService", "UpsertSubject",
           R"({"external_id": "c-1", "emails": ["shared@example.com"]})", HeralddProcess::kCrmKey)
          .Json()["subject"]["id"]
          .get<std::string>();
  auto duplicate =
      Post("SubscriptionService", "UpsertSubject",
           R"({"external_id": "c-2", "emails": ["shared@example.com"]})", HeralddProcess::kCrmKey)
          .Json()["subject"]["id"]
          .get<std::string>();
  for (const auto& [kind, channel] : std::vector<std::pair<std::string, std::string>>{
           {"PROCESSING", "CHANNEL_UNSPECIFIED"}, {"MARKETING", "EMAIL"}}) {
    auto c = Post("SubscriptionService", "RecordConsent",
                  Json{{"subject_id", subject},
                       {"kind", kind},
                       {"channel", channel},
                       {"granted", true},
                       {"proof", {{"source", "WEB_FORM"}, {"document_version", "v1"}}}}
                      .dump(),
                  HeralddProcess::kCrmKey);
    ASSERT_EQ(c.status, 200) << c.body;
  }
  auto check = Post(
      "SubscriptionService", "CheckEligibility",
      Json{
          {"recipient", {{"subject_id", subject}}}, {"channel", "EMAIL"}, {"topic", "product_news"}}
          .dump(),
      HeralddProcess::kCrmKey);
  ASSERT_EQ(check.status, 200) << check.body;
  Json d = check.Json()["decision"];
  EXPECT_EQ(d["allowed"], false);
  EXPECT_EQ(d["reason"], "NO_CONSENT");
  EXPECT_EQ(d["decided_by"], "OTHER_SUBJECT");
  EXPECT_EQ(d["deciding_subject_id"], duplicate);
  EXPECT_THAT(d["explanation"].get<std::string>(), HasSubstr("another subject"));
  EXPECT_THAT(d["explanation"].get<std::string>(), Not(HasSubstr("shared@example.com")));
  // The duplicate's own answer names the duplicate itself.
  auto own = Post("SubscriptionService", "CheckEligibility",
                  Json{{"recipient", {{"subject_id", duplicate}}},
                       {"channel", "EMAIL"},
                       {"topic", "product_news"}}
                      .dump(),
                  HeralddProcess::kCrmKey);
  EXPECT_EQ(own.Json()["decision"]["decided_by"], "SUBJECT");
  EXPECT_EQ(own.Json()["decision"]["deciding_subject_id"], duplicate);
  // Asked by the bare address, every owner is a subject asked about.
  auto bare = Post("SubscriptionService", "CheckEligibility",
                   R"({"recipient": {"address": "shared@example.com"}, "channel": "EMAIL",
                       "topic": "product_news"})",
                   HeralddProcess::kCrmKey);
  EXPECT_EQ(bare.Json()["decision"]["decided_by"], "SUBJECT");
  EXPECT_EQ(bare.Json()["decision"]["deciding_subject_id"], duplicate);
  // An address nobody owns: the address decides.
  auto nobody = Post("SubscriptionService", "CheckEligibility",
                     R"({"recipient": {"address": "nobody@example.org"}, "channel": "EMAIL",
                         "topic": "product_news"})",
                     HeralddProcess::kCrmKey);
  EXPECT_EQ(nobody.Json()["decision"]["decided_by"], "ADDRESS");
  EXPECT_EQ(nobody.Json()["decision"]["deciding_subject_id"], "");
}

// CALL-2, CALL-10: RecordCallOutcome over HTTP (POST /v1/SubscriptionService/RecordCallOutcome)
// with the crm key: "do not call" makes the gate refuse calls to the number; the scheduler key
// may not record calls. CALL-9: neither the answer nor the log repeats a number.
TEST_F(JsonApiTest, CALL2_ACallOutcomeOverHttpSuppressesTheNumberForCalls) {
  auto upsert =
      Post("SubscriptionService", "UpsertSubject",
           R"({"external_id": "call-json", "phones": ["+994501112233"]})", HeralddProcess::kCrmKey);
  ASSERT_EQ(upsert.status, 200) << upsert.body;
  std::string subject = upsert.Json()["subject"]["id"].get<std::string>();
  const Json call = {{"subject_id", subject},
                     {"phone", "+994 50 111 22 33"},
                     {"outcome", "DO_NOT_CALL"},
                     {"agent", "agent-12"}};
  auto denied =
      Post("SubscriptionService", "RecordCallOutcome", call.dump(), HeralddProcess::kSchedulerKey);
  EXPECT_EQ(denied.status, 403) << denied.body;
  auto recorded =
      Post("SubscriptionService", "RecordCallOutcome", call.dump(), HeralddProcess::kCrmKey);
  ASSERT_EQ(recorded.status, 200) << recorded.body;
  EXPECT_EQ(recorded.Json()["changed"], true);
  EXPECT_EQ(recorded.Json()["suppression_added"], true);
  auto check = Post("SubscriptionService", "CheckEligibility",
                    Json{{"recipient", {{"subject_id", subject}, {"address", "+994501112233"}}},
                         {"channel", "CALL"},
                         {"topic", "product_news"}}
                        .dump(),
                    HeralddProcess::kCrmKey);
  ASSERT_EQ(check.status, 200) << check.body;
  EXPECT_EQ(check.Json()["decision"]["reason"], "ADDRESS_SUPPRESSED");
  // A number the subject does not have: 400 FAILED_PRECONDITION, the number not repeated.
  Json other = call;
  other["phone"] = "+994507778899";
  auto refused =
      Post("SubscriptionService", "RecordCallOutcome", other.dump(), HeralddProcess::kCrmKey);
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.Json()["status"], "FAILED_PRECONDITION");
  EXPECT_THAT(refused.body, Not(HasSubstr("7778899")));
  EXPECT_THAT(server_->Log(), Not(HasSubstr("7778899")));
  EXPECT_THAT(server_->Log(), Not(HasSubstr("1112233")));
}

// J7: an NDJSON upload adds its rows through the same stream gRPC callers use; a bad line
// adds nothing, checked in the database.
TEST_F(JsonApiTest, J7_NdjsonUploadAddsEveryRowOrNone) {
  auto created = Post("DispatchService", "CreateCampaign",
                      R"({"idempotency_key": "j7", "name": "upload", "topic": "product_news",
                          "channel": "EMAIL", "content": {"subject": "s", "text": "t"}})",
                      HeralddProcess::kSchedulerKey);
  ASSERT_EQ(created.status, 200) << created.body;
  std::string campaign = created.Json()["campaign"]["id"].get<std::string>();
  auto rows = [&] {
    return db_->Scalar("SELECT count(*) FROM messages WHERE campaign_id = '" + campaign + "'");
  };
  std::string bad =
      Json{{"campaign_id", campaign}, {"rows", {{{"address", "a@example.com"}}}}}.dump() + "\n" +
      R"({"rows": [{"address": "b@example.com", "varables": {}}]})" + "\n";
  auto refused = PostJson(server_->json_port(), "/v1/DispatchService/AddRecipients", bad,
                          HeralddProcess::kSchedulerKey, {}, "application/x-ndjson");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(refused.Json()["message"], "line 2: rows[0].varables: unknown field");
  EXPECT_EQ(rows(), "0");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM campaign_uploads"), "0");
  std::string upload =
      Json{{"campaign_id", campaign}, {"rows", {{{"address", "a@example.com"}}}}}.dump() + "\n";
  for (int line = 0; line < 20; ++line) {
    Json r = Json::array();
    for (int i = 0; i < 50; ++i) {
      r.push_back({{"address", "r" + std::to_string(line * 50 + i) + "@example.com"}});
    }
    upload += Json{{"rows", r}}.dump() + "\n";
  }
  auto added = PostJson(server_->json_port(), "/v1/DispatchService/AddRecipients", upload,
                        HeralddProcess::kSchedulerKey, {}, "application/x-ndjson");
  ASSERT_EQ(added.status, 200) << added.body;
  EXPECT_EQ(added.Json()["received"], "1001");
  // The rows are resolved in the background; the upload's report says when, over JSON too.
  const Json ask = {{"campaign_id", campaign}, {"upload_id", added.Json()["upload_id"]}};
  Json report;
  EXPECT_TRUE(testing::Eventually(
      [&] {
        auto got = Post("DispatchService", "GetRecipientUpload", ask.dump(),
                        HeralddProcess::kSchedulerKey);
        if (got.status != 200) return false;
        report = got.Json();
        return report["state"] == "UPLOAD_RESOLVED";
      },
      std::chrono::seconds(30)))
      << report.dump();
  EXPECT_EQ(report["added"], "1001");
  EXPECT_EQ(rows(), "1001");
}

}  // namespace
}  // namespace herald
