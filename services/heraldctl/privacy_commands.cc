// `heraldctl privacy ...`: tracked data-subject requests (152-FZ) and the operations that
// answer them. Every call needs an API key with the privacy scope.
#include "services/heraldctl/privacy_commands.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>

#include "herald/v1/privacy.grpc.pb.h"
#include "services/heraldctl/print.h"
#include "services/heraldctl/privacy_call.h"
#include "services/heraldctl/privacy_erasure_commands.h"

namespace herald::ctl {
namespace {

using privacy_cli::Call;
using privacy_cli::Fail;
using privacy_cli::Invoke;
using privacy_cli::Sub;
using v1::PrivacyService;

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return s;
}

template <typename E, typename ParseFn>
E EnumValue(const std::string& flag, const std::string& given, ParseFn parse) {
  E value{};
  if (!parse(Upper(given), &value) || static_cast<int>(value) == 0) {
    throw UsageError("--" + flag + ": unknown value '" + given + "' (expected " +
                     EnumChoices(google::protobuf::GetEnumDescriptor<E>()) + ")");
  }
  return value;
}

int32_t PageSize(const Flags& f) {
  if (!f.Has("page-size")) return 0;
  std::string v = f.Get("page-size");
  int32_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size() || out < 0) {
    throw UsageError("--page-size: expected a non-negative number, got '" + v + "'");
  }
  return out;
}

std::string KindName(v1::PrivacyRequestKind k) { return v1::PrivacyRequestKind_Name(k); }

// Whether an e-mail request still waits before blocking or destruction (STANDARDS §2b).
std::string ConfirmationName(v1::PrivacyRequestConfirmation c) {
  switch (c) {
    case v1::CONFIRMATION_PENDING:
      return "PENDING";
    case v1::CONFIRMED_BY_LINK:
      return "LINK";
    case v1::CONFIRMED_BY_DMARC:
      return "DMARC";
    case v1::CONFIRMED_BY_OPERATOR:
      return "OPERATOR";
    default:
      return "-";
  }
}

void PrintRequest(const v1::PrivacyRequest& r) {
  std::string confirmation = ConfirmationName(r.confirmation());
  if (r.has_confirmed_time()) confirmation += " " + FormatTime(true, r.confirmed_time());
  PrintKeyValues(std::cout, {{"id", r.id()},
                             {"kind", KindName(r.kind())},
                             {"subject", r.subject_id().empty() ? "-" : r.subject_id()},
                             {"source", v1::Source_Name(r.source())},
                             {"received", FormatTime(r.has_received_time(), r.received_time())},
                             {"due", FormatTime(r.has_due_time(), r.due_time())},
                             {"status", v1::PrivacyRequestStatus_Name(r.status()) +
                                            (r.overdue() ? " OVERDUE" : "")},
                             {"handled by", r.handled_by().empty() ? "-" : r.handled_by()},
                             {"handled", FormatTime(r.has_handled_time(), r.handled_time())},
                             {"blocked by request", r.blocked_by_request() ? "yes" : "no"},
                             {"confirmation", confirmation},
                             {"details", r.details_json()}});
}

// DUE  OVERDUE  KIND  STATUS  ID  SUBJECT  CONFIRMATION
void PrintRequestTable(const google::protobuf::RepeatedPtrField<v1::PrivacyRequest>& list) {
  Table t;
  t.AddRow({"DUE", "", "KIND", "STATUS", "ID", "SUBJECT", "CONFIRMATION"});
  for (const auto& r : list) {
    t.AddRow({FormatTime(r.has_due_time(), r.due_time()), r.overdue() ? "OVERDUE" : "",
              KindName(r.kind()), v1::PrivacyRequestStatus_Name(r.status()), r.id(),
              r.subject_id().empty() ? "-" : r.subject_id(), ConfirmationName(r.confirmation())});
  }
  t.Print(std::cout);
}

const FlagSpec kSubjectId{"subject-id", "ID", "the subject's id (UUID)"};
const FlagSpec kRequestId{"request-id", "ID", "the privacy request's id (UUID)"};
const FlagSpec kIdempotency{"idempotency-key", "K", "makes a retry safe"};
const FlagSpec kReason{"reason", "TEXT", "why (no personal data: it is kept in the trail)"};
const FlagSpec kPageSize{"page-size", "N", "results per page (default 50, at most 500)"};

