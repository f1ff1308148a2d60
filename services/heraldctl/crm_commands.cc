// `heraldctl crm ...`: the first import of Creatio's contacts and the write-back queue that
// keeps the cards' "do not use" flags true.
#include "services/heraldctl/crm_commands.h"

#include <grpcpp/grpcpp.h>

#include <charconv>
#include <chrono>
#include <iostream>
#include <sstream>
#include <thread>

#include "herald/v1/crm.grpc.pb.h"
#include "services/heraldctl/print.h"

namespace herald::ctl {
namespace {

using v1::CrmService;

int64_t IdFlag(const Flags& f, const std::string& flag) {
  if (!f.Has(flag)) return 0;
  std::string v = f.Get(flag);
  int64_t id = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), id);
  if (ec != std::errc() || end != v.data() + v.size() || id <= 0) {
    throw UsageError("--" + flag + ": expected a positive whole number, got '" + v + "'");
  }
  return id;
}

std::string StateName(v1::CrmImport::State s) {
  return s == v1::CrmImport::STATE_UNSPECIFIED ? "-" : v1::CrmImport::State_Name(s);
}

void PrintImport(const v1::CrmImport& r) {
  PrintKeyValues(std::cout,
                 {{"id", std::to_string(r.id())},
                  {"dry run", r.dry_run() ? "yes (nothing was changed)" : "no"},
                  {"state", StateName(r.state())},
                  {"phase", r.phase()},
                  {"pages", std::to_string(r.pages())},
                  {"contacts in Creatio", r.total() > 0 ? std::to_string(r.total()) : "unknown"},
                  {"contacts read", std::to_string(r.contacts_seen())},
                  {"subjects created", std::to_string(r.subjects_created())},
                  {"subjects matched", std::to_string(r.subjects_matched())},
                  {"channel opt-outs", std::to_string(r.opt_outs())},
                  {"topic opt-outs", std::to_string(r.topic_opt_outs())},
                  {"consents recorded", r.consent().channels().empty()
                                            ? "none asked"
                                            : std::to_string(r.consents()) + " (document " +
                                                  r.consent().proof().document_version() + ")"},
                  {"skipped", std::to_string(r.skipped())},
                  {"error", r.error().empty() ? "-" : r.error()},
                  {"started", FormatTime(r.has_start_time(), r.start_time())},
                  {"updated", FormatTime(r.has_update_time(), r.update_time())},
                  {"finished", FormatTime(r.has_finish_time(), r.finish_time())}});
}

// "page 3: 1500 of 4000 contacts, 12 opt-outs"
std::string Progress(const v1::CrmImport& r) {
  std::string s = "page " + std::to_string(r.pages()) + ": " + std::to_string(r.contacts_seen());
  if (r.total() > 0) s += " of " + std::to_string(r.total());
  s += " contacts, " + std::to_string(r.opt_outs()) + " opt-outs";
  if (r.phase() == "subscriptions") {
    s += ", " + std::to_string(r.topic_opt_outs()) + " topic opt-outs (reading subscriptions)";
  }
  return s;
}

grpc::Status GetImport(const Context& ctx, int64_t id, v1::CrmImport* out) {
  CrmService::Stub stub(ctx.channel);
  grpc::ClientContext call;
  ctx.Prepare(&call);
  v1::GetImportRequest req;
  req.set_id(id);
  return stub.GetImport(&call, req, out);
}

// Follows the import until it ends, printing progress to stderr; then the report.
int Follow(const Context& ctx, v1::CrmImport imp) {
  std::string last;
  while (imp.state() == v1::CrmImport::RUNNING) {
    std::string line = Progress(imp);
    if (line != last) std::cerr << line << '\n';
    last = line;
    std::this_thread::sleep_for(std::chrono::seconds(1));
    auto status = GetImport(ctx, imp.id(), &imp);
    if (!status.ok()) return Fail(status);
  }
  int rc = Output(ctx, imp, [&] { PrintImport(imp); });
  if (rc != kExitOk) return rc;
  if (imp.state() != v1::CrmImport::DONE) {
    std::cerr << "heraldctl: the import ended " << StateName(imp.state())
              << (imp.error().empty() ? "" : ": " + imp.error()) << '\n';
    return kExitCallFailed;
  }
  return kExitOk;
}

