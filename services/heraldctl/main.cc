// heraldctl: the operator's command-line client of herald.v1.SubscriptionService and the
// message RPCs of herald.v1.DispatchService.
//
//   heraldctl [global flags] <command> [flags]
//
// One command per RPC, plus `health`. Human-readable output by default, JSON with --json.
// Exit status: 0 success, 1 failed call (or health not SERVING), 2 usage error.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "services/heraldctl/flags.h"
#include "services/heraldctl/inbound_mail_command.h"
#include "services/heraldctl/print.h"
#include "services/heraldctl/privacy_commands.h"

namespace herald::ctl {
namespace {

using v1::DispatchService;
using v1::SubscriptionService;
namespace health = ::grpc::health::v1;

constexpr char kDefaultAddr[] = "127.0.0.1:50051";
constexpr size_t kMaxBatchRecipients = 10000;  // CheckEligibilityBatchRequest.recipients
constexpr double kMaxTimeoutSeconds = 24 * 3600;

// What every command needs to make its call.
struct Env {
  std::string key;
  bool json = false;
  std::chrono::milliseconds timeout{10000};
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<SubscriptionService::Stub> stub;
  std::unique_ptr<DispatchService::Stub> dispatch;

  // The stub of the service whose RPCs are members of Stub.
  template <typename Stub>
  Stub& StubFor() const {
    if constexpr (std::is_same_v<Stub, DispatchService::Stub>) {
      return *dispatch;
    } else {
      static_assert(std::is_same_v<Stub, SubscriptionService::Stub>);
      return *stub;
    }
  }

