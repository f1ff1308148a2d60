#pragma once

#include <map>
#include <string>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "services/inbound/sms/keywords.h"
#include "services/inbound/sms/webhook_parsing.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/registry.h"

namespace herald::inbound::sms {

// Reply texts by keyword class ("stop", "start", "help") and language ("az", "ru", "en").
using ReplyTexts = std::map<std::string, std::map<std::string, std::string>>;
ReplyTexts DefaultReplyTexts();

// The reply's language from a number alone (E.164): az for +994, ru for the Russian-speaking
// +7/+375/+996, en for +1/+44/+61/+64/+353, otherwise az (the operator's default).
std::string LanguageOfNumber(const std::string& e164);

struct InboundOptions {
  std::string default_region = "RU";
  // Document version recorded on the consent a START grants (S3 wants one on every grant).
  std::string start_document_version = "sms-start";
  ReplyTexts replies = DefaultReplyTexts();
};

// What became of an inbound SMS.
struct InboundResult {
  KeywordClass keyword = KeywordClass::kNone;
  // stopped, already_stopped, started, not_stopped, help, ignored
  std::string outcome;
  bool duplicate = false;        // the provider re-posted a message already handled
  std::string reply_message_id;  // empty: no reply
};

enum class ReceiptResult { kUpdated, kUnchanged, kUnknownMessage, kNotFinal };

// Keyword replies (STANDARDS S1-S2) and delivery receipts. Transport-free: the webhook
// routes verify the provider's signature and parse, then call here.
//
// An inbound message is recorded once per (provider, provider message id) without the
// number in clear (its keyed hash; the number itself only in the event's personal side
// table). Its effects go through the registry with idempotency keys derived from that
// record, and its reply is queued in the same transaction that marks it processed, so a
// re-post or a retry after a crash changes nothing more and sends no second reply.
class InboundSmsService {
 public:
  InboundSmsService(db::Pool& pool, const Clock& clock, const crypto::SuppressionHasher& hasher,
                    const subscriptions::EligibilityGate& gate, const TopicCatalog& topics,
                    subscriptions::SubscriptionRegistry& registry, KeywordMatcher keywords,
                    InboundOptions options);

  // Throws herald::Error (INVALID_ARGUMENT naming the field) for an unusable sender.
  InboundResult HandleInbound(const std::string& provider, const InboundSms& sms);
  ReceiptResult HandleReceipt(const std::string& provider, const DeliveryReceipt& receipt);

 private:
  struct Record {
    int64_t id = 0;
    KeywordClass keyword = KeywordClass::kNone;
    std::string outcome;
    Timestamp received_at;
    bool processed = false;
  };
  Record Recall(const std::string& provider, const InboundSms& sms, const std::string& e164,
                const std::string& match_key, KeywordClass keyword, bool* duplicate);
  std::vector<std::string> Owners(const std::string& match_key);
  std::string ReplyLanguage(const std::string& e164);

  db::Pool& pool_;
  const Clock& clock_;
  const crypto::SuppressionHasher& hasher_;
  const subscriptions::EligibilityGate& gate_;
  const TopicCatalog& topics_;
  subscriptions::SubscriptionRegistry& registry_;
  KeywordMatcher keywords_;
  InboundOptions options_;
};

}  // namespace herald::inbound::sms
