// The gRPC edge of a running heraldd, as an attacker on the network meets it: every RPC of
// every service x every scope against the access table (generated from the descriptors),
// a blocked subject's personal data through the RPCs that could carry it, reflection
// behind the key, hostile numbers and times, and requests that are not valid protobuf.
#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "common/grpc/rpc_access.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/json_client.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
namespace refl = grpc::reflection::v1alpha;

struct RawResult {
  grpc::Status status;
  std::vector<std::string> responses;
};

// Any method by its path, with raw request bytes: one generic bidirectional call carries
// unary, client-streaming, server-streaming and bidirectional methods alike on the wire.
RawResult CallRaw(grpc::Channel* channel, const std::string& path, const std::string& key,
                  const std::vector<std::string>& requests,
                  std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
  grpc::ClientContext ctx;
  if (!key.empty()) testing::Authorize(ctx, key);
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  grpc::internal::RpcMethod method(path.c_str(), grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          channel, method, &ctx));
  for (const auto& r : requests) {
    grpc::Slice slice(r);
    grpc::ByteBuffer buffer(&slice, 1);
    if (!stream->Write(buffer)) break;
  }
  stream->WritesDone();
  RawResult out;
  grpc::ByteBuffer got;
  while (stream->Read(&got)) {
    std::vector<grpc::Slice> slices;
    (void)got.Dump(&slices);
    std::string bytes;
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    out.responses.push_back(bytes);
  }
  out.status = stream->Finish();
  return out;
}

std::vector<const google::protobuf::MethodDescriptor*> ServedMethods() {
  std::vector<const google::protobuf::MethodDescriptor*> out;
  for (const auto* file :
       {v1::UpsertSubjectRequest::descriptor()->file(), v1::SendRequest::descriptor()->file(),
        v1::BlockSubjectRequest::descriptor()->file(),
        refl::ServerReflectionRequest::descriptor()->file(),
        grpc::health::v1::HealthCheckRequest::descriptor()->file()}) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        out.push_back(file->service(s)->method(m));
      }
    }
  }
  return out;
}

class EdgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
  }
  void StartServer(const std::vector<std::string>& env = {}) {
    server_ = std::make_unique<HeralddProcess>(db_->dsn());
    for (auto& e : env) server_->AddEnv(e);
    server_->Start();
    channel_ = server_->Channel();
    subs_ = v1::SubscriptionService::NewStub(channel_);
    dispatch_ = v1::DispatchService::NewStub(channel_);
    privacy_ = v1::PrivacyService::NewStub(channel_);
  }

  template <typename Fn>
  grpc::Status As(const std::string& key, Fn fn) {
    grpc::ClientContext ctx;
    if (!key.empty()) testing::Authorize(ctx, key);
    return fn(&ctx);
  }

  std::string Subject(const std::string& external_id, const std::string& email) {
    v1::UpsertSubjectRequest r;
    r.set_external_id(external_id);
    r.set_surname("Sokolova");
    r.set_given_name("Anna");
    r.add_emails(email);
    v1::UpsertSubjectResponse resp;
    EXPECT_TRUE(As(HeralddProcess::kCrmKey, [&](auto* c) {
                  return subs_->UpsertSubject(c, r, &resp);
                }).ok());
    return resp.subject().id();
  }

  // Polls the log (a deadline, never a fixed sleep) for a line holding every part.
  bool LogEventually(const std::vector<std::string>& parts) {
    return server_->WaitForLogLine(parts, std::chrono::seconds(10));
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::DispatchService::Stub> dispatch_;
  std::unique_ptr<v1::PrivacyService::Stub> privacy_;
};

