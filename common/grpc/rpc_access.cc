#include "common/grpc/rpc_access.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <map>

namespace herald {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr Scope kCrm = Scope::kCrm;
constexpr Scope kScheduler = Scope::kScheduler;
constexpr Scope kPrivacy = Scope::kPrivacy;
constexpr Scope kAdmin = Scope::kAdmin;
using B = BlockedSubject;

const std::vector<std::string> kSubjectFields = {"subject.surname",    "subject.given_name",
                                                 "subject.patronymic", "subject.locale",
                                                 "subject.emails",     "subject.phones"};
const std::vector<std::string> kSubjectsFields = {"subjects.surname",    "subjects.given_name",
                                                  "subjects.patronymic", "subjects.locale",
                                                  "subjects.emails",     "subjects.phones"};

std::vector<RpcRule> BuildTable() {
  const std::string subs = "herald.v1.SubscriptionService";
  const std::string disp = "herald.v1.DispatchService";
  const std::string priv = "herald.v1.PrivacyService";
  const std::string crm = "herald.v1.CrmService";
  const std::vector<Scope> dispatch_scopes = {kCrm, kScheduler};
  return {
      // SubscriptionService: subjects are read by crm (and privacy); the scheduler only asks
      // the gate and records opt-outs, and never sees an address or a name.
      {subs, "UpsertSubject", {kCrm}, false, kSubjectFields, B::kRedacted},
      {subs, "GetSubject", {kCrm, kPrivacy}, false, kSubjectFields, B::kRefused},
      {subs, "FindSubjects", {kCrm, kPrivacy}, false, kSubjectsFields, B::kRefused},
      {subs,
       "RecordConsent",
       {kCrm},
       false,
       {"consent.proof.ip", "consent.proof.user_agent"},
       B::kAllowed},
      {subs, "SetPreferences", {kCrm}, false, {}, B::kAllowed},
      {subs, "GetPreferences", {kCrm, kScheduler}, false, {}, B::kRefused},
      {subs, "OptOut", {kCrm, kScheduler}, false, {}, B::kAllowed},
      {subs, "CheckEligibility", {kCrm, kScheduler}, false, {"decision.address"}, B::kRedacted},
      {subs,
       "CheckEligibilityBatch",
       {kCrm, kScheduler},
       false,
       {"decisions.address"},
       B::kRedacted},
      {subs, "ListSubjectEvents", {kCrm, kPrivacy}, false, {"events.personal_json"}, B::kRefused},
      {subs, "ListTopics", {kCrm, kScheduler, kPrivacy}, false, {}, B::kNoSubjectData},
      // A merge only ever makes the survivor stricter, so it is served for a blocked subject.
      {subs, "MergeSubjects", {kCrm}, false, {}, B::kAllowed},
      // The CRM's telephony records its agents' calls; the answer holds ids and counts only.
      // Served for a blocked subject: most outcomes protect it, and a call that happened is
      // recorded as it happened.
      {subs, "RecordCallOutcome", {kCrm}, false, {}, B::kAllowed},
      // Re-keying suppressions is an operator's maintenance (heraldctl suppressions); the
      // answer holds key ids and counts only.
      {subs, "RehashSuppressions", {kAdmin}, false, {}, B::kNoSubjectData},
      // DispatchService: both crm and the campaign scheduler send; only crm reads the
      // rendered content and the addresses of messages.
      {disp, "Send", dispatch_scopes, false, {}, B::kDenied},
      {disp,
       "PreviewMessage",
       dispatch_scopes,
       false,
       {"rendered", "decision.address"},
       B::kRefused},
      {disp, "CreateCampaign", dispatch_scopes, false, {}, B::kNoSubjectData},
      {disp, "AddRecipients", dispatch_scopes, false, {}, B::kDenied},
      {disp, "GetRecipientUpload", dispatch_scopes, false, {}, B::kNoSubjectData},
      {disp, "StartCampaign", dispatch_scopes, false, {}, B::kNoSubjectData},
      {disp, "PauseCampaign", dispatch_scopes, false, {}, B::kNoSubjectData},
      {disp, "ResumeCampaign", dispatch_scopes, false, {}, B::kNoSubjectData},
      {disp, "CancelCampaign", dispatch_scopes, false, {}, B::kNoSubjectData},
      {disp, "GetCampaign", dispatch_scopes, false, {}, B::kNoSubjectData},
      {disp, "ListCampaigns", dispatch_scopes, false, {}, B::kNoSubjectData},
      {disp, "GetMessage", dispatch_scopes, false, {"address"}, B::kRedacted},
      {disp, "ListMessages", dispatch_scopes, false, {"messages.address"}, B::kRedacted},
      // PrivacyService: the privacy scope only; it may read a blocked subject (right of
      // access) and every erasure works on one.
      {priv, "RectifySubject", {kPrivacy}, false, {}, B::kAllowed},
      {priv, "BlockSubject", {kPrivacy}, false, {}, B::kAllowed},
      {priv, "UnblockSubject", {kPrivacy}, false, {}, B::kAllowed},
      {priv, "RevokeConsent", {kPrivacy}, false, {}, B::kAllowed},
      {priv, "DepersonalizeSubject", {kPrivacy}, false, {}, B::kAllowed},
      {priv, "DestroySubject", {kPrivacy}, false, {}, B::kAllowed},
      {priv, "ExportSubjectData", {kPrivacy}, false, {"json", "document"}, B::kAllowed},
      {priv,
       "ListDestructionRecords",
       {kPrivacy},
       false,
       {"records.subject_full_name"},
       B::kAllowed},
      {priv, "GetDestructionAct", {kPrivacy}, false, {"text"}, B::kAllowed},
      {priv, "OpenPrivacyRequest", {kPrivacy}, false, {}, B::kAllowed},
      {priv, "GetPrivacyRequest", {kPrivacy}, false, {}, B::kAllowed},
      {priv, "ListPrivacyRequests", {kPrivacy}, false, {}, B::kAllowed},
      {priv, "CompletePrivacyRequest", {kPrivacy}, false, {}, B::kAllowed},
      // CrmService: Creatio (crm) reports its cards' changes and may watch the queue; the
      // queue's repairs, resyncs and the import are for operators (admin keys only).
      {crm, "ReportContactChange", {kCrm}, false, {}, B::kAllowed},
      {crm, "GetWriteBackStatus", {kCrm}, false, {}, B::kNoSubjectData},
      {crm, "RetryWriteBacks", {kAdmin}, false, {}, B::kNoSubjectData},
      {crm, "ResyncContacts", {kAdmin}, false, {}, B::kNoSubjectData},
      {crm, "CheckCrm", {kAdmin}, false, {}, B::kNoSubjectData},
      {crm, "StartImport", {kAdmin}, false, {}, B::kNoSubjectData},
      {crm, "GetImport", {kAdmin}, false, {}, B::kNoSubjectData},
      {crm, "CancelImport", {kAdmin}, false, {}, B::kNoSubjectData},
      // The schema, to any valid key (DESIGN); never data.
      {"grpc.reflection.v1alpha.ServerReflection",
       "ServerReflectionInfo",
       {kCrm, kScheduler, kPrivacy, kAdmin},
       false,
       {},
       B::kNoSubjectData},
      // Probes carry no key.
      {"grpc.health.v1.Health", "Check", {}, true, {}, B::kNoSubjectData},
      {"grpc.health.v1.Health", "Watch", {}, true, {}, B::kNoSubjectData},
  };
}

// A part of an answer is about a blocked subject when it says so itself.
bool AboutBlockedSubject(const Message& m) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  if (const auto* f = d->FindFieldByName("blocked");
      f && f->type() == FieldDescriptor::TYPE_BOOL && !f->is_repeated() && r->GetBool(m, f)) {
    return true;
  }
  for (const char* name : {"reason", "deny_reason"}) {
    const auto* f = d->FindFieldByName(name);
    if (f && f->type() == FieldDescriptor::TYPE_ENUM && !f->is_repeated() &&
        r->GetEnum(m, f)->name() == "SUBJECT_BLOCKED") {
      return true;
    }
  }
  return false;
}

