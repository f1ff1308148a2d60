#include "services/dispatch/message_service.h"

#include <nlohmann/json.hpp>

#include "common/db/idempotency.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/proto_time.h"
#include "common/validation/input_checks.h"
#include "services/dispatch/adapters/sms/sms_encoding.h"
#include "services/dispatch/content/message_template.h"
#include "services/dispatch/ledger/message_ledger.h"
#include "services/subscriptions/blocked_reads.h"
#include "services/subscriptions/gate/decision_answer.h"

namespace herald::dispatch {
namespace {

constexpr db::Statement kLoadMessage{"messages.load", R"sql(
  SELECT id::text, coalesce(campaign_id::text, ''), coalesce(subject_id::text, ''),
    coalesce(address, ''), channel, topic, status, coalesce(deny_reason, 0),
    coalesce(provider, ''), attempts, created_at::text, updated_at::text,
    coalesce(sms_encoding, ''), coalesce(sms_segments, 0),
    coalesce((SELECT s.blocked FROM subjects s WHERE s.id = messages.subject_id), false)
  FROM messages
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kLoadAttempts{"messages.load_attempts", R"sql(
  SELECT number, provider, started_at::text, ended_at::text, outcome, code, enhanced_status,
    provider_code, detail, provider_message_id
  FROM message_attempts
  WHERE message_id = $1::uuid
  ORDER BY number, id
)sql"};
constexpr db::Statement kListMessages{"messages.list", R"sql(
  SELECT id::text FROM messages
  WHERE (($1 <> '' AND campaign_id = nullif($1, '')::uuid)
         OR ($2 <> '' AND subject_id = nullif($2, '')::uuid))
    AND ($3 = '' OR status = $3) AND id::text > $4
  ORDER BY id
  LIMIT $5
)sql"};
constexpr db::Statement kPreviewSubject{"messages.preview_subject", R"sql(
  SELECT surname, given_name, patronymic, locale, blocked FROM subjects WHERE id = $1::uuid
)sql"};

// Checks the content for the channel and compiles it: template errors are INVALID_ARGUMENT
// now, never a failure at send time.
MessageTemplate CompileContent(const v1::Content& content, Channel channel,
                               const std::map<std::string, std::string>& variables) {
  if (content.text().empty()) throw InvalidArgument("content.text", "required");
  if (channel == Channel::kEmail && content.subject().empty()) {
    throw InvalidArgument("content.subject", "required for e-mail");
  }
  if (channel != Channel::kEmail && (!content.subject().empty() || !content.html().empty())) {
    throw InvalidArgument("content", "SMS and calls take text only");
  }
  std::set<std::string> allowed = MessageService::BuiltInVariables();
  for (const auto& [k, v] : variables) {
    validation::CheckText("variables." + k, v, 4096);
    allowed.insert(k);
  }
  return MessageTemplate::Compile({content.subject(), content.text(), content.html()}, allowed);
}

}  // namespace

const std::set<std::string>& MessageService::BuiltInVariables() {
  static const std::set<std::string> kVars = {"surname", "given_name",      "patronymic",
                                              "locale",  "unsubscribe_url", "preferences_url"};
  return kVars;
}

MessageService::MessageService(db::Pool& pool, const Clock& clock, const TopicCatalog& topics,
                               const subscriptions::EligibilityGate& gate)
    : pool_(pool), clock_(clock), topics_(topics), gate_(gate) {}

v1::SendResponse MessageService::Send(const Caller& caller, const v1::SendRequest& r) {
  if (r.idempotency_key().empty()) throw InvalidArgument("idempotency_key", "required");
  Channel channel = validation::RequireChannel("channel", r.channel());
  if (channel == Channel::kCall) throw InvalidArgument("channel", "calls are made by people");
  const auto& topic = validation::RequireTopic(topics_, "topic", r.topic());
  std::map<std::string, std::string> variables(r.variables().begin(), r.variables().end());
  for (const auto& name : BuiltInVariables()) {
    if (variables.count(name)) throw InvalidArgument("variables." + name, "reserved name");
  }
  CompileContent(r.content(), channel, variables);
  subscriptions::GateRequest g;
  if (!r.recipient().subject_id().empty()) {
    g.subject_id = validation::RequireUuid("recipient.subject_id", r.recipient().subject_id());
  }
  if (!r.recipient().address().empty()) g.address = r.recipient().address();
  if (!g.subject_id && !g.address) {
    throw InvalidArgument("recipient", "give subject_id or address");
  }
  g.channel = channel;
  g.topic = &topic;
  db::IdempotencyKey idem(caller, "Send", r.idempotency_key(), r);

  Timestamp now = clock_.Now();
  g.now = now;
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  v1::SendResponse resp;
  if (auto stored = idem.Claim(*conn, txn, now)) {
    resp.set_message_id((*stored)["message_id"]);
    resp.set_status(static_cast<v1::MessageStatus>((*stored)["status"].get<int>()));
    resp.set_deny_reason(static_cast<v1::DenyReason>((*stored)["deny_reason"].get<int>()));
    txn.commit();
    return resp;
  }
  auto decision = gate_.Decide(*conn, txn, {g})[0];
  if (decision.unknown_subject) throw NotFound("recipient.subject_id: subject");
  bool allowed = decision.allowed();
  std::optional<std::string> address, match_key;
  if (!decision.address.empty()) {
    address = decision.address;
    match_key = decision.match_key;
  }
  std::optional<std::string> encoding;
  std::optional<int> segments;
  if (channel == Channel::kSms) {
    auto enc = sms::AnalyzeSms(r.content().text());
    encoding = enc.kind == sms::SmsEncoding::Kind::kGsm7 ? "GSM7" : "UCS2";
    segments = enc.segments;
  }
  ledger::NewMessage m;
  m.client_id = caller.client_id;
  m.subject_id = g.subject_id;
  m.address = address;
  m.match_key = match_key;
  m.channel = static_cast<int>(channel);
  m.topic = topic.name;
  m.subject_template = r.content().subject();
  m.text_template = r.content().text();
  m.html_template = r.content().html();
  m.variables_json = nlohmann::json(variables).dump();
  m.status = allowed ? MessageStatus::kQueued : MessageStatus::kSuppressed;
  m.deny_reason = allowed ? 0 : static_cast<int>(decision.reason);
  m.sms_encoding = encoding;
  m.sms_segments = segments;
  int reason = m.deny_reason;
  std::string id = ledger::Enqueue(*conn, txn, m, now);
  resp.set_message_id(id);
  resp.set_status(ToProto(m.status));
  resp.set_deny_reason(static_cast<v1::DenyReason>(reason));
  idem.Complete(*conn, txn,
                {{"message_id", id}, {"status", resp.status()}, {"deny_reason", reason}});
  txn.commit();
  return resp;
}

v1::PreviewMessageResponse MessageService::PreviewMessage(const Caller& caller,
                                                          const v1::PreviewMessageRequest& r) {
  Channel channel = validation::RequireChannel("channel", r.channel());
  const auto& topic = validation::RequireTopic(topics_, "topic", r.topic());
  std::map<std::string, std::string> variables(r.variables().begin(), r.variables().end());
  MessageTemplate tpl = CompileContent(r.content(), channel, variables);
  subscriptions::GateRequest g;
  if (!r.recipient().subject_id().empty()) {
    g.subject_id = validation::RequireUuid("recipient.subject_id", r.recipient().subject_id());
  }
  if (!r.recipient().address().empty()) g.address = r.recipient().address();
  if (!g.subject_id && !g.address) throw InvalidArgument("recipient", "give subject_id or address");
  g.channel = channel;
  g.topic = &topic;
  g.now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto decision = gate_.Decide(*conn, txn, {g})[0];
  if (decision.unknown_subject) throw NotFound("recipient.subject_id: subject");
  if (g.subject_id) {
    auto row = conn->Exec(txn, kPreviewSubject, *g.subject_id)[0];
    // A preview renders the subject's names and address: a read of the subject, refused
    // while it is blocked, like every CRM-facing read (STANDARDS L2).
    subscriptions::RefuseBlockedRead(caller, row[4].as<bool>());
    variables["surname"] = row[0].as<std::string>();
    variables["given_name"] = row[1].as<std::string>();
    variables["patronymic"] = row[2].as<std::string>();
    variables["locale"] = row[3].as<std::string>();
  }
  auto rendered = tpl.Render(variables);
  v1::PreviewMessageResponse resp;
  resp.mutable_rendered()->set_subject(rendered.subject);
  resp.mutable_rendered()->set_text(rendered.text);
  resp.mutable_rendered()->set_html(rendered.html);
  *resp.mutable_decision() = subscriptions::DecisionAnswer(decision);
  if (channel == Channel::kSms) {
    auto enc = sms::AnalyzeSms(rendered.text);
    resp.set_sms_encoding(enc.kind == sms::SmsEncoding::Kind::kGsm7 ? "GSM7" : "UCS2");
    resp.set_sms_segments(enc.segments);
  }
  return resp;
}

v1::Message MessageService::LoadMessage(db::Connection& conn, pqxx::transaction_base& txn,
                                        const std::string& id, bool with_history,
                                        const Caller& caller, bool refuse_blocked) {
  auto rows = conn.Exec(txn, kLoadMessage, id);
  if (rows.empty()) throw NotFound("message_id: message");
  const auto& row = rows[0];
  const bool blocked = row[14].as<bool>();
  if (refuse_blocked) subscriptions::RefuseBlockedRead(caller, blocked);
  v1::Message m;
  m.set_id(row[0].as<std::string>());
  m.set_campaign_id(row[1].as<std::string>());
  m.set_subject_id(row[2].as<std::string>());
  m.set_address(row[3].as<std::string>());
  m.set_channel(static_cast<v1::Channel>(row[4].as<int>()));
  m.set_topic(row[5].as<std::string>());
  m.set_status(ProtoFromText(row[6].as<std::string>()));
  m.set_deny_reason(static_cast<v1::DenyReason>(row[7].as<int>()));
  m.set_provider(row[8].as<std::string>());
  m.set_attempts(row[9].as<int>());
  SetTimestamp(m.mutable_create_time(), row[10].as<std::string>());
  SetTimestamp(m.mutable_update_time(), row[11].as<std::string>());
  m.set_sms_encoding(row[12].as<std::string>());
  m.set_sms_segments(row[13].as<int>());
  if (blocked && !caller.privacy_scope) m.clear_address();
  if (!with_history) return m;
  for (const auto& h : ledger::History(conn, txn, id)) {
    auto* c = m.add_history();
    c->set_status(ToProto(h.status));
    c->set_deny_reason(static_cast<v1::DenyReason>(h.deny_reason));
    c->set_note(h.note);
    SetTimestamp(c->mutable_time(), h.at);
  }
  for (const auto& a : conn.Exec(txn, kLoadAttempts, id)) {
    auto* at = m.add_attempt_log();
    at->set_number(a[0].as<int>());
    at->set_provider(a[1].as<std::string>());
    SetTimestamp(at->mutable_start_time(), a[2].as<std::string>());
    SetTimestamp(at->mutable_end_time(), a[3].as<std::string>());
    at->set_outcome(a[4].as<std::string>());
    at->set_code(a[5].as<int>());
    at->set_enhanced_status(a[6].as<std::string>());
    at->set_provider_code(a[7].as<std::string>());
    at->set_detail(a[8].as<std::string>());
    at->set_provider_message_id(a[9].as<std::string>());
  }
  return m;
}

v1::Message MessageService::GetMessage(const Caller& caller, const v1::GetMessageRequest& r) {
  std::string id = validation::RequireUuid("message_id", r.message_id());
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  return LoadMessage(*conn, txn, id, /*with_history=*/true, caller, /*refuse_blocked=*/true);
}

v1::ListMessagesResponse MessageService::ListMessages(const Caller& caller,
                                                      const v1::ListMessagesRequest& r) {
  std::string campaign, subject;
  if (r.by_case() == v1::ListMessagesRequest::kCampaignId) {
    campaign = validation::RequireUuid("campaign_id", r.campaign_id());
  } else if (r.by_case() == v1::ListMessagesRequest::kSubjectId) {
    subject = validation::RequireUuid("subject_id", r.subject_id());
  } else {
    throw InvalidArgument("by", "give campaign_id or subject_id");
  }
  if (!v1::MessageStatus_IsValid(r.status())) throw InvalidArgument("status", "unknown");
  auto wanted = FromProto(r.status());
  std::string status = wanted ? StatusText(*wanted) : "";
  int limit = validation::PageSize(r.page_size());
  std::string after = validation::DecodePageToken(r.page_token());
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  // A blocked subject's own list is a read of that subject: refused like the others.
  if (!subject.empty()) subscriptions::RefuseBlockedRead(*conn, txn, caller, subject);
  auto ids = conn->Exec(txn, kListMessages, campaign, subject, status, after, limit + 1);
  v1::ListMessagesResponse resp;
  for (int i = 0; i < static_cast<int>(ids.size()) && i < limit; ++i) {
    *resp.add_messages() =
        LoadMessage(*conn, txn, ids[i][0].as<std::string>(), false, caller, false);
  }
  if (static_cast<int>(ids.size()) > limit) {
    resp.set_next_page_token(validation::EncodePageToken(resp.messages(limit - 1).id()));
  }
  return resp;
}

}  // namespace herald::dispatch