// SEC-6: every RPC x every scope (and no key) answers as the access table says. The RPC list
// comes from the descriptors, so a new RPC without a row fails here and in the unit test.
TEST_F(EdgeTest, EveryRpcTimesEveryScopeFollowsTheAccessTable) {
  StartServer();
  struct Key {
    std::string name, key;
    std::set<Scope> scopes;
  };
  std::vector<Key> keys = {{"no key", "", {}},
                           {"crm", HeralddProcess::kCrmKey, {Scope::kCrm}},
                           {"scheduler", HeralddProcess::kSchedulerKey, {Scope::kScheduler}},
                           {"privacy", HeralddProcess::kPrivacyKey, {Scope::kPrivacy}},
                           {"admin", HeralddProcess::kAdminKey, {Scope::kAdmin}}};
  int allowed = 0, denied = 0;
  for (const auto* m : ServedMethods()) {
    std::string full = m->service()->full_name() + "/" + m->name();
    const RpcRule* rule = FindRpcRule(full);
    ASSERT_NE(rule, nullptr) << full << " has no row in the access table";
    for (const auto& k : keys) {
      SCOPED_TRACE(full + " as " + k.name);
      // An empty request: the key check comes first; what follows is the handler's.
      auto deadline = m->server_streaming() && !m->client_streaming()
                          ? std::chrono::milliseconds(500)  // Health.Watch never ends
                          : std::chrono::milliseconds(10000);
      auto r = CallRaw(channel_.get(), "/" + full, k.key, {""}, deadline);
      auto code = r.status.error_code();
      if (rule->open) {
        EXPECT_NE(code, grpc::UNAUTHENTICATED);
        EXPECT_NE(code, grpc::PERMISSION_DENIED);
      } else if (k.key.empty()) {
        EXPECT_EQ(code, grpc::UNAUTHENTICATED) << r.status.error_message();
        ++denied;
      } else if (RuleAllows(*rule, k.scopes)) {
        EXPECT_NE(code, grpc::UNAUTHENTICATED);
        EXPECT_NE(code, grpc::PERMISSION_DENIED) << r.status.error_message();
        EXPECT_NE(code, grpc::UNIMPLEMENTED);
        EXPECT_NE(code, grpc::INTERNAL) << r.status.error_message();
        ++allowed;
      } else {
        EXPECT_EQ(code, grpc::PERMISSION_DENIED) << r.status.error_message();
        ++denied;
      }
    }
  }
  // Both halves were exercised (an "allow nothing" or "allow everything" edge fails).
  EXPECT_GT(allowed, 40);
  EXPECT_GT(denied, 60);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM subjects"), "0");
}