  void Prepare(grpc::ClientContext* ctx, bool authenticate) const {
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    if (authenticate) ctx->AddMetadata("authorization", "Bearer " + key);
  }
};

using Handler = int (*)(Env&, const Flags&);

struct Command {
  std::string name;
  std::string synopsis;  // the flags part of the usage line
  std::string summary;
  std::vector<FlagSpec> flags;
  Handler run;
  bool needs_key = true;
  std::string details = "";  // more help text, shown by `<command> --help`
};

// ---------------------------------------------------------------------------------------
// Calls and output

int Fail(const grpc::Status& s) {
  std::cerr << "heraldctl: " << StatusCodeName(s.error_code()) << ": " << s.error_message() << '\n';
  return 1;
}

// Prints `resp` as JSON under --json, otherwise through `human`.
int Output(const Env& env, const google::protobuf::Message& resp,
           const std::function<void()>& human) {
  if (!env.json) {
    human();
    return 0;
  }
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = false;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(resp, &json, options);
  if (!status.ok()) {
    std::cerr << "heraldctl: cannot print the response as JSON: " << status.ToString() << '\n';
    return 1;
  }
  std::cout << json << '\n';
  return 0;
}

template <typename Stub, typename Req, typename Resp>
using Rpc = grpc::Status (Stub::*)(grpc::ClientContext*, const Req&, Resp*);

// Makes one authenticated SubscriptionService or DispatchService call and prints its answer
// with `print`.
template <typename Stub, typename Req, typename Resp, typename PrintFn>
int Run(const Env& env, Rpc<Stub, Req, Resp> rpc, const Req& req, PrintFn print) {
  grpc::ClientContext ctx;
  env.Prepare(&ctx, /*authenticate=*/true);
  Resp resp;
  grpc::Status status = (env.StubFor<Stub>().*rpc)(&ctx, req, &resp);
  if (!status.ok()) return Fail(status);
  return Output(env, resp, [&] { print(resp); });
}

// ---------------------------------------------------------------------------------------
// Flag values

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Parses an enum value name case-insensitively with the generated E_Parse function.
// The zero "..._UNSPECIFIED" value is not accepted: a flag given must mean something.
template <typename E, typename ParseFn>
E ParseEnum(const std::string& flag, const std::string& given, ParseFn parse) {
  E value{};
  if (!parse(Upper(given), &value) || static_cast<int>(value) == 0) {
    throw UsageError("--" + flag + ": unknown value '" + given + "' (expected " +
                     EnumChoices(google::protobuf::GetEnumDescriptor<E>()) + ")");
  }
  return value;
}

// A required enum flag.
template <typename E, typename ParseFn>
E EnumFlag(const Flags& f, const std::string& flag, ParseFn parse) {
  return ParseEnum<E>(flag, f.Require(flag), parse);
}

// A non-negative int32 flag; 0 when not given.
int32_t IntFlag(const Flags& f, const std::string& flag) {
  if (!f.Has(flag)) return 0;
  std::string v = f.Get(flag);
  int32_t out = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || end != v.data() + v.size() || out < 0) {
    throw UsageError("--" + flag + ": expected a non-negative number, got '" + v + "'");
  }
  return out;
}

// Exactly one of two alternative flags; returns true for the first.
bool OneOf(const Flags& f, const std::string& a, const std::string& b) {
  if (f.Has(a) == f.Has(b)) throw UsageError("give exactly one of --" + a + " and --" + b);
  return f.Has(a);
}

v1::Proof ProofFromFlags(const Flags& f) {
  v1::Proof p;
  p.set_source(EnumFlag<v1::Source>(f, "source", v1::Source_Parse));
  p.set_form_id(f.Get("form-id"));
  p.set_document_version(f.Get("document-version"));
  if (f.Has("occurred-at") && !google::protobuf::util::TimeUtil::FromString(
                                  f.Get("occurred-at"), p.mutable_occurred_at())) {
    throw UsageError("--occurred-at: not an RFC 3339 time like 2024-05-01T12:00:00Z");
  }
  p.set_ip(f.Get("ip"));
  p.set_user_agent(f.Get("user-agent"));
  return p;
}

// --subject-id and/or --address.
v1::Recipient RecipientFromFlags(const Flags& f) {
  if (!f.Has("subject-id") && !f.Has("address")) {
    throw UsageError("give --subject-id, --address or both");
  }
  v1::Recipient r;
  r.set_subject_id(f.Get("subject-id"));
  r.set_address(f.Get("address"));
  return r;
}

// Fills what `send` and `preview` share: recipient, channel, topic, content and variables.
// The channel/content rules are the server's, checked here to fail before the call.
template <typename Req>
void MessageFromFlags(const Flags& f, Req* req) {
  *req->mutable_recipient() = RecipientFromFlags(f);
  std::string given = f.Require("channel");
  v1::Channel channel{};
  if (!v1::Channel_Parse(Upper(given), &channel) ||
      (channel != v1::EMAIL && channel != v1::SMS)) {
    throw UsageError("--channel: expected EMAIL or SMS, got '" + given + "'");
  }
  req->set_channel(channel);
  req->set_topic(f.Require("topic"));
  v1::Content* c = req->mutable_content();
  c->set_text(f.Require("text"));
  if (channel == v1::EMAIL) {
    c->set_subject(f.Require("subject"));
    c->set_html(f.Get("html"));
  } else if (f.Has("subject") || f.Has("html")) {
    throw UsageError("--subject and --html are for e-mail; an SMS is --text only");
  }
  auto* vars = req->mutable_variables();
  for (const auto& spec : f.GetAll("var")) {
    size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError("--var: expected NAME=VALUE, got '" + spec + "'");
    }
    std::string name = spec.substr(0, eq);
    if (!vars->insert({name, spec.substr(eq + 1)}).second) {
      throw UsageError("--var: " + name + " given more than once");
    }
  }
}

// ---------------------------------------------------------------------------------------
// Commands

int Health(Env& env, const Flags& f) {
  auto stub = health::Health::NewStub(env.channel);
  health::HealthCheckRequest req;
  req.set_service(f.Get("service"));  // "" asks about the server as a whole
  health::HealthCheckResponse resp;
  grpc::ClientContext ctx;
  env.Prepare(&ctx, /*authenticate=*/false);
  grpc::Status status = stub->Check(&ctx, req, &resp);
  if (!status.ok()) return Fail(status);
  int rc = Output(env, resp, [&] {
    std::cout << health::HealthCheckResponse_ServingStatus_Name(resp.status()) << '\n';
  });
  return rc == 0 && resp.status() == health::HealthCheckResponse::SERVING ? 0 : 1;
}

