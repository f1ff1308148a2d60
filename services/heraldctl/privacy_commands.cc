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
#include "services/heraldctl/privacy_erasure_commands.h"

namespace herald::ctl {
namespace {

using v1::PrivacyService;

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
                             {"legal basis", r.legal_basis().empty() ? "-" : r.legal_basis()},
                             {"status", v1::PrivacyRequestStatus_Name(r.status()) +
                                            (r.overdue() ? " OVERDUE" : "")},
                             {"handled by", r.handled_by().empty() ? "-" : r.handled_by()},
                             {"handled", FormatTime(r.has_handled_time(), r.handled_time())},
                             {"blocked by request", r.blocked_by_request() ? "yes" : "no"},
                             {"confirmation", confirmation},
                             {"details", r.details_json()}});
}

// DUE  OVERDUE  KIND  STATUS  ID  SUBJECT  CONFIRMATION  LEGAL BASIS
void PrintRequestTable(const google::protobuf::RepeatedPtrField<v1::PrivacyRequest>& list) {
  Table t;
  t.AddRow({"DUE", "", "KIND", "STATUS", "ID", "SUBJECT", "CONFIRMATION", "LEGAL BASIS"});
  for (const auto& r : list) {
    t.AddRow({FormatTime(r.has_due_time(), r.due_time()), r.overdue() ? "OVERDUE" : "",
              KindName(r.kind()), v1::PrivacyRequestStatus_Name(r.status()), r.id(),
              r.subject_id().empty() ? "-" : r.subject_id(), ConfirmationName(r.confirmation()),
              r.legal_basis().empty() ? "-" : r.legal_basis()});
  }
  t.Print(std::cout);
}

const FlagSpec kSubjectId{"subject-id", "ID", "the subject's id (UUID)"};
const FlagSpec kRequestId{"request-id", "ID", "the privacy request's id (UUID)"};
const FlagSpec kIdempotency{"idempotency-key", "K", "makes a retry safe"};
const FlagSpec kReason{"reason", "TEXT", "why (no personal data: it is kept in the trail)"};
const FlagSpec kPageSize{"page-size", "N", "results per page (default 50, at most 500)"};