// SEC-6 and J1: the same table over the JSON API. The JSON listener calls the gRPC server in
// process, so the answers must agree method for method: no key 401 (with its challenge),
// a scope outside the row 403, a scope in it neither; Basic with the key as password is the
// same key. Health and reflection are gRPC only: 404 over JSON.
TEST_F(EdgeTest, EveryRpcTimesEveryScopeFollowsTheAccessTableOverJson) {
  StartServer();
  ASSERT_GT(server_->json_port(), 0);
  struct Key {
    std::string name, authorization;
    std::set<Scope> scopes;
  };
  auto bearer = [](const std::string& key) { return "Bearer " + key; };
  auto basic = [](const std::string& key) {
    std::string plain = "creatio:" + key;
    std::string out(4 * ((plain.size() + 2) / 3) + 1, '\0');
    out.resize(static_cast<size_t>(EVP_EncodeBlock(
        reinterpret_cast<unsigned char*>(out.data()),
        reinterpret_cast<const unsigned char*>(plain.data()), static_cast<int>(plain.size()))));
    return "Basic " + out;
  };
  std::vector<Key> keys = {
      {"no key", "", {}},
      {"crm", bearer(HeralddProcess::kCrmKey), {Scope::kCrm}},
      {"crm (Basic)", basic(HeralddProcess::kCrmKey), {Scope::kCrm}},
      {"scheduler", bearer(HeralddProcess::kSchedulerKey), {Scope::kScheduler}},
      {"privacy", bearer(HeralddProcess::kPrivacyKey), {Scope::kPrivacy}},
      {"privacy (Basic)", basic(HeralddProcess::kPrivacyKey), {Scope::kPrivacy}},
      {"admin", bearer(HeralddProcess::kAdminKey), {Scope::kAdmin}}};
  int allowed = 0, denied = 0, not_served = 0;
  for (const auto* m : ServedMethods()) {
    std::string full = m->service()->full_name() + "/" + m->name();
    const RpcRule* rule = FindRpcRule(full);
    ASSERT_NE(rule, nullptr) << full;
    std::string path = "/v1/" + m->service()->name() + "/" + m->name();
    bool herald = m->service()->full_name().rfind("herald.v1.", 0) == 0;
    for (const auto& k : keys) {
      SCOPED_TRACE(full + " as " + k.name);
      std::map<std::string, std::string> headers;
      if (!k.authorization.empty()) headers["Authorization"] = k.authorization;
      auto a = testing::PostJson(server_->json_port(), path, "{}", "", headers);
      if (!herald) {
        EXPECT_EQ(a.status, 404);
        ++not_served;
      } else if (k.authorization.empty()) {
        EXPECT_EQ(a.status, 401) << a.body;
        EXPECT_EQ(a.Header("WWW-Authenticate"), "Bearer realm=\"herald\", Basic realm=\"herald\"");
        ++denied;
      } else if (RuleAllows(*rule, k.scopes)) {
        EXPECT_NE(a.status, 401) << a.body;
        EXPECT_NE(a.status, 403) << a.body;
        EXPECT_LT(a.status, 500) << a.body;
        ++allowed;
      } else {
        EXPECT_EQ(a.status, 403) << a.body;
        EXPECT_EQ(a.Json()["status"], "PERMISSION_DENIED");
        ++denied;
      }
    }
  }
  EXPECT_GT(allowed, 50);
  EXPECT_GT(denied, 80);
  EXPECT_GT(not_served, 0);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM subjects"), "0");
}

