#include "services/dispatch/keyword_reply.h"

#include "services/dispatch/adapters/sms/sms_encoding.h"
#include "services/dispatch/ledger/message_ledger.h"

namespace herald::dispatch {

QueuedReply QueueKeywordReply(db::Connection& conn, pqxx::transaction_base& txn,
                              const subscriptions::EligibilityGate& gate,
                              const TopicCatalog& topics, const KeywordReply& r) {
  subscriptions::GateRequest g;
  g.address = r.address;
  g.channel = Channel::kSms;
  g.topic = topics.Find("service");
  g.reply_to_inbound = r.inbound_id;
  g.now = r.now;
  auto decision = gate.Decide(conn, txn, {g})[0];
  QueuedReply out;
  out.queued = decision.allowed();
  out.reason = decision.reason;
  auto enc = sms::AnalyzeSms(r.text);
  ledger::NewMessage m;
  m.client_id = r.client_id;
  if (!decision.address.empty()) {
    m.address = decision.address;
    m.match_key = decision.match_key;
  }
  m.channel = static_cast<int>(Channel::kSms);
  m.topic = "service";
  m.text_template = r.text;
  m.status = out.queued ? MessageStatus::kQueued : MessageStatus::kSuppressed;
  m.deny_reason = out.queued ? 0 : static_cast<int>(decision.reason);
  m.sms_encoding = enc.kind == sms::SmsEncoding::Kind::kGsm7 ? "GSM7" : "UCS2";
  m.sms_segments = enc.segments;
  m.reply_to_inbound = r.inbound_id;
  m.note = "reply to an inbound SMS keyword";
  out.message_id = ledger::Enqueue(conn, txn, m, r.now);
  return out;
}

}  // namespace herald::dispatch