int UpsertSubject(Env& env, const Flags& f) {
  v1::UpsertSubjectRequest req;
  req.set_idempotency_key(f.Get("idempotency-key"));
  req.set_external_id(f.Get("external-id"));
  req.set_surname(f.Get("surname"));
  req.set_given_name(f.Get("given-name"));
  req.set_patronymic(f.Get("patronymic"));
  req.set_locale(f.Get("locale"));
  for (const auto& e : f.GetAll("email")) req.add_emails(e);
  for (const auto& p : f.GetAll("phone")) req.add_phones(p);
  if (f.Has("source")) req.set_source(EnumFlag<v1::Source>(f, "source", v1::Source_Parse));
  return Run(env, &SubscriptionService::Stub::UpsertSubject, req,
             [](const v1::UpsertSubjectResponse& r) {
               PrintSubject(std::cout, r.subject(), r.created() ? "created" : "updated");
             });
}

int GetSubject(Env& env, const Flags& f) {
  v1::GetSubjectRequest req;
  req.set_subject_id(f.Require("subject-id"));
  return Run(env, &SubscriptionService::Stub::GetSubject, req,
             [](const v1::GetSubjectResponse& r) { PrintSubject(std::cout, r.subject()); });
}

int FindSubjects(Env& env, const Flags& f) {
  v1::FindSubjectsRequest req;
  if (OneOf(f, "address", "external-id")) {
    req.set_address(f.Get("address"));
  } else {
    req.set_external_id(f.Get("external-id"));
  }
  req.set_page_size(IntFlag(f, "page-size"));
  req.set_page_token(f.Get("page-token"));
  return Run(env, &SubscriptionService::Stub::FindSubjects, req,
             [](const v1::FindSubjectsResponse& r) {
               PrintSubjectList(std::cout, r.subjects());
               PrintNextPage(std::cout, r.next_page_token());
             });
}

int RecordConsent(Env& env, const Flags& f) {
  v1::RecordConsentRequest req;
  req.set_idempotency_key(f.Get("idempotency-key"));
  req.set_subject_id(f.Require("subject-id"));
  req.set_kind(EnumFlag<v1::ConsentKind>(f, "kind", v1::ConsentKind_Parse));
  if (f.Has("channel")) req.set_channel(EnumFlag<v1::Channel>(f, "channel", v1::Channel_Parse));
  req.set_granted(OneOf(f, "grant", "withdraw"));
  *req.mutable_proof() = ProofFromFlags(f);
  return Run(env, &SubscriptionService::Stub::RecordConsent, req,
             [](const v1::RecordConsentResponse& r) { PrintConsent(std::cout, r.consent()); });
}

// "TOPIC:CHANNEL:on|off"; the topic is everything before the last two colons.
v1::PreferenceChange ParsePreferenceChange(const std::string& spec) {
  const std::string bad = "--set: expected TOPIC:CHANNEL:on|off, got '" + spec + "'";
  size_t last = spec.rfind(':');
  if (last == std::string::npos || last == 0) throw UsageError(bad);
  size_t mid = spec.rfind(':', last - 1);
  if (mid == std::string::npos || mid == 0) throw UsageError(bad);
  v1::PreferenceChange change;
  change.set_topic(spec.substr(0, mid));
  change.set_channel(
      ParseEnum<v1::Channel>("set", spec.substr(mid + 1, last - mid - 1), v1::Channel_Parse));
  std::string state = Lower(spec.substr(last + 1));
  if (state == "on" || state == "yes" || state == "true") {
    change.set_subscribed(true);
  } else if (state == "off" || state == "no" || state == "false") {
    change.set_subscribed(false);
  } else {
    throw UsageError(bad);
  }
  return change;
}

int SetPreferences(Env& env, const Flags& f) {
  v1::SetPreferencesRequest req;
  req.set_idempotency_key(f.Get("idempotency-key"));
  req.set_subject_id(f.Require("subject-id"));
  for (const auto& spec : f.GetAll("set")) *req.add_changes() = ParsePreferenceChange(spec);
  if (req.changes().empty()) throw UsageError("--set is required (at least once)");
  *req.mutable_proof() = ProofFromFlags(f);
  return Run(
      env, &SubscriptionService::Stub::SetPreferences, req,
      [](const v1::SetPreferencesResponse& r) { PrintPreferences(std::cout, r.preferences()); });
}

