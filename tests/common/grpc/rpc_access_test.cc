// The RPC access table (rpc_access.h) against the service descriptors: every RPC the server
// offers has exactly one row, every row names a real RPC and real response fields, and the
// redaction it drives clears what a caller may not see and nothing else. SEC-6.
#include "common/grpc/rpc_access.h"

#include <google/protobuf/descriptor.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "herald/v1/crm.grpc.pb.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"

namespace herald {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::MethodDescriptor;

// Every file whose services heraldd serves. Taking a message of each links its descriptor in.
std::vector<const FileDescriptor*> ServedFiles() {
  return {v1::UpsertSubjectRequest::descriptor()->file(),
          v1::SendRequest::descriptor()->file(),
          v1::BlockSubjectRequest::descriptor()->file(),
          v1::ReportContactChangeRequest::descriptor()->file(),
          grpc::reflection::v1alpha::ServerReflectionRequest::descriptor()->file(),
          grpc::health::v1::HealthCheckRequest::descriptor()->file()};
}

std::vector<const MethodDescriptor*> AllMethods() {
  std::vector<const MethodDescriptor*> out;
  for (const auto* file : ServedFiles()) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        out.push_back(file->service(s)->method(m));
      }
    }
  }
  return out;
}

std::string FullName(const MethodDescriptor* m) {
  return m->service()->full_name() + "/" + m->name();
}

TEST(RpcAccessTable, EveryProtoUnderHeraldV1IsInTheDescriptorPool) {
  // A new .proto file under proto/herald/v1 must be served (and so covered below).
  std::set<std::string> served;
  for (const auto* f : ServedFiles()) served.insert(f->name());
  served.insert(v1::Proof::descriptor()->file()->name());  // common.proto: messages only
  int seen = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(HERALD_SOURCE_DIR) + "/proto/herald/v1")) {
    if (entry.path().extension() != ".proto") continue;
    ++seen;
    std::string name = "herald/v1/" + entry.path().filename().string();
    EXPECT_TRUE(served.count(name)) << name << " is not among the files heraldd serves";
  }
  EXPECT_GE(seen, 4);
}

TEST(RpcAccessTable, EveryMethodOfEveryServiceHasARow) {  // SEC-6
  auto methods = AllMethods();
  ASSERT_GE(methods.size(), 38u);
  for (const auto* m : methods) {
    const RpcRule* rule = FindRpcRule(FullName(m));
    ASSERT_NE(rule, nullptr) << FullName(m) << " has no row in the access table";
    // The runner looks rules up by short name: it must find the same row.
    EXPECT_EQ(FindRpcRule(m->name()), rule) << m->name();
    if (!rule->open) {
      EXPECT_FALSE(rule->scopes.empty()) << FullName(m);
    }
  }
  // Positive control: a name that is no RPC has no row (the runner then refuses the call).
  EXPECT_EQ(FindRpcRule("herald.v1.DispatchService/SendEverything"), nullptr);
  EXPECT_EQ(FindRpcRule("SendEverything"), nullptr);
}

TEST(RpcAccessTable, EveryRowNamesAnRpcAndResponseFieldsThatExist) {
  std::map<std::string, const MethodDescriptor*> by_name;
  for (const auto* m : AllMethods()) by_name[FullName(m)] = m;
  std::set<std::string> short_names;
  for (const auto& rule : RpcAccessTable()) {
    SCOPED_TRACE(rule.full_name());
    // gRPC's built-in health service also serves Watch, which the health.proto kept here
    // (client stubs for Check only) does not declare.
    if (rule.full_name() == "grpc.health.v1.Health/Watch") {
      EXPECT_TRUE(rule.open);
      continue;
    }
    ASSERT_TRUE(by_name.count(rule.full_name())) << "a row for an RPC that does not exist";
    EXPECT_TRUE(short_names.insert(rule.method).second) << "short name not unique";
    if (rule.open) {
      EXPECT_TRUE(rule.scopes.empty());
      EXPECT_FALSE(rule.carries_personal_data());  // nothing personal without a key
    }
    for (const auto& path : rule.personal_fields) {
      const auto* type = by_name[rule.full_name()]->output_type();
      const FieldDescriptor* f = nullptr;
      std::string rest = path;
      while (true) {
        auto dot = rest.find('.');
        f = type->FindFieldByName(rest.substr(0, dot));
        ASSERT_NE(f, nullptr) << path;
        if (dot == std::string::npos) break;
        ASSERT_EQ(f->type(), FieldDescriptor::TYPE_MESSAGE) << path;
        type = f->message_type();
        rest = rest.substr(dot + 1);
      }
    }
    if (rule.blocked == BlockedSubject::kRedacted) {
      EXPECT_TRUE(rule.carries_personal_data()) << "redacted but names no personal field";
    }
  }
  EXPECT_EQ(short_names.size(), by_name.size());
}

