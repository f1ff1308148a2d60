// `heraldctl campaign create|add-recipients|get-upload|start|pause|resume|cancel|get|list`.
#include "services/heraldctl/campaign_commands.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "herald/v1/dispatch.grpc.pb.h"
#include "services/heraldctl/print.h"
#include "services/heraldctl/recipients_csv.h"
#include "services/heraldctl/shared_flags.h"

namespace herald::ctl {
namespace {

using v1::DispatchService;

// Rows per AddRecipients message: big enough to keep the stream busy, small enough that the
// progress bar moves.
constexpr size_t kRowsPerMessage = 1000;

std::string ReadFile(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("--" + flag + ": cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw UsageError("--" + flag + ": cannot read '" + path + "'");
  return ss.str();
}

// A content part given inline (--text) or from a file (--text-file); "" when neither.
std::string ContentPart(const Flags& f, const std::string& name) {
  std::string file_flag = name + "-file";
  if (f.Has(name) && f.Has(file_flag)) {
    throw UsageError("give --" + name + " or --" + file_flag + ", not both");
  }
  if (f.Has(file_flag)) return ReadFile(file_flag, f.Get(file_flag));
  return f.Get(name);
}

// "RUNNING"; CANCELLED_CAMPAIGN (named so only to differ from the message status) as
// "CANCELLED".
std::string StatusName(v1::CampaignStatus s) {
  if (s == v1::CANCELLED_CAMPAIGN) return "CANCELLED";
  std::string name = v1::CampaignStatus_Name(s);
  return name.empty() ? std::to_string(static_cast<int>(s)) : name;
}

std::string Rate(double per_second) {
  if (per_second == 0) return "no limit";
  std::ostringstream out;
  out << per_second << "/s";
  return out.str();
}

std::string Percent(double share) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << share * 100 << '%';
  return out.str();
}

// A count map as "NAME  N" rows, largest first; the key's case as the server's enums.
void PrintCounts(std::ostream& out, const std::string& title,
                 const google::protobuf::Map<std::string, int64_t>& counts) {
  std::vector<std::pair<std::string, int64_t>> rows(counts.begin(), counts.end());
  std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  out << title << ":" << (rows.empty() ? " -" : "") << '\n';
  Table t;
  for (const auto& [name, n] : rows) t.AddRow({"  " + Upper(name), std::to_string(n)});
  t.Print(out);
}

void PrintCampaign(std::ostream& out, const v1::Campaign& c) {
  std::string vars;
  for (const auto& v : c.variables()) vars += (vars.empty() ? "" : ",") + v;
  PrintKeyValues(out, {{"id", c.id()},
                       {"name", c.name()},
                       {"status", StatusName(c.status())},
                       {"channel", v1::Channel_Name(c.channel())},
                       {"topic", c.topic()},
                       {"variables", vars.empty() ? "-" : vars},
                       {"rate", Rate(c.rate_per_second())},
                       {"start at", FormatTime(c.has_start_time(), c.start_time())},
                       {"created", FormatTime(c.has_create_time(), c.create_time())},
                       {"started", FormatTime(c.has_started_time(), c.started_time())},
                       {"finished", FormatTime(c.has_finished_time(), c.finished_time())},
                       {"recipients", std::to_string(c.recipients())},
                       {"waiting to be resolved", std::to_string(c.pending_recipients())},
                       {"progress", Percent(c.progress())},
                       {"complaints", std::to_string(c.complaints())}});
  PrintCounts(out, "by status", c.counts_by_status());
  PrintCounts(out, "by deny reason", c.counts_by_deny_reason());
  for (const auto& u : c.uploads()) {
    out << "upload " << u.id() << ": "
        << (u.state() == v1::UPLOAD_RESOLVED ? "resolved" : "received") << ", " << u.received()
        << " received, " << u.added() << " added, " << u.duplicates() << " duplicates, "
        << u.skipped() << " skipped\n";
  }
}

int Create(const Context& ctx, const Flags& f) {
  v1::CreateCampaignRequest req;
  req.set_idempotency_key(f.Require("idempotency-key"));
  req.set_name(f.Require("name"));
  req.set_topic(f.Require("topic"));
  req.set_channel(EnumFlag<v1::Channel>(f, "channel", v1::Channel_Parse));
  v1::Content* c = req.mutable_content();
  c->set_subject(ContentPart(f, "subject"));
  c->set_text(ContentPart(f, "text"));
  c->set_html(ContentPart(f, "html"));
  if (c->text().empty()) throw UsageError("--text-file (or --text) is required");
  if (req.channel() == v1::EMAIL && c->subject().empty()) {
    throw UsageError("--subject (or --subject-file) is required for EMAIL");
  }
  for (const auto& v : f.GetAll("var")) req.add_variables(v);
  if (auto t = TimeFlag(f, "start-at")) *req.mutable_start_time() = *t;
  if (f.Has("rate")) {
    std::string v = f.Get("rate");
    size_t used = 0;
    double rate = -1;
    try {
      rate = std::stod(v, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != v.size() || !(rate >= 0)) {
      throw UsageError("--rate: expected messages per second (0 for no limit), got '" + v + "'");
    }
    req.set_rate_per_second(rate);
  }
  return Call(ctx, &DispatchService::Stub::CreateCampaign, req,
              [](const v1::CreateCampaignResponse& r) { PrintCampaign(std::cout, r.campaign()); });
}

// A bar on stderr, redrawn in place, only when stderr is a terminal.
class ProgressBar {
 public:
  explicit ProgressBar(size_t total) : total_(total), shown_(isatty(STDERR_FILENO) == 1) {}
  ~ProgressBar() { Done(); }

  void Update(size_t done) {
    if (!shown_) return;
    int percent = total_ ? static_cast<int>(done * 100 / total_) : 100;
    if (percent == last_percent_ && done != total_) return;
    last_percent_ = percent;
    constexpr int kWidth = 30;
    int filled = percent * kWidth / 100;
    std::cerr << "\rsending recipients [" << std::string(filled, '#')
              << std::string(kWidth - filled, '.') << "] " << std::setw(3) << percent << "% "
              << done << '/' << total_ << std::flush;
    drawn_ = true;
  }

  void Done() {
    if (drawn_) std::cerr << '\n' << std::flush;
    drawn_ = false;
  }

 private:
  size_t total_;
  bool shown_;
  bool drawn_ = false;
  int last_percent_ = -1;
};

// An upload's state and counts, without its errors.
void PrintUpload(std::ostream& out, const v1::RecipientUpload& u) {
  PrintKeyValues(out, {{"upload", u.id()},
                       {"state", u.state() == v1::UPLOAD_RESOLVED ? "resolved" : "received"},
                       {"received", std::to_string(u.received())},
                       {"added", std::to_string(u.added())},
                       {"duplicates", std::to_string(u.duplicates())},
                       {"skipped", std::to_string(u.skipped())}});
  for (const auto& [reason, n] : u.skipped_by_reason()) out << "  " << reason << ": " << n << '\n';
}

int AddRecipients(const Context& ctx, const Flags& f) {
  std::string campaign_id = f.Require("campaign-id");
  RecipientsCsv csv;
  std::string file = f.Get("file", "-");
  if (file == "-") {
    if (isatty(STDIN_FILENO)) {
      std::cerr << "heraldctl: reading recipients (CSV) from standard input; end with Ctrl-D\n";
    }
    csv = ReadRecipientsCsv(std::cin, "standard input");
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw UsageError("--file: cannot read '" + file + "'");
    csv = ReadRecipientsCsv(in, file);
  }

  DispatchService::Stub stub(ctx.channel);
  // The campaign's declared variables, so that a file missing one, or with a column that is
  // none, fails here by name instead of every row being skipped by the server.
  {
    grpc::ClientContext call;
    ctx.Prepare(&call);
    v1::GetCampaignRequest req;
    req.set_campaign_id(campaign_id);
    v1::Campaign campaign;
    grpc::Status status = stub.GetCampaign(&call, req, &campaign);
    if (!status.ok()) return Fail(status);
    for (const auto& v : campaign.variables()) {
      if (std::find(csv.variables.begin(), csv.variables.end(), v) == csv.variables.end()) {
        throw UsageError("the campaign declares variable '" + v + "' and the input has no '" + v +
                         "' column");
      }
    }
    for (const auto& v : csv.variables) {
      if (std::find(campaign.variables().begin(), campaign.variables().end(), v) ==
          campaign.variables().end()) {
        throw UsageError("column '" + v +
                         "' is neither subject_id, external_id, address nor a variable the "
                         "campaign declares");
      }
    }
  }

  grpc::ClientContext call;
  ctx.Prepare(&call);
  v1::AddRecipientsResponse resp;
  auto writer = stub.AddRecipients(&call, &resp);
  ProgressBar bar(csv.rows.size());
  size_t sent = 0;
  bool open = true;
  do {
    v1::AddRecipientsRequest msg;
    if (sent == 0) msg.set_campaign_id(campaign_id);
    size_t end = std::min(csv.rows.size(), sent + kRowsPerMessage);
    for (; sent < end; ++sent) *msg.add_rows() = std::move(csv.rows[sent]);
    // A refused write means the server ended the stream; Finish says why.
    open = writer->Write(msg);
    bar.Update(sent);
  } while (open && sent < csv.rows.size());
  if (open) writer->WritesDone();
  grpc::Status status = writer->Finish();
  bar.Done();
  if (!status.ok()) return Fail(status);
  // The server counts rows in stream order, which is the file's order.
  auto where = [&csv](int64_t row) {
    size_t i = static_cast<size_t>(row - 1);
    return row >= 1 && i < csv.lines.size() ? "line " + std::to_string(csv.lines[i])
                                            : "row " + std::to_string(row);
  };
  if (f.Has("no-wait")) {
    return Output(ctx, resp, [&] {
      PrintKeyValues(std::cout, {{"upload", resp.upload_id()},
                                 {"received", std::to_string(resp.received())},
                                 {"skipped on receipt", std::to_string(resp.skipped())}});
      for (const auto& [reason, n] : resp.skipped_by_reason()) {
        std::cout << "  " << reason << ": " << n << '\n';
      }
      for (const auto& e : resp.errors()) std::cout << where(e.row()) << ": " << e.reason() << '\n';
      std::cout << "resolving in the background: heraldctl campaign get-upload " << campaign_id
                << " --upload-id " << resp.upload_id() << '\n';
    });
  }
  // The rows are resolved in the background; their report is the upload's.
  if (isatty(STDERR_FILENO)) std::cerr << "received " << resp.received() << " rows; resolving\n";
  v1::GetRecipientUploadRequest ask;
  ask.set_campaign_id(campaign_id);
  ask.set_upload_id(resp.upload_id());
  v1::RecipientUpload upload;
  for (;;) {
    grpc::ClientContext poll;
    ctx.Prepare(&poll);
    grpc::Status got = stub.GetRecipientUpload(&poll, ask, &upload);
    if (!got.ok()) return Fail(got);
    if (upload.state() == v1::UPLOAD_RESOLVED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return Output(ctx, upload, [&] {
    PrintUpload(std::cout, upload);
    for (const auto& e : upload.errors()) {
      std::cout << where(e.row()) << ": " << e.reason() << '\n';
    }
  });
}

int GetUpload(const Context& ctx, const Flags& f) {
  v1::GetRecipientUploadRequest req;
  req.set_campaign_id(f.Require("campaign-id"));
  req.set_upload_id(f.Require("upload-id"));
  return Call(ctx, &DispatchService::Stub::GetRecipientUpload, req,
              [](const v1::RecipientUpload& u) {
                PrintUpload(std::cout, u);
                for (const auto& e : u.errors()) {
                  std::cout << "row " << e.row() << ": " << e.reason() << '\n';
                }
              });
}

// start, pause, resume, cancel and get take a campaign id and print the campaign.
template <typename Req>
Handler CampaignCall(grpc::Status (DispatchService::Stub::*rpc)(grpc::ClientContext*, const Req&,
                                                                v1::Campaign*)) {
  return [rpc](const Context& ctx, const Flags& f) {
    Req req;
    req.set_campaign_id(f.Require("campaign-id"));
    return Call(ctx, rpc, req, [](const v1::Campaign& c) { PrintCampaign(std::cout, c); });
  };
}

int List(const Context& ctx, const Flags& f) {
  v1::ListCampaignsRequest req;
  req.set_page_size(IntFlag(f, "page-size"));
  req.set_page_token(f.Get("page-token"));
  return Call(
      ctx, &DispatchService::Stub::ListCampaigns, req, [](const v1::ListCampaignsResponse& r) {
        Table t;
        t.AddRow({"ID", "STATUS", "CHANNEL", "TOPIC", "RECIPIENTS", "PROGRESS", "CREATED", "NAME"});
        for (const auto& c : r.campaigns()) {
          t.AddRow({c.id(), StatusName(c.status()), v1::Channel_Name(c.channel()), c.topic(),
                    std::to_string(c.recipients()), Percent(c.progress()),
                    FormatTime(c.has_create_time(), c.create_time()), c.name()});
        }
        t.Print(std::cout);
        PrintNextPage(std::cout, r.next_page_token());
      });
}

}  // namespace

Command CampaignCommand() {
  const FlagSpec campaign_id{"campaign-id",      "ID", "the campaign's id (UUID)", false, nullptr,
                             /*positional=*/true};
  FlagSpec idempotency = kIdempotencyFlag;
  idempotency.help = "required; " + idempotency.help;
  const std::string shows = "Prints the campaign with its counts.";
  Command group{"campaign",
                "",
                "Campaigns: create, add-recipients, get-upload, start, pause, resume, cancel, get, "
                "list.",
                {},
                nullptr};
  group.subcommands = {
      {"create",
       "--idempotency-key K --name N --channel EMAIL|SMS --topic T "
       "[--subject S | --subject-file F] (--text-file F | --text TEXT) "
       "[--html-file F | --html HTML] [--var NAME]... [--start-at TIME] [--rate N]",
       "Create a draft campaign, its content read from files.",
       {idempotency,
        {"name", "N", "required; for operators, never shown to recipients"},
        EnumSpec("channel", "CHANNEL", "required", v1::Channel_descriptor()),
        {"topic", "T", "required; see `topics`"},
        {"subject", "S", "e-mail subject (EMAIL: this or --subject-file)"},
        {"subject-file", "FILE", "file holding the e-mail subject"},
        {"text", "TEXT", "e-mail text part or SMS body"},
        {"text-file", "FILE", "file holding the e-mail text part or SMS body"},
        {"html", "HTML", "e-mail HTML part"},
        {"html-file", "FILE", "file holding the e-mail HTML part"},
        {"var", "NAME", "a per-recipient variable the content uses", true},
        {"start-at", "TIME", "RFC 3339; `start` then schedules it (default: start at once)"},
        {"rate", "N", "messages per second (default 0: as fast as providers allow)"}},
       Create,
       true,
       "Subject, text and html are Mustache templates. Built-in variables: surname, given_name,\n"
       "patronymic, locale, unsubscribe_url, preferences_url; each --var NAME declares one more\n"
       "that every recipient row must give (a column of the add-recipients input).\n"},
      {"add-recipients",
       "--campaign-id ID [--file FILE] (default: standard input)",
       "Add recipients from a CSV file or standard input (a progress bar on a terminal).",
       {campaign_id,
        {"file", "FILE", "the CSV file; - or none for standard input"},
        {"no-wait", "", "print what was received and leave the resolution to the background"}},
       AddRecipients,
       true,
       std::string(kRecipientsCsvHelp) +
           "The whole input is one call: raise --timeout for large files. The rows are then\n"
           "resolved in the background (CRM ids, primary addresses, duplicates); the command\n"
           "waits for that and prints the upload's report, skipped rows by line.\n"},
      {"get-upload",
       "--campaign-id ID --upload-id U",
       "Show an upload's report: received, added, duplicates, skipped rows by reason and row.",
       {campaign_id, {"upload-id", "U", "the upload's id (add-recipients prints it)"}},
       GetUpload},
      {"start",
       "--campaign-id ID",
       "Start a draft campaign (scheduled when it has a start time in the future).",
       {campaign_id},
       CampaignCall(&DispatchService::Stub::StartCampaign),
       true,
       shows},
      {"pause",
       "--campaign-id ID",
       "Pause a running or scheduled campaign.",
       {campaign_id},
       CampaignCall(&DispatchService::Stub::PauseCampaign),
       true,
       shows},
      {"resume",
       "--campaign-id ID",
       "Resume a paused campaign.",
       {campaign_id},
       CampaignCall(&DispatchService::Stub::ResumeCampaign),
       true,
       shows},
      {"cancel",
       "--campaign-id ID",
       "Cancel a campaign; its messages not yet sent are cancelled.",
       {campaign_id},
       CampaignCall(&DispatchService::Stub::CancelCampaign),
       true,
       shows},
      {"get",
       "--campaign-id ID",
       "Show a campaign with live counts by message status and by deny reason.",
       {campaign_id},
       CampaignCall(&DispatchService::Stub::GetCampaign)},
      {"list", "[--page-size N] [--page-token T]",
       "List campaigns: id, status, channel, topic, recipients, progress, created, name.",
       kPagingFlags, List},
  };
  return group;
}

}  // namespace herald::ctl