// SEC-6: a blocked subject's names and address do not come back through PreviewMessage,
// CheckEligibility or UpsertSubject; the scheduler scope never reads an address or a name.
// Positive controls: the same calls for an unblocked subject, and the privacy scope's right
// of access to the blocked one.
TEST_F(EdgeTest, BlockedSubjectsPersonalDataDoesNotLeakThroughOtherRpcs) {
  StartServer();
  std::string blocked = Subject("crm-blocked", "blocked@example.com");
  std::string open = Subject("crm-open", "open@example.com");
  // A message to each before the block (refused for want of consent, but on record with
  // its address).
  auto send = [&](const std::string& id, const std::string& key) {
    v1::SendRequest r;
    r.set_idempotency_key(key);
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(v1::EMAIL);
    r.set_topic("webinars");
    r.mutable_content()->set_subject("Invitation");
    r.mutable_content()->set_text("Hello");
    v1::SendResponse resp;
    EXPECT_TRUE(
        As(HeralddProcess::kCrmKey, [&](auto* c) { return dispatch_->Send(c, r, &resp); }).ok());
    return resp.message_id();
  };
  const std::string blocked_message = send(blocked, "edge-send-blocked");
  const std::string open_message = send(open, "edge-send-open");
  {
    v1::BlockSubjectRequest b;
    b.set_subject_id(blocked);
    b.set_reason("data reported inaccurate");
    v1::BlockSubjectResponse resp;
    ASSERT_TRUE(As(HeralddProcess::kPrivacyKey, [&](auto* c) {
                  return privacy_->BlockSubject(c, b, &resp);
                }).ok());
  }
  auto preview = [&](const std::string& key, const std::string& id,
                     v1::PreviewMessageResponse* resp) {
    v1::PreviewMessageRequest r;
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(v1::EMAIL);
    r.set_topic("webinars");
    r.mutable_content()->set_subject("Invitation");
    r.mutable_content()->set_text("Dear {{given_name}} {{surname}}");
    return As(key, [&](auto* c) { return dispatch_->PreviewMessage(c, r, resp); });
  };
  auto check = [&](const std::string& key, const std::string& id, const std::string& address,
                   v1::CheckEligibilityResponse* resp) {
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(id);
    r.mutable_recipient()->set_address(address);
    r.set_channel(v1::EMAIL);
    r.set_topic("webinars");
    return As(key, [&](auto* c) { return subs_->CheckEligibility(c, r, resp); });
  };

  // PreviewMessage.
  v1::PreviewMessageResponse p;
  auto status = preview(HeralddProcess::kCrmKey, blocked, &p);
  EXPECT_EQ(status.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("blocked"));
  EXPECT_EQ(preview(HeralddProcess::kSchedulerKey, blocked, &p).error_code(),
            grpc::FAILED_PRECONDITION);
  p.Clear();
  ASSERT_TRUE(preview(HeralddProcess::kCrmKey, open, &p).ok());  // positive control
  EXPECT_EQ(p.rendered().text(), "Dear Anna Sokolova");
  p.Clear();
  ASSERT_TRUE(preview(HeralddProcess::kAdminKey, blocked, &p).ok());  // right of access
  EXPECT_EQ(p.rendered().text(), "Dear Anna Sokolova");
  p.Clear();
  ASSERT_TRUE(preview(HeralddProcess::kSchedulerKey, open, &p).ok());
  EXPECT_FALSE(p.has_rendered()) << "the scheduler scope may not read names";
  EXPECT_EQ(p.decision().address(), "");

  // CheckEligibility.
  v1::CheckEligibilityResponse c;
  ASSERT_TRUE(check(HeralddProcess::kCrmKey, blocked, "blocked@example.com", &c).ok());
  EXPECT_EQ(c.decision().reason(), v1::SUBJECT_BLOCKED);
  EXPECT_EQ(c.decision().address(), "");
  c.Clear();
  ASSERT_TRUE(check(HeralddProcess::kCrmKey, open, "open@example.com", &c).ok());
  EXPECT_EQ(c.decision().address(), "open@example.com");  // positive control
  c.Clear();
  ASSERT_TRUE(check(HeralddProcess::kSchedulerKey, open, "open@example.com", &c).ok());
  EXPECT_EQ(c.decision().address(), "") << "the scheduler scope may not read addresses";
  EXPECT_NE(c.decision().reason(), v1::DENY_REASON_UNSPECIFIED);  // the decision still comes

  // UpsertSubject answering with the stored subject.
  v1::UpsertSubjectRequest u;
  u.set_external_id("crm-blocked");
  v1::UpsertSubjectResponse ur;
  ASSERT_TRUE(As(HeralddProcess::kCrmKey, [&](auto* ctx) {
                return subs_->UpsertSubject(ctx, u, &ur);
              }).ok());
  EXPECT_TRUE(ur.subject().blocked());
  EXPECT_EQ(ur.subject().surname(), "");
  EXPECT_EQ(ur.subject().emails_size(), 0);
  u.set_external_id("crm-open");
  ASSERT_TRUE(As(HeralddProcess::kCrmKey, [&](auto* ctx) {
                return subs_->UpsertSubject(ctx, u, &ur);
              }).ok());
  EXPECT_EQ(ur.subject().surname(), "Sokolova");  // positive control

  // GetSubject stays refused for crm and scheduler, answered for privacy.
  v1::GetSubjectRequest g;
  g.set_subject_id(blocked);
  v1::GetSubjectResponse gr;
  EXPECT_EQ(As(HeralddProcess::kCrmKey, [&](auto* ctx) { return subs_->GetSubject(ctx, g, &gr); })
                .error_code(),
            grpc::FAILED_PRECONDITION);
  EXPECT_EQ(
      As(HeralddProcess::kSchedulerKey, [&](auto* ctx) { return subs_->GetSubject(ctx, g, &gr); })
          .error_code(),
      grpc::PERMISSION_DENIED);
  ASSERT_TRUE(As(HeralddProcess::kPrivacyKey, [&](auto* ctx) {
                return subs_->GetSubject(ctx, g, &gr);
              }).ok());
  EXPECT_EQ(gr.subject().surname(), "Sokolova");

  // Messages sent before the block: a read of that subject is refused, a campaign-style list
  // clears the address; the privacy scope and the other subject's message are untouched.
  auto get_message = [&](const std::string& key, const std::string& id, v1::Message* m) {
    v1::GetMessageRequest r;
    r.set_message_id(id);
    return As(key, [&](auto* c) { return dispatch_->GetMessage(c, r, m); });
  };
  v1::Message m;
  for (const char* key : {HeralddProcess::kCrmKey, HeralddProcess::kSchedulerKey}) {
    auto st = get_message(key, blocked_message, &m);
    EXPECT_EQ(st.error_code(), grpc::FAILED_PRECONDITION) << key;
    EXPECT_THAT(st.error_message(), HasSubstr("blocked"));
  }
  m.Clear();
  ASSERT_TRUE(get_message(HeralddProcess::kAdminKey, blocked_message, &m).ok());
  EXPECT_EQ(m.address(), "blocked@example.com");  // admin holds the privacy scope: right of access
  m.Clear();
  ASSERT_TRUE(get_message(HeralddProcess::kCrmKey, open_message, &m).ok());
  EXPECT_EQ(m.address(), "open@example.com");  // positive control
  v1::ListMessagesRequest lr;
  lr.set_subject_id(blocked);
  v1::ListMessagesResponse lresp;
  EXPECT_EQ(
      As(HeralddProcess::kCrmKey, [&](auto* c) { return dispatch_->ListMessages(c, lr, &lresp); })
          .error_code(),
      grpc::FAILED_PRECONDITION);
  lr.set_subject_id(open);
  ASSERT_TRUE(As(HeralddProcess::kCrmKey, [&](auto* c) {
                return dispatch_->ListMessages(c, lr, &lresp);
              }).ok());
  ASSERT_EQ(lresp.messages_size(), 1);
  EXPECT_EQ(lresp.messages(0).address(), "open@example.com");
}