std::vector<Command> Subcommands() {
  return {
      {"due",
       "[--kind KIND] [--csv]",
       "Open requests, earliest due first; OVERDUE marks those past their deadline.",
       {{"kind", "KIND", "only this kind", false, v1::PrivacyRequestKind_descriptor()},
        {"csv", "", "the officer's register: CSV (RFC 4180) with a header row, nothing else"}},
       [](const Context& ctx, const Flags& f) {
         // Every open request, page after page.
         v1::ListPrivacyRequestsResponse all;
         v1::ListPrivacyRequestsRequest req;
         req.set_status(v1::OPEN);
         req.set_page_size(500);
         if (f.Has("kind")) {
           req.set_kind(ParseEnum<v1::PrivacyRequestKind>("kind", f.Get("kind"),
                                                          v1::PrivacyRequestKind_Parse));
         }
         PrivacyService::Stub stub(ctx.channel);
         for (int page = 0; page < 100; ++page) {
           grpc::ClientContext call;
           ctx.Prepare(&call);
           v1::ListPrivacyRequestsResponse resp;
           auto status = stub.ListPrivacyRequests(&call, req, &resp);
           if (!status.ok()) return Fail(status);
           for (auto& r : *resp.mutable_requests()) *all.add_requests() = std::move(r);
           if (resp.next_page_token().empty()) break;
           req.set_page_token(resp.next_page_token());
         }
         if (ctx.json) return Output(ctx, all, [] {});
         if (f.Has("csv")) {
           std::cout << PrivacyRequestsCsv(all.requests()) << std::flush;
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
       [](const Context& ctx, const Flags& f) {
         v1::ListPrivacyRequestsRequest req;
         if (f.Has("status")) {
           req.set_status(ParseEnum<v1::PrivacyRequestStatus>("status", f.Get("status"),
                                                              v1::PrivacyRequestStatus_Parse));
         }
         if (f.Has("kind")) {
           req.set_kind(ParseEnum<v1::PrivacyRequestKind>("kind", f.Get("kind"),
                                                          v1::PrivacyRequestKind_Parse));
         }
         req.set_subject_id(f.Get("subject-id"));
         req.set_page_size(IntFlag(f, "page-size"));
         req.set_page_token(f.Get("page-token"));
         return Call(ctx, &PrivacyService::Stub::ListPrivacyRequests, req,
                     [](const v1::ListPrivacyRequestsResponse& r) {
                       PrintRequestTable(r.requests());
                       PrintNextPage(std::cout, r.next_page_token());
                     });
       }},
      {"request",
       "--request-id ID",
       "Show one request.",
       {kRequestId},
       [](const Context& ctx, const Flags& f) {
         v1::GetPrivacyRequestRequest req;
         req.set_request_id(f.Require("request-id"));
         return Call(ctx, &PrivacyService::Stub::GetPrivacyRequest, req,
                     [](const v1::GetPrivacyRequestResponse& r) { PrintRequest(r.request()); });
       }},
      {"open",
       "--subject-id ID --kind KIND [--received-at TIME] [--idempotency-key K]",
       "Record a request a subject made (by letter, phone, in person); prints its due date.",
       {kSubjectId,
        {"kind", "KIND", "required", false, v1::PrivacyRequestKind_descriptor()},
        {"received-at", "TIME", "RFC 3339; when the subject asked (default now)"},
        kIdempotency},
       [](const Context& ctx, const Flags& f) {
         v1::OpenPrivacyRequestRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_kind(ParseEnum<v1::PrivacyRequestKind>("kind", f.Require("kind"),
                                                        v1::PrivacyRequestKind_Parse));
         req.set_source(v1::OPERATOR);
         req.set_idempotency_key(f.Get("idempotency-key"));
         if (f.Has("received-at") && !google::protobuf::util::TimeUtil::FromString(
                                         f.Get("received-at"), req.mutable_received_time())) {
           throw UsageError("--received-at: expected RFC 3339, e.g. 2026-11-27T10:00:00Z");
         }
         return Call(ctx, &PrivacyService::Stub::OpenPrivacyRequest, req,
                     [](const v1::OpenPrivacyRequestResponse& r) { PrintRequest(r.request()); });
       }},
      {"complete",
       "--request-id ID (--done | --rejected) [--note TEXT]",
       "Close a request (a block its rectification set is lifted).",
       {kRequestId,
        {"done", "", "the request was carried out"},
        {"rejected", "", "the request was refused (say why in --note)"},
        {"note", "TEXT", "no personal data"}},
       [](const Context& ctx, const Flags& f) {
         if (f.Has("done") == f.Has("rejected")) {
           throw UsageError("give exactly one of --done and --rejected");
         }
         v1::CompletePrivacyRequestRequest req;
         req.set_request_id(f.Require("request-id"));
         req.set_status(f.Has("done") ? v1::DONE : v1::REJECTED);
         req.set_note(f.Get("note"));
         return Call(
             ctx, &PrivacyService::Stub::CompletePrivacyRequest, req,
             [](const v1::CompletePrivacyRequestResponse& r) { PrintRequest(r.request()); });
       }},
      {"block",
       "--subject-id ID [--reason TEXT] [--request-id ID] [--idempotency-key K]",
       "Block a subject: every dispatch denied, CRM reads refused.",
       {kSubjectId, kReason, kRequestId, kIdempotency},
       [](const Context& ctx, const Flags& f) {
         v1::BlockSubjectRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_reason(f.Get("reason"));
         req.set_request_id(f.Get("request-id"));
         req.set_idempotency_key(f.Get("idempotency-key"));
         return Call(ctx, &PrivacyService::Stub::BlockSubject, req,
                     [](const v1::BlockSubjectResponse& r) {
                       std::cout << (r.changed() ? "BLOCKED" : "ALREADY BLOCKED") << '\n';
                     });
       }},
      {"unblock",
       "--subject-id ID [--reason TEXT] [--idempotency-key K]",
       "Lift a subject's block.",
       {kSubjectId, kReason, kIdempotency},
       [](const Context& ctx, const Flags& f) {
         v1::UnblockSubjectRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_reason(f.Get("reason"));
         req.set_idempotency_key(f.Get("idempotency-key"));
         return Call(ctx, &PrivacyService::Stub::UnblockSubject, req,
                     [](const v1::UnblockSubjectResponse&) { std::cout << "UNBLOCKED\n"; });
       }},
      {"rectify",
       "--subject-id ID [--request-id ID] [--surname S] [--given-name G] [--patronymic P] "
       "[--locale L] [--old-email A --email A] [--old-phone N --phone N] [--idempotency-key K]",
       "Correct personal fields and addresses; answers the subject's open rectification "
       "request.",
       {kSubjectId,
        kRequestId,
        {"surname", "S", ""},
        {"given-name", "G", ""},
        {"patronymic", "P", ""},
        {"locale", "L", "BCP 47, e.g. az, ru, en"},
        {"old-email", "A", "the subject's e-mail address to correct (with --email)"},
        {"email", "A", "the corrected e-mail address"},
        {"old-phone", "N", "the subject's phone number to correct (with --phone)"},
        {"phone", "N", "the corrected phone number"},
        kIdempotency},
       [](const Context& ctx, const Flags& f) {
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
         if (f.Has("email")) {
           req.add_update_fields("email");
           req.set_email(f.Get("email"));
           req.set_old_email(f.Require("old-email"));
         }
         if (f.Has("phone")) {
           req.add_update_fields("phone");
           req.set_phone(f.Get("phone"));
           req.set_old_phone(f.Require("old-phone"));
         }
         if (req.update_fields().empty()) {
           throw UsageError(
               "give at least one of --surname, --given-name, --patronymic, --locale, --email, "
               "--phone");
         }
         return Call(ctx, &PrivacyService::Stub::RectifySubject, req,
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
       [](const Context& ctx, const Flags& f) {
         v1::RevokeConsentRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_request_id(f.Get("request-id"));
         req.set_idempotency_key(f.Get("idempotency-key"));
         req.mutable_proof()->set_source(v1::OPERATOR);
         return Call(
             ctx, &PrivacyService::Stub::RevokeConsent, req,
             [](const v1::RevokeConsentResponse& r) {
               std::cout << (r.changed() ? "REVOKED" : "ALREADY REVOKED") << " destruction due "
                         << FormatTime(r.has_destruction_due_time(), r.destruction_due_time())
                         << " request " << r.request().id() << '\n';
             });
       }},
  };
}

}  // namespace

std::string CsvField(std::string_view value) {
  bool quote = !value.empty() && (value.front() == ' ' || value.back() == ' ');
  for (char c : value) quote = quote || c == ',' || c == '"' || c == '\r' || c == '\n';
  if (!quote) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string PrivacyRequestsCsv(
    const google::protobuf::RepeatedPtrField<v1::PrivacyRequest>& requests) {
  std::string out =
      "id,kind,subject_id,source,received,due,status,overdue,confirmation,legal_basis\r\n";
  for (const auto& r : requests) {
    const std::string cells[] = {r.id(),
                                 KindName(r.kind()),
                                 r.subject_id(),
                                 v1::Source_Name(r.source()),
                                 r.has_received_time() ? FormatTime(true, r.received_time()) : "",
                                 r.has_due_time() ? FormatTime(true, r.due_time()) : "",
                                 v1::PrivacyRequestStatus_Name(r.status()),
                                 r.overdue() ? "yes" : "no",
                                 ConfirmationName(r.confirmation()),
                                 r.legal_basis()};
    bool first = true;
    for (const auto& cell : cells) {
      if (!first) out += ',';
      out += CsvField(cell);
      first = false;
    }
    out += "\r\n";
  }
  return out;
}

Command PrivacyCommand() {
  Command group{"privacy",
                "",
                "Data-subject requests under 152-FZ (needs an API key with the privacy scope): "
                "due, requests, request, open, complete, block, unblock, rectify, revoke, "
                "destroy, depersonalize, export, act, records.",
                {},
                nullptr};
  group.subcommands = Subcommands();
  for (auto& c : PrivacyErasureSubcommands()) group.subcommands.push_back(std::move(c));
  return group;
}

}  // namespace herald::ctl