int GetPreferences(Env& env, const Flags& f) {
  v1::GetPreferencesRequest req;
  req.set_subject_id(f.Require("subject-id"));
  return Run(
      env, &SubscriptionService::Stub::GetPreferences, req,
      [](const v1::GetPreferencesResponse& r) { PrintPreferences(std::cout, r.preferences()); });
}

int OptOut(Env& env, const Flags& f) {
  v1::OptOutRequest req;
  req.set_idempotency_key(f.Get("idempotency-key"));
  if (OneOf(f, "subject-id", "address")) {
    req.set_subject_id(f.Get("subject-id"));
  } else {
    req.set_address(f.Get("address"));
  }
  req.set_scope(EnumFlag<v1::OptOutScope>(f, "scope", v1::OptOutScope_Parse));
  req.set_topic(f.Get("topic"));
  if (f.Has("channel")) req.set_channel(EnumFlag<v1::Channel>(f, "channel", v1::Channel_Parse));
  *req.mutable_proof() = ProofFromFlags(f);
  if (f.Has("reason")) {
    req.set_reason(EnumFlag<v1::SuppressionReason>(f, "reason", v1::SuppressionReason_Parse));
  }
  return Run(env, &SubscriptionService::Stub::OptOut, req,
             [](const v1::OptOutResponse& r) { PrintOptOut(std::cout, r); });
}

int Check(Env& env, const Flags& f) {
  v1::CheckEligibilityRequest req;
  *req.mutable_recipient() = RecipientFromFlags(f);
  req.set_channel(EnumFlag<v1::Channel>(f, "channel", v1::Channel_Parse));
  req.set_topic(f.Require("topic"));
  req.set_provider_country(f.Get("provider-country"));
  return Run(env, &SubscriptionService::Stub::CheckEligibility, req,
             [](const v1::CheckEligibilityResponse& r) {
               std::cout << FormatDecision(r.decision()) << '\n';
             });
}

// One recipient per line: "ADDRESS", "subject:UUID" or "UUID,ADDRESS".
void AddRecipient(const std::string& item, v1::Recipient* r) {
  if (item.rfind("subject:", 0) == 0) {
    r->set_subject_id(Trim(item.substr(8)));
  } else if (size_t comma = item.find(','); comma != std::string::npos) {
    r->set_subject_id(Trim(item.substr(0, comma)));
    r->set_address(Trim(item.substr(comma + 1)));
  } else {
    r->set_address(item);
  }
}

int CheckBatch(Env& env, const Flags& f) {
  v1::CheckEligibilityBatchRequest req;
  req.set_channel(EnumFlag<v1::Channel>(f, "channel", v1::Channel_Parse));
  req.set_topic(f.Require("topic"));
  req.set_provider_country(f.Get("provider-country"));
  if (isatty(STDIN_FILENO)) {
    std::cerr << "heraldctl: reading recipients from standard input, one per line "
                 "(end with Ctrl-D)\n";
  }
  std::vector<std::string> items;  // as written, to label the answers
  std::string line;
  while (std::getline(std::cin, line)) {
    std::string item = Trim(line);
    if (item.empty() || item[0] == '#') continue;
    if (items.size() == kMaxBatchRecipients) {
      throw UsageError("more than " + std::to_string(kMaxBatchRecipients) +
                       " recipients on standard input; split the input");
    }
    AddRecipient(item, req.add_recipients());
    items.push_back(item);
  }
  if (items.empty()) throw UsageError("no recipients on standard input");
  return Run(env, &SubscriptionService::Stub::CheckEligibilityBatch, req,
             [&](const v1::CheckEligibilityBatchResponse& r) {
               Table t;
               for (int i = 0; i < r.decisions_size(); ++i) {
                 std::string label = static_cast<size_t>(i) < items.size() ? items[i] : "?";
                 t.AddRow({label, FormatDecision(r.decisions(i))});
               }
               t.Print(std::cout);
               if (static_cast<size_t>(r.decisions_size()) != items.size()) {
                 std::cerr << "heraldctl: warning: " << items.size() << " recipients sent, "
                           << r.decisions_size() << " decisions received\n";
               }
             });
}