std::vector<Sub> Subcommands() {
  return {
      {"due",
       "[--kind KIND]",
       "Open requests, earliest due first; OVERDUE marks those past their deadline.",
       {{"kind", "KIND", "only this kind", false, v1::PrivacyRequestKind_descriptor()}},
       [](PrivacyService::Stub& stub, const Flags& f, const Call& call) {
         // Every open request, page after page.
         v1::ListPrivacyRequestsResponse all;
         v1::ListPrivacyRequestsRequest req;
         req.set_status(v1::OPEN);
         req.set_page_size(500);
         if (f.Has("kind")) {
           req.set_kind(EnumValue<v1::PrivacyRequestKind>("kind", f.Get("kind"),
                                                          v1::PrivacyRequestKind_Parse));
         }
         for (int page = 0; page < 100; ++page) {
           grpc::ClientContext ctx;
           ctx.set_deadline(std::chrono::system_clock::now() + call.timeout);
           ctx.AddMetadata("authorization", "Bearer " + call.key);
           v1::ListPrivacyRequestsResponse resp;
           auto status = stub.ListPrivacyRequests(&ctx, req, &resp);
           if (!status.ok()) return Fail(status);
           for (auto& r : *resp.mutable_requests()) *all.add_requests() = std::move(r);
           if (resp.next_page_token().empty()) break;
           req.set_page_token(resp.next_page_token());
         }
         if (call.json) {
           std::string json;
           google::protobuf::util::JsonPrintOptions o;
           o.preserve_proto_field_names = true;
           (void)google::protobuf::util::MessageToJsonString(all, &json, o);
           std::cout << json << '\n';
           return 0;
         }
         int overdue = 0;
         for (const auto& r : all.requests()) overdue += r.overdue() ? 1 : 0;
         PrintRequestTable(all.requests());
         std::cout << all.requests_size() << " open, " << overdue << " overdue\n";
         return 0;
       }},
      {"requests",
       "[--status open|done|rejected] [--kind KIND] [--subject-id ID] [--page-size N] "
       "[--page-token T]",
       "List requests by due date (open by default).",
       {{"status", "STATUS", "default OPEN", false, v1::PrivacyRequestStatus_descriptor()},
        {"kind", "KIND", "only this kind", false, v1::PrivacyRequestKind_descriptor()},
        kSubjectId,
        kPageSize,
        {"page-token", "T", "from the previous page"}},
       [](PrivacyService::Stub& stub, const Flags& f, const Call& call) {
         v1::ListPrivacyRequestsRequest req;
         if (f.Has("status")) {
           req.set_status(EnumValue<v1::PrivacyRequestStatus>("status", f.Get("status"),
                                                              v1::PrivacyRequestStatus_Parse));
         }
         if (f.Has("kind")) {
           req.set_kind(EnumValue<v1::PrivacyRequestKind>("kind", f.Get("kind"),
                                                          v1::PrivacyRequestKind_Parse));
         }
         req.set_subject_id(f.Get("subject-id"));
         req.set_page_size(PageSize(f));
         req.set_page_token(f.Get("page-token"));
         return Invoke(call, &PrivacyService::Stub::ListPrivacyRequests, stub, req,
                       [](const v1::ListPrivacyRequestsResponse& r) {
                         PrintRequestTable(r.requests());
                         PrintNextPage(std::cout, r.next_page_token());
                       });
       }},
      {"request",
       "--request-id ID",
       "Show one request.",
       {kRequestId},
       [](PrivacyService::Stub& stub, const Flags& f, const Call& call) {
         v1::GetPrivacyRequestRequest req;
         req.set_request_id(f.Require("request-id"));
         return Invoke(call, &PrivacyService::Stub::GetPrivacyRequest, stub, req,
                       [](const v1::GetPrivacyRequestResponse& r) { PrintRequest(r.request()); });
       }},
      {"open",
       "--subject-id ID --kind KIND [--received-at TIME] [--idempotency-key K]",
       "Record a request a subject made (by letter, phone, in person); prints its due date.",
       {kSubjectId,
        {"kind", "KIND", "required", false, v1::PrivacyRequestKind_descriptor()},
        {"received-at", "TIME", "RFC 3339; when the subject asked (default now)"},
        kIdempotency},
       [](PrivacyService::Stub& stub, const Flags& f, const Call& call) {
         v1::OpenPrivacyRequestRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_kind(EnumValue<v1::PrivacyRequestKind>("kind", f.Require("kind"),
                                                        v1::PrivacyRequestKind_Parse));
         req.set_source(v1::OPERATOR);
         req.set_idempotency_key(f.Get("idempotency-key"));
         if (f.Has("received-at") && !google::protobuf::util::TimeUtil::FromString(
                                         f.Get("received-at"), req.mutable_received_time())) {
           throw UsageError("--received-at: expected RFC 3339, e.g. 2026-11-27T10:00:00Z");
         }
         return Invoke(call, &PrivacyService::Stub::OpenPrivacyRequest, stub, req,
                       [](const v1::OpenPrivacyRequestResponse& r) { PrintRequest(r.request()); });
       }},
      {"complete",
       "--request-id ID (--done | --rejected) [--note TEXT]",
       "Close a request (a block its rectification set is lifted).",
       {kRequestId,
        {"done", "", "the request was carried out"},
        {"rejected", "", "the request was refused (say why in --note)"},
        {"note", "TEXT", "no personal data"}},
       [](PrivacyService::Stub& stub, const Flags& f, const Call& call) {
         if (f.Has("done") == f.Has("rejected")) {
           throw UsageError("give exactly one of --done and --rejected");
         }
         v1::CompletePrivacyRequestRequest req;
         req.set_request_id(f.Require("request-id"));
         req.set_status(f.Has("done") ? v1::DONE : v1::REJECTED);
         req.set_note(f.Get("note"));
         return Invoke(
             call, &PrivacyService::Stub::CompletePrivacyRequest, stub, req,
             [](const v1::CompletePrivacyRequestResponse& r) { PrintRequest(r.request()); });
       }},
      {"block",
       "--subject-id ID [--reason TEXT] [--request-id ID] [--idempotency-key K]",
       "Block a subject: every dispatch denied, CRM reads refused.",
       {kSubjectId, kReason, kRequestId, kIdempotency},
       [](PrivacyService::Stub& stub, const Flags& f, const Call& call) {
         v1::BlockSubjectRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_reason(f.Get("reason"));
         req.set_request_id(f.Get("request-id"));
         req.set_idempotency_key(f.Get("idempotency-key"));
         return Invoke(call, &PrivacyService::Stub::BlockSubject, stub, req,
                       [](const v1::BlockSubjectResponse& r) {
                         std::cout << (r.changed() ? "BLOCKED" : "ALREADY BLOCKED") << '\n';
                       });
       }},
      {"unblock",
       "--subject-id ID [--reason TEXT] [--idempotency-key K]",
       "Lift a subject's block.",
       {kSubjectId, kReason, kIdempotency},
       [](PrivacyService::Stub& stub, const Flags& f, const Call& call) {
         v1::UnblockSubjectRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_reason(f.Get("reason"));
         req.set_idempotency_key(f.Get("idempotency-key"));
         return Invoke(call, &PrivacyService::Stub::UnblockSubject, stub, req,
                       [](const v1::UnblockSubjectResponse&) { std::cout << "UNBLOCKED\n"; });
       }},
      {"rectify",
       "--subject-id ID [--request-id ID] [--surname S] [--given-name G] [--patronymic P] "
       "[--locale L] [--idempotency-key K]",
       "Correct personal fields; answers the subject's open rectification request.",
       {kSubjectId,
        kRequestId,
        {"surname", "S", ""},
        {"given-name", "G", ""},
        {"patronymic", "P", ""},
        {"locale", "L", "BCP 47, e.g. az, ru, en"},
        kIdempotency},
       [](PrivacyService::Stub& stub, const Flags& f, const Call& call) {
         v1::RectifySubjectRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_request_id(f.Get("request-id"));
         req.set_idempotency_key(f.Get("idempotency-key"));
         if (f.Has("surname")) req.add_update_fields("surname"), req.set_surname(f.Get("surname"));
         if (f.Has("given-name")) {
           req.add_update_fields("given_name");
           req.set_given_name(f.Get("given-name"));
         }
         if (f.Has("patronymic")) {
           req.add_update_fields("patronymic");
           req.set_patronymic(f.Get("patronymic"));
         }
         if (f.Has("locale")) req.add_update_fields("locale"), req.set_locale(f.Get("locale"));
         if (req.update_fields().empty()) {
           throw UsageError("give at least one of --surname, --given-name, --patronymic, --locale");
         }
         return Invoke(call, &PrivacyService::Stub::RectifySubject, stub, req,
                       [](const v1::RectifySubjectResponse& r) {
                         std::string fields;
                         for (const auto& c : r.changed_fields()) {
                           fields += (fields.empty() ? "" : ",") + c;
                         }
                         std::cout << "CHANGED " << (fields.empty() ? "-" : fields)
                                   << (r.unblocked() ? " UNBLOCKED" : "") << '\n';
                         if (!r.request().id().empty()) PrintRequest(r.request());
                       });
       }},
      {"revoke",
       "--subject-id ID [--request-id ID] [--idempotency-key K]",
       "Record a revocation of consent: dispatch stops now; prints the destruction date.",
       {kSubjectId, kRequestId, kIdempotency},
       [](PrivacyService::Stub& stub, const Flags& f, const Call& call) {
         v1::RevokeConsentRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_request_id(f.Get("request-id"));
         req.set_idempotency_key(f.Get("idempotency-key"));
         req.mutable_proof()->set_source(v1::OPERATOR);
         return Invoke(call, &PrivacyService::Stub::RevokeConsent, stub, req,
                       [](const v1::RevokeConsentResponse& r) {
                         std::cout
                             << (r.changed() ? "REVOKED" : "ALREADY REVOKED") << " destruction due "
                             << FormatTime(r.has_destruction_due_time(), r.destruction_due_time())
                             << " request " << r.request().id() << '\n';
                       });
       }},
  };
}

