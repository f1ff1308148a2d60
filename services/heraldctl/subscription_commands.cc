// `heraldctl` commands of herald.v1.SubscriptionService: subjects, consent, preferences,
// opt-outs, the gate, the event log and topics.
#include "services/heraldctl/subscription_commands.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include "herald/v1/subscriptions.grpc.pb.h"
#include "services/heraldctl/print.h"
#include "services/heraldctl/shared_flags.h"

namespace herald::ctl {
namespace {

using v1::SubscriptionService;

constexpr size_t kMaxBatchRecipients = 10000;  // CheckEligibilityBatchRequest.recipients

v1::Proof ProofFromFlags(const Flags& f) {
  v1::Proof p;
  p.set_source(EnumFlag<v1::Source>(f, "source", v1::Source_Parse));
  p.set_form_id(f.Get("form-id"));
  p.set_document_version(f.Get("document-version"));
  if (auto t = TimeFlag(f, "occurred-at")) *p.mutable_occurred_at() = *t;
  p.set_ip(f.Get("ip"));
  p.set_user_agent(f.Get("user-agent"));
  return p;
}

int UpsertSubject(const Context& ctx, const Flags& f) {
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
  return Call(ctx, &SubscriptionService::Stub::UpsertSubject, req,
              [](const v1::UpsertSubjectResponse& r) {
                PrintSubject(std::cout, r.subject(), r.created() ? "created" : "updated");
              });
}

int GetSubject(const Context& ctx, const Flags& f) {
  v1::GetSubjectRequest req;
  req.set_subject_id(f.Require("subject-id"));
  return Call(ctx, &SubscriptionService::Stub::GetSubject, req,
              [](const v1::GetSubjectResponse& r) { PrintSubject(std::cout, r.subject()); });
}

int FindSubjects(const Context& ctx, const Flags& f) {
  v1::FindSubjectsRequest req;
  if (OneOf(f, "address", "external-id")) {
    req.set_address(f.Get("address"));
  } else {
    req.set_external_id(f.Get("external-id"));
  }
  req.set_page_size(IntFlag(f, "page-size"));
  req.set_page_token(f.Get("page-token"));
  return Call(ctx, &SubscriptionService::Stub::FindSubjects, req,
              [](const v1::FindSubjectsResponse& r) {
                PrintSubjectList(std::cout, r.subjects());
                PrintNextPage(std::cout, r.next_page_token());
              });
}

int RecordConsent(const Context& ctx, const Flags& f) {
  v1::RecordConsentRequest req;
  req.set_idempotency_key(f.Get("idempotency-key"));
  req.set_subject_id(f.Require("subject-id"));
  req.set_kind(EnumFlag<v1::ConsentKind>(f, "kind", v1::ConsentKind_Parse));
  if (f.Has("channel")) req.set_channel(EnumFlag<v1::Channel>(f, "channel", v1::Channel_Parse));
  req.set_granted(OneOf(f, "grant", "withdraw"));
  *req.mutable_proof() = ProofFromFlags(f);
  return Call(ctx, &SubscriptionService::Stub::RecordConsent, req,
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

int SetPreferences(const Context& ctx, const Flags& f) {
  v1::SetPreferencesRequest req;
  req.set_idempotency_key(f.Get("idempotency-key"));
  req.set_subject_id(f.Require("subject-id"));
  for (const auto& spec : f.GetAll("set")) *req.add_changes() = ParsePreferenceChange(spec);
  if (req.changes().empty()) throw UsageError("--set is required (at least once)");
  *req.mutable_proof() = ProofFromFlags(f);
  return Call(
      ctx, &SubscriptionService::Stub::SetPreferences, req,
      [](const v1::SetPreferencesResponse& r) { PrintPreferences(std::cout, r.preferences()); });
}

int GetPreferences(const Context& ctx, const Flags& f) {
  v1::GetPreferencesRequest req;
  req.set_subject_id(f.Require("subject-id"));
  return Call(
      ctx, &SubscriptionService::Stub::GetPreferences, req,
      [](const v1::GetPreferencesResponse& r) { PrintPreferences(std::cout, r.preferences()); });
}

int OptOut(const Context& ctx, const Flags& f) {
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
  return Call(ctx, &SubscriptionService::Stub::OptOut, req,
              [](const v1::OptOutResponse& r) { PrintOptOut(std::cout, r); });
}

// --outcome takes the enum's names, with '-' for '_' (wrong-number) as on a command line.
int CallOutcome(const Context& ctx, const Flags& f) {
  v1::RecordCallOutcomeRequest req;
  req.set_idempotency_key(f.Get("idempotency-key"));
  req.set_subject_id(f.Require("subject-id"));
  req.set_phone(f.Require("phone"));
  std::string outcome = f.Require("outcome");
  std::replace(outcome.begin(), outcome.end(), '-', '_');
  req.set_outcome(ParseEnum<v1::CallOutcome>("outcome", outcome, v1::CallOutcome_Parse));
  req.set_agent(f.Require("agent"));
  req.set_recording_reference(f.Get("recording"));
  req.set_document_version(f.Get("document-version"));
  if (auto t = TimeFlag(f, "occurred-at")) *req.mutable_occurred_at() = *t;
  return Call(ctx, &SubscriptionService::Stub::RecordCallOutcome, req,
              [](const v1::RecordCallOutcomeResponse& r) {
                PrintKeyValues(std::cout,
                               {{"changed", r.changed() ? "yes" : "no"},
                                {"event_id", std::to_string(r.event_id())},
                                {"suppression_added", r.suppression_added() ? "yes" : "no"},
                                {"consent_id", r.consent_id().empty() ? "-" : r.consent_id()},
                                {"address_detached", r.address_detached() ? "yes" : "no"},
                                {"in_flight_messages", std::to_string(r.in_flight_messages())},
                                {"suppressions_lifted", std::to_string(r.suppressions_lifted())}});
              });
}

int Check(const Context& ctx, const Flags& f) {
  v1::CheckEligibilityRequest req;
  *req.mutable_recipient() = RecipientFromFlags(f);
  req.set_channel(EnumFlag<v1::Channel>(f, "channel", v1::Channel_Parse));
  req.set_topic(f.Require("topic"));
  req.set_provider_country(f.Get("provider-country"));
  return Call(ctx, &SubscriptionService::Stub::CheckEligibility, req,
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

int CheckBatch(const Context& ctx, const Flags& f) {
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
  return Call(ctx, &SubscriptionService::Stub::CheckEligibilityBatch, req,
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

int Events(const Context& ctx, const Flags& f) {
  v1::ListSubjectEventsRequest req;
  req.set_subject_id(f.Require("subject-id"));
  req.set_page_size(IntFlag(f, "page-size"));
  req.set_page_token(f.Get("page-token"));
  return Call(ctx, &SubscriptionService::Stub::ListSubjectEvents, req,
              [](const v1::ListSubjectEventsResponse& r) {
                PrintEvents(std::cout, r.events());
                PrintNextPage(std::cout, r.next_page_token());
              });
}

int Topics(const Context& ctx, const Flags&) {
  return Call(ctx, &SubscriptionService::Stub::ListTopics, v1::ListTopicsRequest(),
              [](const v1::ListTopicsResponse& r) { PrintTopics(std::cout, r.topics()); });
}

}  // namespace

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

std::vector<Command> SubscriptionCommands() {
  const FlagSpec& subject_id = kSubjectIdFlag;
  const FlagSpec& idempotency = kIdempotencyFlag;
  const std::vector<FlagSpec>& paging = kPagingFlags;
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

  return {
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
      {"call-outcome",
       "--subject-id ID --phone N --outcome OUTCOME --agent A [--recording REF] "
       "[--document-version V] [--occurred-at TIME] [--idempotency-key K]",
       "Record what the person said on a phone call (docs/calls.md).",
       {subject_id,
        {"phone", "N", "the number called; one of the subject's (required)"},
        EnumSpec("outcome", "OUTCOME", "required; e.g. wrong-number or WRONG_NUMBER",
                 v1::CallOutcome_descriptor()),
        {"agent", "A", "the operator's agent id who made the call, not a name (required)"},
        {"recording", "REF", "the call's recording id or URI (required for CONSENT_GIVEN)"},
        {"document-version", "V", "the consent document agreed to (CONSENT_GIVEN only)"},
        {"occurred-at", "TIME", "when the call took place, RFC 3339 (default: now)"},
        idempotency},
       CallOutcome,
       true,
       "DO_NOT_CALL suppresses the number for calls; REFUSED_MARKETING opts the subject out of\n"
       "marketing calls; WRONG_NUMBER detaches the number and suppresses it for SMS and calls;\n"
       "CONSENT_GIVEN records a marketing consent on CALL proven by the recording.\n"},
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
  };
}

}  // namespace herald::ctl
