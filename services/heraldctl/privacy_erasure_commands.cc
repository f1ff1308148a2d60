// `heraldctl privacy destroy|depersonalize|export|act|records`. Every call needs an API key
// with the privacy scope. Output is human-readable by default, the response as JSON with
// --json; `export` prints the readable document, or with --format json the JSON export.
#include "services/heraldctl/privacy_erasure_commands.h"

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

namespace herald::ctl {
namespace {

using v1::PrivacyService;

const FlagSpec kSubjectId{"subject-id", "ID", "the subject's id (UUID)"};
const FlagSpec kRequestId{"request-id", "ID", "the privacy request being answered (optional)"};
const FlagSpec kIdempotency{"idempotency-key", "K", "makes a retry safe"};
const FlagSpec kReason{"reason", "TEXT",
                       "required; goes into the destruction act (no personal data)"};

std::vector<Command> Subcommands() {
  return {
      {"destroy",
       "--subject-id ID --reason TEXT [--request-id ID] [--idempotency-key K]",
       "Destroy the subject's personal data irreversibly; prints the destruction record id.",
       {kSubjectId, kReason, kRequestId, kIdempotency},
       [](const Context& ctx, const Flags& f) {
         v1::DestroySubjectRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_reason(f.Require("reason"));
         req.set_request_id(f.Get("request-id"));
         req.set_idempotency_key(f.Get("idempotency-key"));
         return Call(ctx, &PrivacyService::Stub::DestroySubject, req,
                     [](const v1::DestroySubjectResponse& r) {
                       std::cout << "DESTROYED record " << r.destruction_record_id() << " at "
                                 << FormatTime(r.has_destroyed_time(), r.destroyed_time()) << '\n';
                     });
       }},
      {"depersonalize",
       "--subject-id ID --reason TEXT [--request-id ID] [--idempotency-key K]",
       "Depersonalize the subject (identity removed, counts kept); prints the record id.",
       {kSubjectId, kReason, kRequestId, kIdempotency},
       [](const Context& ctx, const Flags& f) {
         v1::DepersonalizeSubjectRequest req;
         req.set_subject_id(f.Require("subject-id"));
         req.set_reason(f.Require("reason"));
         req.set_request_id(f.Get("request-id"));
         req.set_idempotency_key(f.Get("idempotency-key"));
         return Call(ctx, &PrivacyService::Stub::DepersonalizeSubject, req,
                     [](const v1::DepersonalizeSubjectResponse& r) {
                       std::cout << "DEPERSONALIZED record " << r.destruction_record_id() << " at "
                                 << FormatTime(r.has_depersonalized_time(), r.depersonalized_time())
                                 << '\n';
                     });
       }},
      {"export",
       "--subject-id ID [--format text|json]",
       "Everything held about the subject: the readable document, or the JSON export.",
       {kSubjectId, {"format", "F", "text (default) or json"}},
       [](const Context& ctx, const Flags& f) {
         std::string format = f.Get("format", "text");
         if (format != "text" && format != "json") {
           throw UsageError("--format: expected text or json");
         }
         v1::ExportSubjectDataRequest req;
         req.set_subject_id(f.Require("subject-id"));
         return Call(ctx, &PrivacyService::Stub::ExportSubjectData, req,
                     [format](const v1::ExportSubjectDataResponse& r) {
                       std::cout << (format == "json" ? r.json() : r.document());
                       if (format == "json") std::cout << '\n';
                     });
       }},
      {"act",
       "<RECORD-ID> | --record-id ID",
       "Print the act of destruction with the operator's name and address.",
       {{"record-id", "ID", "the destruction record's id", false, nullptr, /*positional=*/true}},
       [](const Context& ctx, const Flags& f) {
         v1::GetDestructionActRequest req;
         req.set_record_id(f.Require("record-id"));
         return Call(ctx, &PrivacyService::Stub::GetDestructionAct, req,
                     [](const v1::GetDestructionActResponse& r) { std::cout << r.text(); });
       }},
      {"records",
       "[--since TIME] [--until TIME] [--page-size N] [--page-token T]",
       "Destruction records, newest first.",
       {{"since", "TIME", "RFC 3339, inclusive"},
        {"until", "TIME", "RFC 3339, exclusive"},
        {"page-size", "N", "default 50, at most 500"},
        {"page-token", "T", "from the previous page"}},
       [](const Context& ctx, const Flags& f) {
         v1::ListDestructionRecordsRequest req;
         if (auto t = TimeFlag(f, "since")) *req.mutable_since() = *t;
         if (auto t = TimeFlag(f, "until")) *req.mutable_until() = *t;
         req.set_page_size(IntFlag(f, "page-size"));
         req.set_page_token(f.Get("page-token"));
         return Call(ctx, &PrivacyService::Stub::ListDestructionRecords, req,
                     [](const v1::ListDestructionRecordsResponse& r) {
                       Table t;
                       t.AddRow({"PERFORMED", "ID", "BY", "REASON", "SUBJECT"});
                       for (const auto& d : r.records()) {
                         t.AddRow({FormatTime(d.has_performed_time(), d.performed_time()), d.id(),
                                   d.performed_by(), d.reason(), d.subject_full_name()});
                       }
                       t.Print(std::cout);
                       if (!r.next_page_token().empty()) {
                         std::cout << "next page: --page-token " << r.next_page_token() << '\n';
                       }
                     });
       }},
  };
}

}  // namespace

std::vector<Command> PrivacyErasureSubcommands() { return Subcommands(); }

}  // namespace herald::ctl