// Both halves' subcommands: requests and flags here, erasure in privacy_erasure_commands.cc.
std::vector<Sub> AllSubcommands() {
  std::vector<Sub> subs = Subcommands();
  for (auto& s : PrivacyErasureSubcommands()) subs.push_back(std::move(s));
  return subs;
}

void PrintPrivacyUsage(std::ostream& out, const std::vector<FlagSpec>& global_specs) {
  out << "Usage: heraldctl [global flags] privacy <subcommand> [flags]\n\n"
         "Data-subject requests under 152-FZ (needs an API key with the privacy scope).\n\n"
         "Subcommands:\n";
  Table t;
  for (const auto& s : AllSubcommands()) t.AddRow({"  " + s.name, s.summary});
  t.Print(out);
  out << "\nGlobal flags:\n";
  PrintFlagHelp(out, global_specs);
}

}  // namespace

int RunPrivacy(const std::vector<std::string>& args, size_t index, Flags flags,
               const std::vector<FlagSpec>& global_specs) {
  std::string name = index < args.size() ? args[index] : "";
  try {
    if (flags.Has("help")) name = "--help";
    if (name.empty() || name == "--help" || name == "-h") {
      PrintPrivacyUsage(name.empty() ? std::cerr : std::cout, global_specs);
      return name.empty() ? 2 : 0;
    }
    const auto subs = AllSubcommands();
    const Sub* sub = nullptr;
    for (const auto& s : subs) {
      if (s.name == name) sub = &s;
    }
    if (!sub) throw UsageError("unknown privacy subcommand '" + name + "'");
    ++index;
    for (size_t j = index; j < args.size(); ++j) {
      if (args[j] == "--help" || args[j] == "-h") {
        std::cout << "Usage: heraldctl [global flags] privacy " << sub->name << " " << sub->synopsis
                  << "\n\n"
                  << sub->summary << "\n\nFlags:\n";
        PrintFlagHelp(std::cout, sub->flags);
        return 0;
      }
    }
    std::vector<std::string> rest(args.begin(), args.end());
    // `act <id>`: the record id may be given as a positional argument.
    if (sub->name == "act" && index < rest.size() && rest[index].rfind("--", 0) != 0) {
      rest[index] = "--record-id=" + rest[index];
    }
    std::vector<FlagSpec> specs = sub->flags;
    specs.insert(specs.end(), global_specs.begin(), global_specs.end());
    flags.Parse(specs, rest, &index, /*stop_at_positional=*/false);
    Call call = privacy_cli::CallFromFlags(flags);
    auto stub = privacy_cli::StubFromFlags(flags);
    return sub->run(*stub, flags, call);
  } catch (const UsageError& e) {
    std::cerr << "heraldctl: " << e.what() << "\nRun 'heraldctl privacy "
              << (name.empty() ? "" : name + " ") << "--help' for usage.\n";
    return 2;
  }
}

}  // namespace herald::ctl