TEST(RpcAccessTable, ScopesFollowTheDocumentedMatrix) {
  auto allows = [](const char* method, const std::set<Scope>& scopes) {
    return RuleAllows(*FindRpcRule(method), scopes);
  };
  EXPECT_TRUE(allows("UpsertSubject", {Scope::kCrm}));
  EXPECT_FALSE(allows("UpsertSubject", {Scope::kScheduler}));
  EXPECT_FALSE(allows("GetSubject", {Scope::kScheduler}));
  EXPECT_TRUE(allows("GetSubject", {Scope::kPrivacy}));
  EXPECT_TRUE(allows("CheckEligibility", {Scope::kScheduler}));
  EXPECT_FALSE(allows("DestroySubject", {Scope::kCrm}));
  EXPECT_TRUE(allows("DestroySubject", {Scope::kAdmin}));
  EXPECT_TRUE(allows("ServerReflectionInfo", {Scope::kScheduler}));
  EXPECT_TRUE(allows("Check", {}));
  EXPECT_FALSE(allows("ListTopics", {}));
  EXPECT_FALSE(ScopeReadsSubjects(Scope::kScheduler));
  EXPECT_TRUE(ScopeReadsSubjects(Scope::kCrm));
}

TEST(RpcAccessRedaction, ClearsEveryPersonalFieldForACallerThatMayNotReadSubjects) {  // SEC-6
  v1::CheckEligibilityBatchResponse batch;
  batch.add_decisions()->set_address("a@example.com");
  batch.add_decisions()->set_address("b@example.com");
  batch.mutable_decisions(1)->set_reason(v1::NO_CONSENT);
  RedactPersonalFields(*FindRpcRule("CheckEligibilityBatch"), batch, /*all=*/true);
  EXPECT_EQ(batch.decisions(0).address(), "");
  EXPECT_EQ(batch.decisions(1).address(), "");
  EXPECT_EQ(batch.decisions(1).reason(), v1::NO_CONSENT);  // the decision itself stays

  v1::PreviewMessageResponse preview;
  preview.mutable_rendered()->set_text("Hello Ivan");
  preview.mutable_decision()->set_allowed(true);
  preview.mutable_decision()->set_address("ivan@example.com");
  preview.set_sms_segments(1);
  RedactPersonalFields(*FindRpcRule("PreviewMessage"), preview, true);
  EXPECT_FALSE(preview.has_rendered());
  EXPECT_EQ(preview.decision().address(), "");
  EXPECT_TRUE(preview.decision().allowed());
  EXPECT_EQ(preview.sms_segments(), 1);
}

TEST(RpcAccessRedaction, ClearsOnlyTheBlockedSubjectsParts) {  // SEC-6
  v1::CheckEligibilityBatchResponse batch;
  auto* blocked = batch.add_decisions();
  blocked->set_reason(v1::SUBJECT_BLOCKED);
  blocked->set_address("blocked@example.com");
  auto* other = batch.add_decisions();
  other->set_reason(v1::NO_CONSENT);
  other->set_address("other@example.com");
  RedactPersonalFields(*FindRpcRule("CheckEligibilityBatch"), batch, /*all=*/false);
  EXPECT_EQ(batch.decisions(0).address(), "");
  EXPECT_EQ(batch.decisions(1).address(), "other@example.com");  // positive control

  v1::UpsertSubjectResponse upsert;
  upsert.mutable_subject()->set_surname("Petrov");
  upsert.mutable_subject()->add_emails("p@example.com");
  upsert.mutable_subject()->set_id("id-1");
  v1::UpsertSubjectResponse unblocked = upsert;
  upsert.mutable_subject()->set_blocked(true);
  RedactPersonalFields(*FindRpcRule("UpsertSubject"), upsert, false);
  EXPECT_EQ(upsert.subject().surname(), "");
  EXPECT_EQ(upsert.subject().emails_size(), 0);
  EXPECT_EQ(upsert.subject().id(), "id-1");
  RedactPersonalFields(*FindRpcRule("UpsertSubject"), unblocked, false);
  EXPECT_EQ(unblocked.subject().surname(), "Petrov");
}

}  // namespace
}  // namespace herald
