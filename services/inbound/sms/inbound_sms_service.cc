#include "services/inbound/sms/inbound_sms_service.h"

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/domain/enums.h"
#include "common/error.h"
#include "common/log/log.h"
#include "common/proto_time.h"
#include "common/validation/address.h"
#include "services/dispatch/keyword_reply.h"
#include "services/dispatch/ledger/message_ledger.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/gate/gate_rows.h"
#include "services/subscriptions/subject_rows.h"
#include "services/subscriptions/suppressions.h"

namespace herald::inbound::sms {
namespace {

// One provider message at a time: a concurrent re-post waits here, then finds the record.
constexpr db::Statement kLockProviderMessage{"inbound_sms.lock_provider_message", R"sql(
  SELECT pg_advisory_xact_lock(hashtextextended($1, 7411))
)sql"};
constexpr db::Statement kFind{"inbound_sms.find", R"sql(
  SELECT id, keyword_class, outcome, received_at::text, processed_at IS NOT NULL
  FROM inbound_sms
  WHERE provider = $1
    AND provider_message_id = $2
)sql"};
// An explicit opt-out of this number by SMS that is still in force and that no START has
// answered yet: a START being processed concurrently (its lift not committed) already
// counts, so two STARTs racing each other confirm once. $2: the SMS-stop reason; $3, $4: the
// any-channel and SMS channel numbers.
constexpr db::Statement kSmsStopped{"inbound_sms.sms_stopped", R"sql(
  WITH k AS (SELECT decode(h, 'hex') AS key FROM unnest($1::text[]) AS h)
  SELECT 1
  FROM suppressions s
  WHERE s.address_key IN (SELECT key FROM k)
    AND s.lifted_at IS NULL
    AND s.reason = $2
    AND s.channel IN ($3, $4)
    AND NOT EXISTS (
      SELECT 1
      FROM inbound_sms i
      WHERE i.address_key IN (SELECT key FROM k)
        AND i.keyword_class = 'start'
        AND i.outcome = 'started'
        AND i.received_at >= s.created_at
    )
  LIMIT 1
)sql"};
constexpr db::Statement kInsert{"inbound_sms.insert", R"sql(
  INSERT INTO inbound_sms (
    provider, provider_message_id, key_id, address_key, keyword_class, outcome, received_at,
    event_id
  )
  VALUES ($1, $2, $3, decode($4, 'hex'), $5, $6, $7, $8)
  RETURNING id
)sql"};
constexpr db::Statement kLockRecord{"inbound_sms.lock_record", R"sql(
  SELECT processed_at IS NOT NULL, outcome
  FROM inbound_sms
  WHERE id = $1
  FOR UPDATE
)sql"};
constexpr db::Statement kFinish{"inbound_sms.finish", R"sql(
  UPDATE inbound_sms
  SET outcome = $2, processed_at = $3, reply_message_id = $4::uuid
  WHERE id = $1
)sql"};
constexpr db::Statement kFindAttempt{"receipts.find_attempt", R"sql(
  SELECT message_id::text
  FROM message_attempts
  WHERE provider = $1
    AND provider_message_id = $2
  ORDER BY id DESC
  LIMIT 1
)sql"};
KeywordClass ParseClass(const std::string& s) {
  if (s == "stop") return KeywordClass::kStop;
  if (s == "start") return KeywordClass::kStart;
  if (s == "help") return KeywordClass::kHelp;
  return KeywordClass::kNone;
}

std::vector<std::string> HashesHex(const crypto::SuppressionHasher& hasher,
                                   const std::string& match_key) {
  std::vector<std::string> out;
  for (const auto& h : hasher.All("phone", match_key)) out.push_back(crypto::ToHex(h.hash));
  return out;
}

}  // namespace

ReplyTexts DefaultReplyTexts() {
  return {
      {"stop",
       {{"az", "Reklam SMS-lərindən imtina etdiniz. Yenidən abunə olmaq üçün START göndərin."},
        {"ru", "Вы отписались от рекламных SMS. Чтобы подписаться снова, отправьте START."},
        {"en", "You have unsubscribed from marketing SMS. Reply START to subscribe again."}}},
      {"start",
       {{"az", "Reklam SMS-lərinə yenidən abunə oldunuz. İmtina üçün DAYAN göndərin."},
        {"ru", "Вы снова подписаны на рекламные SMS. Чтобы отписаться, отправьте СТОП."},
        {"en", "You are subscribed to marketing SMS again. Reply STOP to unsubscribe."}}},
      {"help",
       {{"az", "Reklam SMS-lərindən imtina üçün DAYAN, yenidən abunə üçün START göndərin."},
        {"ru",
         "Чтобы отписаться от рекламных SMS, отправьте СТОП; чтобы подписаться снова, START."},
        {"en", "Reply STOP to unsubscribe from marketing SMS, START to subscribe again."}}},
  };
}

std::string LanguageOfNumber(const std::string& e164) {
  auto starts = [&e164](const char* prefix) { return e164.rfind(prefix, 0) == 0; };
  if (starts("+994")) return "az";
  if (starts("+7") || starts("+375") || starts("+996")) return "ru";
  if (starts("+1") || starts("+44") || starts("+61") || starts("+64") || starts("+353")) {
    return "en";
  }
  return "az";
}

InboundSmsService::InboundSmsService(db::Pool& pool, const Clock& clock,
                                     const crypto::SuppressionHasher& hasher,
                                     const subscriptions::EligibilityGate& gate,
                                     const TopicCatalog& topics,
                                     subscriptions::SubscriptionRegistry& registry,
                                     KeywordMatcher keywords, InboundOptions options)
    : pool_(pool),
      clock_(clock),
      hasher_(hasher),
      gate_(gate),
      topics_(topics),
      registry_(registry),
      keywords_(std::move(keywords)),
      options_(std::move(options)) {}

std::vector<std::string> InboundSmsService::Owners(const std::string& match_key) {
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  std::vector<std::string> out;
  for (auto& owner : subscriptions::LiveOwnersOf(*conn, txn, AddressKind::kPhone, match_key)) {
    out.push_back(std::move(owner.subject_id));
  }
  return out;
}

std::string InboundSmsService::ReplyLanguage(const std::string& e164) {
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  for (const auto& owner : subscriptions::LiveOwnersOf(*conn, txn, AddressKind::kPhone, e164)) {
    std::string lang = owner.locale.substr(0, 2);
    for (auto& c : lang) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    if (lang == "az" || lang == "ru" || lang == "en") return lang;
  }
  return LanguageOfNumber(e164);
}

InboundSmsService::Record InboundSmsService::Recall(const std::string& provider,
                                                    const InboundSms& sms, const std::string& e164,
                                                    const std::string& match_key,
                                                    KeywordClass keyword, bool* duplicate) {
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  conn->Exec(txn, kLockProviderMessage, provider + "\n" + sms.provider_message_id);
  Record rec;
  auto found = conn->Exec(txn, kFind, provider, sms.provider_message_id);
  if (!found.empty()) {
    rec.id = found[0][0].as<int64_t>();
    rec.keyword = ParseClass(found[0][1].as<std::string>());
    rec.outcome = found[0][2].as<std::string>();
    rec.received_at = ParseTimestamp(found[0][3].as<std::string>());
    rec.processed = found[0][4].as<bool>();
    *duplicate = true;
    txn.commit();
    return rec;
  }
  Timestamp now = clock_.Now();
  // The number's gate row first, as every address opt-out takes it: a START's "was it
  // stopped?" and a concurrent STOP of the same number are ordered by it.
  crypto::SuppressionHash current = hasher_.Current("phone", match_key);
  subscriptions::LockAddressForChange(*conn, txn, crypto::ToHex(current.hash), AddressKind::kPhone,
                                      match_key, now);
  std::string outcome;
  switch (keyword) {
    case KeywordClass::kStop:
      outcome = "pending";
      break;  // the opt-out decides
    case KeywordClass::kStart:
      outcome = conn->Exec(txn, kSmsStopped, db::ToArrayLiteral(HashesHex(hasher_, match_key)),
                           static_cast<int>(SuppressionReason::kSmsStop), kAnyChannel,
                           static_cast<int>(Channel::kSms))
                        .empty()
                    ? "not_stopped"
                    : "started";
      break;
    case KeywordClass::kHelp:
      outcome = "help";
      break;
    case KeywordClass::kNone:
      outcome = "ignored";
      break;
  }
  std::string actor = "sms:" + provider;
  int64_t event_id = subscriptions::AppendEvent(*conn, txn,
                                                {std::nullopt,
                                                 current.hash,
                                                 subscriptions::EventType::kSmsInbound,
                                                 actor,
                                                 v1::SMS_REPLY,
                                                 now,
                                                 now,
                                                 {{"provider", provider},
                                                  {"provider_message_id", sms.provider_message_id},
                                                  {"keyword", KeywordClassName(keyword)}},
                                                 {{"address", e164}}});
  rec.id = conn->Exec(txn, kInsert, provider, sms.provider_message_id, current.key_id,
                      crypto::ToHex(current.hash), KeywordClassName(keyword), outcome,
                      ToIso8601(now), event_id)[0][0]
               .as<int64_t>();
  txn.commit();
  rec.keyword = keyword;
  rec.outcome = outcome;
  rec.received_at = now;
  return rec;
}

InboundResult InboundSmsService::HandleInbound(const std::string& provider, const InboundSms& sms) {
  auto normalized = validation::NormalizePhone(sms.from, options_.default_region);
  if (std::holds_alternative<validation::AddressError>(normalized)) {
    throw InvalidArgument("from", "not a phone number");
  }
  const auto& number = std::get<validation::NormalizedAddress>(normalized);
  bool duplicate = false;
  Record rec = Recall(provider, sms, number.value, number.match_key, keywords_.Classify(sms.text),
                      &duplicate);
  InboundResult out;
  out.keyword = rec.keyword;
  out.outcome = rec.outcome;
  out.duplicate = duplicate;
  if (rec.processed) return out;

  // The effects, through the registry, each idempotent under a key of this record: a retry
  // after a crash between them repeats nothing.
  Caller caller{"sms:" + provider, ""};
  std::string key = "inbound-sms:" + std::to_string(rec.id);
  v1::Proof proof;
  proof.set_source(v1::SMS_REPLY);
  proof.set_form_id("sms:" + provider);
  SetTimestamp(proof.mutable_occurred_at(), rec.received_at);
  std::vector<std::string> owners = Owners(number.match_key);
  auto consent = [&](const std::string& subject_id, bool granted) {
    v1::RecordConsentRequest c;
    c.set_idempotency_key(key + (granted ? ":grant:" : ":withdraw:") + subject_id);
    c.set_subject_id(subject_id);
    c.set_kind(v1::MARKETING);
    c.set_channel(v1::SMS);
    c.set_granted(granted);
    *c.mutable_proof() = proof;
    if (granted) c.mutable_proof()->set_document_version(options_.start_document_version);
    try {
      registry_.RecordConsent(caller, c);
    } catch (const Error& e) {
      // Destroyed or depersonalized since: nothing of theirs to change.
      if (e.code() != ErrorCode::kFailedPrecondition && e.code() != ErrorCode::kNotFound) throw;
    }
  };
  if (rec.keyword == KeywordClass::kStop) {
    v1::OptOutRequest o;
    o.set_idempotency_key(key + ":suppress");
    o.set_address(number.value);
    o.set_scope(v1::CHANNEL);
    o.set_channel(v1::SMS);
    o.set_reason(v1::SMS_STOP);
    *o.mutable_proof() = proof;
    bool changed = registry_.OptOut(caller, o).changed();
    out.outcome = changed ? "stopped" : "already_stopped";
    // Every subject who owns the number loses marketing consent on SMS.
    if (changed) {
      for (const auto& s : owners) consent(s, false);
    }
  } else if (rec.keyword == KeywordClass::kStart && rec.outcome == "started") {
    // A new consent with proof; the registry lifts the SMS stop it postdates.
    for (const auto& s : owners) consent(s, true);
  }
  std::string language = ReplyLanguage(number.value);

  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto locked = conn->Exec(txn, kLockRecord, rec.id);
  if (locked[0][0].as<bool>()) {  // a concurrent re-post finished it
    out.outcome = locked[0][1].as<std::string>();
    out.duplicate = true;
    return out;
  }
  Timestamp now = clock_.Now();
  if (rec.keyword == KeywordClass::kStart && rec.outcome == "started" && owners.empty()) {
    crypto::SuppressionHash current = hasher_.Current("phone", number.match_key);
    subscriptions::LockAddressForChange(*conn, txn, crypto::ToHex(current.hash),
                                        AddressKind::kPhone, number.match_key, now);
    int64_t event_id =
        subscriptions::AppendEvent(*conn, txn,
                                   {std::nullopt,
                                    current.hash,
                                    subscriptions::EventType::kSuppressionLifted,
                                    caller.client_id,
                                    v1::SMS_REPLY,
                                    rec.received_at,
                                    now,
                                    {{"reason", "SMS_STOP"}, {"inbound_sms_id", rec.id}},
                                    nlohmann::json::object()});
    // A bare number (no subject owns it) has no consent to record: START lifts its SMS stop
    // directly, with its own event.
    subscriptions::LiftSmsStops(*conn, txn, HashesHex(hasher_, number.match_key), event_id, now);
  }
  std::optional<std::string> reply_id;
  if (out.outcome == "stopped" || out.outcome == "started" || out.outcome == "help") {
    const auto& texts = options_.replies.at(KeywordClassName(rec.keyword));
    auto text = texts.count(language) ? texts.at(language) : texts.at("az");
    auto reply = dispatch::QueueKeywordReply(*conn, txn, gate_, topics_,
                                             {rec.id, number.value, text, caller.client_id, now});
    reply_id = reply.message_id;
    if (!reply.queued) {
      log::Warn("keyword reply refused by the gate",
                {{"inbound_sms_id", rec.id}, {"reason", static_cast<int>(reply.reason)}});
    }
  }
  conn->Exec(txn, kFinish, rec.id, out.outcome, ToIso8601(now), reply_id);
  txn.commit();
  if (reply_id) out.reply_message_id = *reply_id;
  return out;
}

ReceiptResult InboundSmsService::HandleReceipt(const std::string& provider,
                                               const DeliveryReceipt& receipt) {
  if (!receipt.final) return ReceiptResult::kNotFinal;
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto found = conn->Exec(txn, kFindAttempt, provider, receipt.provider_message_id);
  if (found.empty()) return ReceiptResult::kUnknownMessage;
  std::string message_id = found[0][0].as<std::string>();
  Timestamp now = clock_.Now();
  // The webhook parsers normalise a final receipt to DELIVERED or UNDELIVERED.
  auto outcome = dispatch::ParseStatus(receipt.status);
  if (!outcome || (*outcome != dispatch::MessageStatus::kDelivered &&
                   *outcome != dispatch::MessageStatus::kUndelivered)) {
    return ReceiptResult::kUnchanged;
  }
  // Only a sent message takes a receipt; a repeated or late one changes nothing.
  if (!dispatch::ledger::ApplyReceipt(*conn, txn, message_id, *outcome,
                                      "delivery receipt from " + provider, now)) {
    return ReceiptResult::kUnchanged;
  }
  txn.commit();
  return ReceiptResult::kUpdated;
}

}  // namespace herald::inbound::sms
