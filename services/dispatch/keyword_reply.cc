#include "services/dispatch/keyword_reply.h"

#include "common/db/statement.h"
#include "services/dispatch/adapters/sms/sms_encoding.h"

namespace herald::dispatch {
namespace {

constexpr db::Statement kInsertReply{
    "messages.insert_keyword_reply",
    "INSERT INTO messages (id, client_id, address, match_key, channel, topic, text_template,"
    " status, deny_reason, next_attempt_at, sms_encoding, sms_segments, reply_to_inbound,"
    " created_at, updated_at)"
    " VALUES (gen_random_uuid(), $1, $2, $3, 2, 'service', $4, $5, nullif($6, 0), $7, $8, $9,"
    " $10, $7, $7) RETURNING id::text"};
constexpr db::Statement kReplyHistory{
    "messages.insert_keyword_reply_history",
    "INSERT INTO message_history (message_id, status, deny_reason, note, at)"
    " VALUES ($1::uuid, $2, nullif($3, 0), 'reply to an inbound SMS keyword', $4)"};

}  // namespace

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
  std::string status = out.queued ? "queued" : "suppressed";
  int reason = out.queued ? 0 : static_cast<int>(decision.reason);
  std::optional<std::string> address, match_key;
  if (!decision.address.empty()) {
    address = decision.address;
    match_key = decision.match_key;
  }
  out.message_id =
      conn.Exec(txn, kInsertReply, r.client_id, address, match_key, r.text, status, reason,
                ToIso8601(r.now),
                std::string(enc.kind == sms::SmsEncoding::Kind::kGsm7 ? "GSM7" : "UCS2"),
                enc.segments, r.inbound_id)[0][0]
          .as<std::string>();
  conn.Exec(txn, kReplyHistory, out.message_id, status, reason, ToIso8601(r.now));
  return out;
}

}  // namespace herald::dispatch