void ClearPath(Message& m, std::string_view path, bool all) {
  auto dot = path.find('.');
  std::string head(path.substr(0, dot));
  const auto* f = m.GetDescriptor()->FindFieldByName(head);
  if (!f) return;  // the descriptor test proves every path exists
  const auto* r = m.GetReflection();
  if (dot == std::string_view::npos) {
    if (all || AboutBlockedSubject(m)) r->ClearField(&m, f);
    return;
  }
  if (f->type() != FieldDescriptor::TYPE_MESSAGE) return;
  auto rest = path.substr(dot + 1);
  if (f->is_repeated()) {
    for (int i = 0; i < r->FieldSize(m, f); ++i) {
      ClearPath(*r->MutableRepeatedMessage(&m, f, i), rest, all);
    }
  } else if (r->HasField(m, f)) {
    ClearPath(*r->MutableMessage(&m, f), rest, all);
  }
}

}  // namespace

const char* BlockedSubjectName(BlockedSubject b) {
  switch (b) {
    case B::kNoSubjectData:
      return "no subject data";
    case B::kRefused:
      return "refused";
    case B::kRedacted:
      return "personal fields cleared";
    case B::kDenied:
      return "dispatch denied by the gate";
    case B::kAllowed:
      return "allowed";
  }
  return "?";
}

const std::vector<RpcRule>& RpcAccessTable() {
  static const std::vector<RpcRule> table = BuildTable();
  return table;
}

const RpcRule* FindRpcRule(std::string_view method) {
  static const auto index = [] {
    std::map<std::string, const RpcRule*, std::less<>> m;
    for (const auto& rule : RpcAccessTable()) {
      m.emplace(rule.full_name(), &rule);
      // Short names are unique across the services (a test holds the table to that).
      m.emplace(rule.method, &rule);
    }
    return m;
  }();
  auto it = index.find(method);
  return it == index.end() ? nullptr : it->second;
}

bool ScopeReadsSubjects(Scope s) { return s != Scope::kScheduler; }

bool RuleAllows(const RpcRule& rule, const std::set<Scope>& scopes) {
  if (rule.open) return true;
  if (scopes.count(Scope::kAdmin)) return true;
  for (Scope s : rule.scopes) {
    if (scopes.count(s)) return true;
  }
  return false;
}

void RedactPersonalFields(const RpcRule& rule, google::protobuf::Message& response, bool all) {
  for (const auto& path : rule.personal_fields) ClearPath(response, path, all);
}

}  // namespace herald