int Events(Env& env, const Flags& f) {
  v1::ListSubjectEventsRequest req;
  req.set_subject_id(f.Require("subject-id"));
  req.set_page_size(IntFlag(f, "page-size"));
  req.set_page_token(f.Get("page-token"));
  return Run(env, &SubscriptionService::Stub::ListSubjectEvents, req,
             [](const v1::ListSubjectEventsResponse& r) {
               PrintEvents(std::cout, r.events());
               PrintNextPage(std::cout, r.next_page_token());
             });
}

int Topics(Env& env, const Flags&) {
  return Run(env, &SubscriptionService::Stub::ListTopics, v1::ListTopicsRequest(),
             [](const v1::ListTopicsResponse& r) { PrintTopics(std::cout, r.topics()); });
}

int Send(Env& env, const Flags& f) {
  v1::SendRequest req;
  req.set_idempotency_key(f.Require("idempotency-key"));
  MessageFromFlags(f, &req);
  return Run(env, &DispatchService::Stub::Send, req, [](const v1::SendResponse& r) {
    std::cout << FormatSendResult(r) << '\n';
  });
}

int Preview(Env& env, const Flags& f) {
  v1::PreviewMessageRequest req;
  MessageFromFlags(f, &req);
  return Run(env, &DispatchService::Stub::PreviewMessage, req,
             [](const v1::PreviewMessageResponse& r) { PrintPreview(std::cout, r); });
}

int GetMessage(Env& env, const Flags& f) {
  v1::GetMessageRequest req;
  req.set_message_id(f.Require("message-id"));
  return Run(env, &DispatchService::Stub::GetMessage, req,
             [](const v1::Message& m) { PrintMessage(std::cout, m); });
}

int ListMessages(Env& env, const Flags& f) {
  v1::ListMessagesRequest req;
  if (OneOf(f, "campaign-id", "subject-id")) {
    req.set_campaign_id(f.Get("campaign-id"));
  } else {
    req.set_subject_id(f.Get("subject-id"));
  }
  if (f.Has("status")) {
    req.set_status(EnumFlag<v1::MessageStatus>(f, "status", v1::MessageStatus_Parse));
  }
  req.set_page_size(IntFlag(f, "page-size"));
  req.set_page_token(f.Get("page-token"));
  return Run(env, &DispatchService::Stub::ListMessages, req,
             [](const v1::ListMessagesResponse& r) {
               PrintMessageList(std::cout, r.messages());
               PrintNextPage(std::cout, r.next_page_token());
             });
}

// ---------------------------------------------------------------------------------------
// The command table

FlagSpec EnumSpec(std::string name, std::string value, std::string help,
                  const google::protobuf::EnumDescriptor* choices) {
  return FlagSpec{std::move(name), std::move(value), std::move(help), false, choices};
}