refl::ServerReflectionResponse Reflect(grpc::Channel* channel, const std::string& key,
                                       const refl::ServerReflectionRequest& r,
                                       grpc::Status* status) {
  auto res = CallRaw(channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", key,
                     {r.SerializeAsString()});
  *status = res.status;
  refl::ServerReflectionResponse resp;
  if (!res.responses.empty()) resp.ParseFromString(res.responses[0]);
  return resp;
}

// SEC-7: reflection needs a key, any valid key; a real client (the generated stub) lists the
// services and fetches a file by symbol.
TEST_F(EdgeTest, ReflectionNeedsAnyValidKey) {
  StartServer();
  refl::ServerReflectionRequest list;
  list.set_list_services("*");
  grpc::Status status;
  Reflect(channel_.get(), "", list, &status);
  EXPECT_EQ(status.error_code(), grpc::UNAUTHENTICATED);
  Reflect(channel_.get(), "not-a-key", list, &status);
  EXPECT_EQ(status.error_code(), grpc::UNAUTHENTICATED);

  auto stub = refl::ServerReflection::NewStub(channel_);
  for (const char* key : {HeralddProcess::kCrmKey, HeralddProcess::kSchedulerKey,
                          HeralddProcess::kPrivacyKey, HeralddProcess::kAdminKey}) {
    SCOPED_TRACE(key);
    grpc::ClientContext ctx;
    testing::Authorize(ctx, key);
    auto stream = stub->ServerReflectionInfo(&ctx);
    ASSERT_TRUE(stream->Write(list));
    refl::ServerReflectionResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    std::set<std::string> names;
    for (const auto& s : resp.list_services_response().service()) names.insert(s.name());
    EXPECT_TRUE(names.count("herald.v1.DispatchService"));
    EXPECT_TRUE(names.count("herald.v1.SubscriptionService"));
    EXPECT_TRUE(names.count("herald.v1.PrivacyService"));
    EXPECT_TRUE(names.count("grpc.reflection.v1alpha.ServerReflection"));

    refl::ServerReflectionRequest sym;
    sym.set_file_containing_symbol("herald.v1.SubscriptionService.CheckEligibility");
    ASSERT_TRUE(stream->Write(sym));
    ASSERT_TRUE(stream->Read(&resp));
    ASSERT_GE(resp.file_descriptor_response().file_descriptor_proto_size(), 1);
    google::protobuf::FileDescriptorProto fd;
    ASSERT_TRUE(fd.ParseFromString(resp.file_descriptor_response().file_descriptor_proto(0)));
    EXPECT_EQ(fd.name(), "herald/v1/subscriptions.proto");
    ASSERT_GE(fd.service_size(), 1);
    EXPECT_EQ(fd.service(0).name(), "SubscriptionService");
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
}

TEST_F(EdgeTest, ReflectionCanBeTurnedOff) {  // SEC-7
  StartServer({"HERALD_GRPC_REFLECTION=false"});
  refl::ServerReflectionRequest list;
  list.set_list_services("*");
  grpc::Status status;
  Reflect(channel_.get(), HeralddProcess::kAdminKey, list, &status);
  EXPECT_EQ(status.error_code(), grpc::UNIMPLEMENTED);
  // Positive control: the API itself still answers.
  v1::ListTopicsResponse topics;
  EXPECT_TRUE(As(HeralddProcess::kCrmKey, [&](auto* c) {
                return subs_->ListTopics(c, v1::ListTopicsRequest(), &topics);
              }).ok());
}

// SEC-10, SEC-11: hostile numbers and times are refused at the edge, naming the field, and
// write nothing; sane ones go through.
TEST_F(EdgeTest, NonFiniteNumbersAndOutOfRangeTimesAreRefusedByName) {
  StartServer();
  int attempt = 0;
  auto campaign = [&](double rate, std::optional<int64_t> start_seconds) {
    v1::CreateCampaignRequest r;
    r.set_idempotency_key("spring-" + std::to_string(++attempt));
    r.set_name("spring");
    r.set_topic("webinars");
    r.set_channel(v1::EMAIL);
    r.mutable_content()->set_subject("Spring");
    r.mutable_content()->set_text("Hello");
    r.set_rate_per_second(rate);
    if (start_seconds) r.mutable_start_time()->set_seconds(*start_seconds);
    v1::CreateCampaignResponse resp;
    return As(HeralddProcess::kCrmKey,
              [&](auto* c) { return dispatch_->CreateCampaign(c, r, &resp); });
  };
  for (double rate : {std::nan(""), std::numeric_limits<double>::infinity(),
                      -std::numeric_limits<double>::infinity(), -1.0, 1e300}) {
    SCOPED_TRACE(rate);
    auto s = campaign(rate, std::nullopt);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("rate_per_second"));
  }
  for (int64_t seconds : {std::numeric_limits<int64_t>::max(), std::numeric_limits<int64_t>::min(),
                          int64_t{253402300800}}) {
    SCOPED_TRACE(seconds);
    auto s = campaign(10, seconds);
    EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("start_time"));
  }
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM campaigns"), "0");
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  EXPECT_TRUE(campaign(10, now + 3600).ok());  // positive control
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM campaigns"), "1");

  std::string id = Subject("crm-times", "times@example.com");
  v1::OpenPrivacyRequestRequest open;
  open.set_kind(v1::ACCESS);
  open.set_subject_id(id);
  open.mutable_received_time()->set_seconds(std::numeric_limits<int64_t>::max());
  v1::OpenPrivacyRequestResponse opened;
  auto s = As(HeralddProcess::kPrivacyKey,
              [&](auto* c) { return privacy_->OpenPrivacyRequest(c, open, &opened); });
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("received_time"));
  open.mutable_received_time()->set_seconds(now - 60);
  EXPECT_TRUE(As(HeralddProcess::kPrivacyKey, [&](auto* c) {
                return privacy_->OpenPrivacyRequest(c, open, &opened);
              }).ok());

  v1::RevokeConsentRequest revoke;
  revoke.set_subject_id(id);
  revoke.mutable_proof()->set_source(v1::OPERATOR);
  revoke.mutable_proof()->mutable_occurred_at()->set_seconds(std::numeric_limits<int64_t>::min());
  v1::RevokeConsentResponse revoked;
  s = As(HeralddProcess::kPrivacyKey,
         [&](auto* c) { return privacy_->RevokeConsent(c, revoke, &revoked); });
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("proof.occurred_at"));
  EXPECT_EQ(db_->Scalar("SELECT revoked::text FROM subjects WHERE id = '" + id + "'"), "false");
  revoke.mutable_proof()->mutable_occurred_at()->set_seconds(now - 60);
  EXPECT_TRUE(As(HeralddProcess::kPrivacyKey, [&](auto* c) {
                return privacy_->RevokeConsent(c, revoke, &revoked);
              }).ok());
  EXPECT_EQ(db_->Scalar("SELECT revoked::text FROM subjects WHERE id = '" + id + "'"), "true");
}

