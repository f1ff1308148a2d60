#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/config/config.h"

namespace google::protobuf {
class Message;
}

namespace herald {

// What happens when an RPC touches a blocked subject (152-FZ art. 21, STANDARDS L2). A caller
// with the privacy scope (admin included) still reads the subject: its own right of access.
enum class BlockedSubject {
  kNoSubjectData,  // the answer carries nothing about a subject (topics, campaigns, ...)
  kRefused,        // FAILED_PRECONDITION "subject is blocked"
  kRedacted,       // answered, with the personal fields of the blocked subject's parts cleared
  kDenied,         // a dispatch: the gate refuses it (SUBJECT_BLOCKED), nothing is sent
  // Served as usual: a write that protects the subject (opt-out, block, rectify, erase) or
  // a read only the privacy scope may call (the subject's right of access).
  kAllowed,
};

const char* BlockedSubjectName(BlockedSubject b);

// One row per RPC the server offers: who may call it, which fields of its answer may carry
// personal data, and what it does for a blocked subject. Every call goes through this one
// table (RpcRunner), and a test generated from the service descriptors proves every RPC
// has a row, so a new RPC cannot ship unguarded.
struct RpcRule {
  std::string service;  // full name, e.g. "herald.v1.DispatchService"
  std::string method;   // e.g. "PreviewMessage"
  // Any one of these is enough; admin may call everything. Empty with `open`: no key.
  std::vector<Scope> scopes;
  bool open = false;  // unauthenticated (health only)
  // Dotted paths into the response ("decision.address"; a repeated message on the way
  // applies to each element). Cleared for callers whose scopes may not read subjects, and,
  // for kRedacted, inside each part about a blocked subject (`blocked: true`, or a reason or
  // deny_reason SUBJECT_BLOCKED) unless the caller holds the privacy scope.
  std::vector<std::string> personal_fields;
  BlockedSubject blocked = BlockedSubject::kNoSubjectData;

  bool carries_personal_data() const { return !personal_fields.empty(); }
  std::string full_name() const { return service + "/" + method; }
};

// Every row, in service order.
const std::vector<RpcRule>& RpcAccessTable();
// The row of a method by its short name (unique across the services) or by
// "service/method"; nullptr when there is none (the runner then refuses the call).
const RpcRule* FindRpcRule(std::string_view method);

// Whether a scope may read subjects' personal data (crm, privacy, admin: yes; scheduler: no).
bool ScopeReadsSubjects(Scope s);
// Whether a caller holding `scopes` may call the RPC.
bool RuleAllows(const RpcRule& rule, const std::set<Scope>& scopes);

// Clears the rule's personal fields in `response`: all of them when `all`, otherwise only
// inside parts about a blocked subject.
void RedactPersonalFields(const RpcRule& rule, google::protobuf::Message& response, bool all);

}  // namespace herald