int Import(const Context& ctx, const Flags& f) {
  CrmService::Stub stub(ctx.channel);
  grpc::ClientContext call;
  ctx.Prepare(&call);
  v1::StartImportRequest req;
  req.set_dry_run(f.Has("dry-run"));
  if (f.Has("consent")) {
    // "email,sms": the channels the operator's proof covers.
    std::istringstream list(f.Get("consent"));
    for (std::string name; std::getline(list, name, ',');) {
      v1::Channel ch;
      if (!v1::Channel_Parse(Upper(name), &ch) ||
          (ch != v1::EMAIL && ch != v1::SMS && ch != v1::CALL)) {
        throw UsageError("--consent: expected channels among email, sms, call, got '" + name + "'");
      }
      req.mutable_consent()->add_channels(ch);
    }
    auto* proof = req.mutable_consent()->mutable_proof();
    proof->set_document_version(f.Get("consent-document"));
    proof->set_form_id(f.Get("consent-form"));
    if (auto t = TimeFlag(f, "consent-time")) *proof->mutable_occurred_at() = *t;
  } else if (f.Has("consent-document") || f.Has("consent-form") || f.Has("consent-time")) {
    throw UsageError("--consent-document, --consent-form and --consent-time go with --consent");
  }
  v1::CrmImport imp;
  auto status = stub.StartImport(&call, req, &imp);
  if (status.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
    // One import runs at a time: attach to it rather than fail (a second terminal, or a
    // re-run after the first heraldctl was interrupted).
    v1::CrmImport running;
    if (!GetImport(ctx, 0, &running).ok() || running.state() != v1::CrmImport::RUNNING) {
      return Fail(status);
    }
    imp = running;
    std::cerr << "an import is already running (id " << imp.id()
              << (imp.dry_run() ? ", dry run" : "") << "): following it\n";
  } else if (!status.ok()) {
    return Fail(status);
  }
  if (f.Has("detach")) {
    return Output(ctx, imp, [&] { std::cout << imp.id() << '\n'; });
  }
  return Follow(ctx, imp);
}

int Resync(const Context& ctx, const Flags& f) {
  bool one = OneOf(f, "subject-id", "all");
  v1::ResyncContactsRequest req;
  if (one) {
    req.set_subject_id(f.Get("subject-id"));
  } else {
    req.set_all(true);
  }
  req.set_page_size(IntFlag(f, "page-size"));
  CrmService::Stub stub(ctx.channel);
  v1::ResyncContactsResponse sum;
  for (;;) {
    grpc::ClientContext call;
    ctx.Prepare(&call);
    v1::ResyncContactsResponse resp;
    auto status = stub.ResyncContacts(&call, req, &resp);
    if (!status.ok()) return Fail(status);
    sum.set_enqueued(sum.enqueued() + resp.enqueued());
    sum.set_total(resp.total());
    if (one || resp.next_page_token().empty()) break;
    std::cerr << "enqueued " << sum.enqueued() << " of " << sum.total() << '\n';
    req.set_page_token(resp.next_page_token());
  }
  return Output(ctx, sum, [&] {
    std::cout << "enqueued " << sum.enqueued() << " contact(s) for writing back\n";
  });
}