// SEC-12: a string field that is not UTF-8 answers INVALID_ARGUMENT (not INTERNAL), with
// the usual log line and metric, and protobuf's complaint in the JSON log, not raw stderr.
TEST_F(EdgeTest, InvalidUtf8AnswersInvalidArgumentWithLogLineAndMetric) {
  StartServer();
  // UpsertSubjectRequest{external_id: "utf8", surname: <4 bytes that are not UTF-8>}.
  std::string bad = std::string("\x12\x04utf8", 6) + std::string("\x1a\x04\xff\xfe\xc0\x80", 6);
  for (const char* key : {HeralddProcess::kCrmKey, ""}) {
    auto r = CallRaw(channel_.get(), "/herald.v1.SubscriptionService/UpsertSubject", key, {bad});
    EXPECT_EQ(r.status.error_code(), grpc::INVALID_ARGUMENT) << r.status.error_message();
    EXPECT_THAT(r.status.error_message(), HasSubstr("UTF-8"));
  }
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM subjects"), "0");
  EXPECT_TRUE(LogEventually(
      {"\"msg\":\"rpc\"", "\"method\":\"UpsertSubject\"", "\"status\":\"INVALID_ARGUMENT\""}));
  EXPECT_TRUE(LogEventually({"\"component\":\"protobuf\"", "UTF-8"}));
  EXPECT_THAT(server_->Log(), ::testing::Not(HasSubstr("[libprotobuf")));
  std::string metrics;
  ASSERT_EQ(testing::HttpGet(server_->ops_port(), "/metrics", &metrics), 200);
  EXPECT_THAT(metrics, ::testing::ContainsRegex(
                           "herald_rpc_requests_total\\{code=\"INVALID_ARGUMENT\",method="
                           "\"UpsertSubject\"\\} 2"));

  // Positive control: the same request in valid UTF-8 (Cyrillic) is created.
  std::string good = std::string("\x12\x04utf8", 6) + "\x1a\x0c" + "Петров";
  auto r = CallRaw(channel_.get(), "/herald.v1.SubscriptionService/UpsertSubject",
                   HeralddProcess::kCrmKey, {good});
  EXPECT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM subjects"), "1");
}

}  // namespace
}  // namespace herald