std::vector<FlagSpec> Concat(std::initializer_list<std::vector<FlagSpec>> parts) {
  std::vector<FlagSpec> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

const std::vector<FlagSpec>& GlobalFlags() {
  static const std::vector<FlagSpec> flags = {
      {"addr", "HOST:PORT",
       std::string("server address (default $HERALDCTL_ADDR, else ") + kDefaultAddr + ")"},
      {"key", "KEY", "API key (default $HERALDCTL_API_KEY, which keeps it out of `ps`)"},
      {"json", "", "print the response as JSON"},
      {"timeout", "SECONDS", "deadline of the call (default 10)"},
      {"help", "", "show help"},
  };
  return flags;
}

std::vector<Command> BuildCommands() {
  const FlagSpec subject_id{"subject-id", "ID", "the subject's id (UUID)"};
  const FlagSpec idempotency{"idempotency-key", "K",
                             "a repeat with the same key returns the first answer"};
  const std::vector<FlagSpec> paging = {
      {"page-size", "N", "results per page (default 50, max 500)"},
      {"page-token", "T", "the 'next page' token of the last call"}};
  const std::vector<FlagSpec> proof = {
      EnumSpec("source", "SOURCE", "where the fact came from; required", v1::Source_descriptor()),
      {"form-id", "ID", "web form, CRM process or import batch that captured it"},
      {"document-version", "V", "version of the document agreed to (required to grant consent)"},
      {"occurred-at", "TIME", "when the person acted, RFC 3339 (default: now)"},
      {"ip", "IP", "the person's IP address"},
      {"user-agent", "UA", "the person's user agent"},
  };
  const std::vector<FlagSpec> gate = {
      EnumSpec("channel", "CHANNEL", "required", v1::Channel_descriptor()),
      {"topic", "T", "topic of the message (required; see `topics`)"},
      {"provider-country", "XX", "ISO country of the sending provider (default: domestic)"},
  };
  FlagSpec required_idempotency = idempotency;
  required_idempotency.help = "required; " + idempotency.help;
  // What `send` and `preview` share.
  const std::vector<FlagSpec> message = {
      subject_id,
      {"address", "A", "the address to send to (default: the subject's)"},
      {"channel", "CHANNEL", "EMAIL|SMS; required"},
      {"topic", "T", "topic of the message (required; see `topics`)"},
      {"subject", "S", "e-mail subject (required for EMAIL)"},
      {"text", "TEXT", "e-mail text part or SMS body (required)"},
      {"html", "HTML", "e-mail HTML part"},
      {"var", "NAME=VALUE", "a per-recipient template variable", true},
  };
  const std::string message_details =
      "Subject, text and html are Mustache templates. Built-in variables: surname, given_name,\n"
      "patronymic, locale, unsubscribe_url, preferences_url; --var adds more.\n"
      "Write a value that starts with -- as --text=VALUE.\n";

  return {
      {"health",
       "[--service NAME]",
       "Ask grpc.health.v1.Health/Check; exit 0 only when SERVING.",
       {{"service", "NAME", "service to ask about (default: the whole server)"}},
       Health,
       /*needs_key=*/false},
      {"upsert-subject",
       "[--external-id X] [--surname S] [--given-name G] [--patronymic P] [--locale L] "
       "[--email E]... [--phone P]... [--source SOURCE] [--idempotency-key K]",
       "Create a subject, or update the one found by external id or an address.",
       {{"external-id", "X", "Creatio Contact Id"},
        {"surname", "S", ""},
        {"given-name", "G", ""},
        {"patronymic", "P", ""},
        {"locale", "L", "BCP 47 language tag, e.g. az, ru, en"},
        {"email", "E", "an e-mail address to add", true},
        {"phone", "P", "a phone number to add", true},
        EnumSpec("source", "SOURCE", "where the data came from (default CRM)",
                 v1::Source_descriptor()),
        idempotency},
       UpsertSubject,
       true,
       "Given addresses are added to the subject's; none are removed.\n"},
      {"get-subject", "--subject-id ID", "Show one subject.", {subject_id}, GetSubject},
      {"find-subjects", "(--address A | --external-id X) [--page-size N] [--page-token T]",
       "Find subjects by address or external id.",
       Concat({{{"address", "A", "an e-mail address or phone number"},
                {"external-id", "X", "Creatio Contact Id"}},
               paging}),
       FindSubjects},
      {"record-consent",
       "--subject-id ID --kind KIND [--channel CHANNEL] (--grant | --withdraw) --source SOURCE "
       "[--document-version V] [--form-id ID] [--occurred-at TIME] [--ip IP] [--user-agent UA] "
       "[--idempotency-key K]",
       "Record a consent grant or withdrawal.",
       Concat({{subject_id,
                EnumSpec("kind", "KIND", "required", v1::ConsentKind_descriptor()),
                EnumSpec("channel", "CHANNEL", "needed for MARKETING", v1::Channel_descriptor()),
                {"grant", "", "grant the consent"},
                {"withdraw", "", "withdraw it (withdrawing PROCESSING is a revocation)"}},
               proof,
               {idempotency}}),
       RecordConsent},
      {"set-preferences",
       "--subject-id ID --set TOPIC:CHANNEL:on|off... --source SOURCE [proof flags] "
       "[--idempotency-key K]",
       "Change a subject's topic subscriptions.",
       Concat({{subject_id, {"set", "TOPIC:CHANNEL:on|off", "one change", true}},
               proof,
               {idempotency}}),
       SetPreferences},
      {"get-preferences",
       "--subject-id ID",
       "Show a subject's subscriptions and channel consents.",
       {subject_id},
       GetPreferences},
      {"opt-out",
       "(--subject-id ID | --address A) --scope SCOPE [--topic T] [--channel CHANNEL] "
       "--source SOURCE [--reason REASON] [proof flags] [--idempotency-key K]",
       "Opt a subject or a bare address out of marketing.",
       Concat(
           {{subject_id,
             {"address", "A", "a bare address (stored as an address suppression)"},
             EnumSpec("scope", "SCOPE", "required", v1::OptOutScope_descriptor()),
             {"topic", "T", "for scope TOPIC"},
             EnumSpec("channel", "CHANNEL", "for scope CHANNEL; for TOPIC, omit for every channel",
                      v1::Channel_descriptor()),
             EnumSpec("reason", "REASON", "for address opt-outs (default UNSUBSCRIBED)",
                      v1::SuppressionReason_descriptor())},
            proof,
            {idempotency}}),
       OptOut, true,
       "Prints whether anything changed, and how many messages were already being sent.\n"},
      {"check",
       "--channel CHANNEL --topic T (--subject-id ID and/or --address A) "
       "[--provider-country XX]",
       "Ask the gate whether a message may be sent: ALLOW or DENY REASON.",
       Concat({gate, {subject_id, {"address", "A", "the address to send to"}}}), Check},
      {"check-batch", "--channel CHANNEL --topic T [--provider-country XX] < FILE",
       "Ask the gate about many recipients read from standard input.", gate, CheckBatch, true,
       "Each input line is one recipient: an address, `subject:UUID`, or `UUID,ADDRESS`.\n"
       "Blank lines and lines starting with # are skipped; at most 10000 recipients.\n"
       "Prints one line per recipient, in input order: the input, then the decision.\n"},
      {"events", "--subject-id ID [--page-size N] [--page-token T]",
       "List a subject's event log: id, time, type, actor, source, details.",
       Concat({{subject_id}, paging}), Events},
      {"topics", "", "List topics: name, marketing or service, description.", {}, Topics},
      {"send",
       "--idempotency-key K (--subject-id ID and/or --address A) --channel EMAIL|SMS --topic T "
       "[--subject S] --text TEXT [--html HTML] [--var NAME=VALUE]...",
       "Send one message: QUEUED ID, or SUPPRESSED REASON ID when the gate refused.",
       Concat({{required_idempotency}, message}),
       Send, true, message_details},
      {"preview",
       "(--subject-id ID and/or --address A) --channel EMAIL|SMS --topic T [--subject S] "
       "--text TEXT [--html HTML] [--var NAME=VALUE]...",
       "Render a message and ask the gate about it, without sending.", message, Preview, true,
       message_details +
           "Prints the decision (ALLOW or DENY REASON), the rendered content and, for SMS,\n"
           "its encoding (GSM7 or UCS2) and number of segments.\n"},
      {"get-message",
       "--message-id ID",
       "Show one message with its status history and delivery attempts.",
       {{"message-id", "ID", "the message's id (UUID)"}},
       GetMessage},
      {"list-messages",
       "(--campaign-id ID | --subject-id ID) [--status STATUS] [--page-size N] [--page-token T]",
       "List messages: id, status, deny reason, channel, topic, updated.",
       Concat({{{"campaign-id", "ID", "the campaign's id (UUID)"},
                subject_id,
                EnumSpec("status", "STATUS", "only messages in this status",
                         v1::MessageStatus_descriptor())},
               paging}),
       ListMessages},
  };
}

const std::vector<Command>& Commands() {
  static const std::vector<Command> commands = BuildCommands();
  return commands;
}

const Command* FindCommand(const std::string& name) {
  for (const auto& c : Commands()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

void PrintUsage(std::ostream& out) {
  out << "Usage: heraldctl [global flags] <command> [flags]\n\n"
         "Operator client of the Herald subscription and dispatch services.\n\n"
         "Commands:\n";
  Table t;
  for (const auto& c : Commands()) t.AddRow({"  " + c.name, c.summary});
  t.AddRow({"  privacy", kPrivacySummary});
  t.Print(out);
  out << "  inbound-mail  Post a raw e-mail from standard input to heraldd (a Postfix pipe)\n";
  out << "\nGlobal flags (also accepted after the command):\n";
  PrintFlagHelp(out, GlobalFlags());
  out << "\nRun 'heraldctl <command> --help' for a command's flags.\n"
         "Exit status: 0 success, 1 failed call (or health not SERVING), 2 usage error.\n";
}

void PrintCommandHelp(std::ostream& out, const Command& c) {
  out << "Usage: heraldctl [global flags] " << c.name
      << (c.synopsis.empty() ? "" : " " + c.synopsis) << "\n\n"
      << c.summary << '\n';
  if (!c.details.empty()) out << '\n' << c.details;
  if (!c.flags.empty()) {
    out << "\nFlags:\n";
    PrintFlagHelp(out, c.flags);
  }
  out << "\nGlobal flags:\n";
  PrintFlagHelp(out, GlobalFlags());
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

Env MakeEnv(const Flags& f, const Command& cmd) {
  Env env;
  env.key = f.Get("key", EnvOr("HERALDCTL_API_KEY", ""));
  if (cmd.needs_key && env.key.empty()) {
    throw UsageError("no API key: set HERALDCTL_API_KEY or pass --key");
  }
  env.json = f.Has("json");
  if (f.Has("timeout")) {
    std::string v = f.Get("timeout");
    double seconds = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
    if (ec != std::errc() || end != v.data() + v.size() || !(seconds > 0) ||
        seconds > kMaxTimeoutSeconds) {
      throw UsageError("--timeout: expected a positive number of seconds, got '" + v + "'");
    }
    env.timeout = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000 + 0.5));
  }
  env.channel = grpc::CreateChannel(f.Get("addr", EnvOr("HERALDCTL_ADDR", kDefaultAddr)),
                                    grpc::InsecureChannelCredentials());
  env.stub = SubscriptionService::NewStub(env.channel);
  env.dispatch = DispatchService::NewStub(env.channel);
  return env;
}

int Main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  // A Postfix pipe transport: HTTP, sysexits codes, no API key (inbound_mail_command.h).
  if (!args.empty() && args[0] == "inbound-mail") {
    return RunInboundMail({args.begin() + 1, args.end()});
  }
  const Command* cmd = nullptr;
  try {
    Flags flags;
    size_t i = 0;
    flags.Parse(GlobalFlags(), args, &i, /*stop_at_positional=*/true);
    if (i == args.size()) {
      if (flags.Has("help")) {
        PrintUsage(std::cout);
        return 0;
      }
      PrintUsage(std::cerr);
      return 2;
    }
    if (args[i] == "privacy") return RunPrivacy(args, i + 1, flags, GlobalFlags());
    cmd = FindCommand(args[i]);
    if (!cmd) throw UsageError("unknown command '" + args[i] + "'");
    ++i;
    bool help = flags.Has("help");
    for (size_t j = i; j < args.size(); ++j) help = help || args[j] == "--help" || args[j] == "-h";
    if (help) {
      PrintCommandHelp(std::cout, *cmd);
      return 0;
    }
    flags.Parse(Concat({cmd->flags, GlobalFlags()}), args, &i, /*stop_at_positional=*/false);
    Env env = MakeEnv(flags, *cmd);
    return cmd->run(env, flags);
  } catch (const UsageError& e) {
    std::cerr << "heraldctl: " << e.what() << "\nRun 'heraldctl "
              << (cmd ? cmd->name + " " : std::string()) << "--help' for usage.\n";
    return 2;
  }
}

}  // namespace
}  // namespace herald::ctl

int main(int argc, char** argv) { return herald::ctl::Main(argc, argv); }