std::vector<Command> Subcommands() {
  const FlagSpec id{"id", "N", "the import's id"};
  return {
      {"import",
       "[--dry-run] [--detach] [--consent CHANNELS --consent-document V [--consent-form F] "
       "[--consent-time T]]",
       "Import Creatio's contacts and their opt-outs; shows progress, then the counts.",
       {{"dry-run", "", "read and count only, change nothing"},
        {"detach", "", "print the import's id and return; it goes on in heraldd"},
        {"consent", "CHANNELS",
         "email,sms,call: record marketing consent on these channels for every contact whose "
         "card does not flag them (only with proof you hold)"},
        {"consent-document", "V", "the consent document's version the contacts agreed to"},
        {"consent-form", "F", "where the consent was collected (default crm-import-<id>)"},
        {"consent-time", "T", "when the contacts agreed (RFC 3339; default: when recorded)"}},
       Import,
       true,
       "Pages through Creatio's contacts and then its Unsubscribed e-mail subscriptions. "
       "Every contact becomes a subject without consent (unless --consent names the channels "
       "a consent document you hold covers); every DoNotUse* flag an opt-out of "
       "that channel, every Unsubscribed subscription of a mapped type a topic opt-out (source "
       "CRM). The import is resumable: it runs in heraldd, and a restart goes on from the last "
       "page. If one is already running, this follows it. Exit status 1 unless it ends DONE."},
      {"import-status",
       "[--id N]",
       "One import's counts (the newest without --id).",
       {{"id", "N", "the import's id (default: the newest)"}},
       [](const Context& ctx, const Flags& f) {
         v1::GetImportRequest req;
         req.set_id(IdFlag(f, "id"));
         return Call(ctx, &CrmService::Stub::GetImport, req,
                     [](const v1::CrmImport& r) { PrintImport(r); });
       }},
      {"cancel-import",
       "--id N",
       "Stop a running import after its current page.",
       {id},
       [](const Context& ctx, const Flags& f) {
         f.Require("id");
         v1::CancelImportRequest req;
         req.set_id(IdFlag(f, "id"));
         return Call(ctx, &CrmService::Stub::CancelImport, req,
                     [](const v1::CrmImport& r) { PrintImport(r); });
       }},
      {"status",
       "",
       "The write-back queue: depth, oldest change's age, parked and dead rows.",
       {},
       [](const Context& ctx, const Flags&) {
         return Call(
             ctx, &CrmService::Stub::GetWriteBackStatus, v1::GetWriteBackStatusRequest{},
             [](const v1::WriteBackStatus& s) {
               PrintKeyValues(
                   std::cout,
                   {{"enabled", s.enabled() ? "yes" : "no (crm.enabled is off)"},
                    {"pending", std::to_string(s.pending())},
                    {"oldest age", std::to_string(s.oldest_age_seconds()) + " s"},
                    {"parked", std::to_string(s.parked())},
                    {"parked (login refused)", std::to_string(s.parked_auth())},
                    {"dead (contact gone)", std::to_string(s.dead())},
                    {"queue", s.queue_parked() ? "PARKED: run `heraldctl crm retry`" : "flowing"},
                    {"last error", s.last_error().empty() ? "-" : s.last_error()}});
             });
       }},
      {"retry",
       "[--include-dead]",
       "Put parked write-backs (and dead ones, when asked) back in the queue.",
       {{"include-dead", "", "also the rows of contacts Creatio answered 404 for"}},
       [](const Context& ctx, const Flags& f) {
         v1::RetryWriteBacksRequest req;
         req.set_include_dead(f.Has("include-dead"));
         return Call(ctx, &CrmService::Stub::RetryWriteBacks, req,
                     [](const v1::RetryWriteBacksResponse& r) {
                       std::cout << "retrying " << r.retried() << " write-back(s)\n";
                     });
       }},
      {"resync",
       "(--subject-id ID | --all) [--page-size N]",
       "Write one contact's card again, or every linked contact's, from Herald's state.",
       {{"subject-id", "ID", "the subject's id (UUID)"},
        {"all", "", "every subject linked to a Creatio contact"},
        {"page-size", "N", "with --all: contacts per call (default 1000)"}},
       Resync},
      {"check",
       "",
       "Log in to Creatio and check every configured entity and field in $metadata.",
       {},
       [](const Context& ctx, const Flags&) {
         CrmService::Stub stub(ctx.channel);
         grpc::ClientContext call;
         ctx.Prepare(&call);
         v1::CheckCrmResponse resp;
         auto status = stub.CheckCrm(&call, v1::CheckCrmRequest{}, &resp);
         if (!status.ok()) return Fail(status);
         int rc = Output(ctx, resp, [&] {
           if (resp.ok()) std::cout << "ok: Creatio answers and knows every configured name\n";
           for (const auto& p : resp.problems()) std::cout << "problem: " << p << '\n';
         });
         return rc != kExitOk ? rc : (resp.ok() ? kExitOk : kExitCallFailed);
       }},
  };
}

}  // namespace

Command CrmCommand() {
  Command group{"crm",
                "",
                "The Creatio connector: import, import-status, cancel-import, status, retry, "
                "resync, check.",
                {},
                nullptr};
  group.subcommands = Subcommands();
  return group;
}

}  // namespace herald::ctl
