#pragma once

#include <functional>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/connection.h"
#include "common/domain/enums.h"
#include "common/domain/topics.h"
#include "services/subscriptions/gate/decision.h"
#include "services/subscriptions/gate/fair_sending.h"

namespace herald::subscriptions {

struct GateRequest {
  std::optional<std::string> subject_id;  // a syntactically valid UUID
  std::optional<std::string> address;     // as given; normalised here
  Channel channel = Channel::kEmail;
  const TopicInfo* topic = nullptr;  // a known topic
  std::string provider_country;      // ISO alpha-2, upper case; empty: domestic
  // The message replies to this inbound SMS keyword (inbound_sms.id): the keyword-reply
  // rule applies when that inbound came from this very number within kKeywordReplyWindow
  // before `now` (the caller's clock; SQL never reads its own).
  std::optional<int64_t> reply_to_inbound;
  // The message confirms this pending capture request (capture_requests.id, a UUID): the
  // second exception applies when the request is pending, valid at `now`, on this channel
  // and gave this very address, and the topic is a service one.
  std::optional<std::string> confirms_capture;
  // The message took its frequency-cap slots when it was first moved to sending (a retry, a
  // reclaimed lease): the caps count it already, so they are not applied to it again.
  bool holds_cap_slots = false;
  Timestamp now{};
};

// How long after an inbound keyword its reply may still go out without consent.
inline constexpr std::chrono::hours kKeywordReplyWindow{24};

struct GateDecision {
  DenyReason reason = DenyReason::kNone;
  std::string address;           // normalised address decided for; empty if none was known
  std::string match_key;         // its match key (what suppressions and duplicates compare)
  bool unknown_subject = false;  // the explicit subject id does not exist
  // What decided a denial and why (decision.h); kNone when allowed.
  DecidingFact decided_by = DecidingFact::kNone;
  std::string deciding_subject_id;
  const char* explanation = "";
  // Allowed, but the recipient's quiet hours on this channel last until then (marketing
  // only): a message waits in the queue until this time.
  std::optional<Timestamp> not_before;
  // The subject whose frequency caps a marketing message counts against (the one named, or
  // the address's first owner); empty when no cap applies or the message is not allowed.
  std::string cap_subject_id;
  bool allowed() const { return reason == DenyReason::kNone && !unknown_subject; }
};

// The gate: the one component that decides whether a message may go to a recipient. It
// gathers facts for a whole batch with set-based statements (never one query per
// recipient): one, plus one for recipients named only by subject (their address comes
// first), one for SMS keyword replies and one for capture confirmations, then applies
// Judge().
//
// Dispatch calls it inside the transaction that moves messages to `sending`, after locking
// the recipients' gate rows for claim (gate_rows.h); CheckEligibility calls it outside a
// transaction (pqxx::nontransaction): no BEGIN/COMMIT round trips, and each statement reads
// the newest committed state.
class EligibilityGate {
 public:
  EligibilityGate(const crypto::SuppressionHasher& hasher, std::string default_region,
                  std::vector<std::string> home_jurisdictions);

  std::vector<GateDecision> Decide(db::Connection& conn, pqxx::transaction_base& txn,
                                   const std::vector<GateRequest>& requests) const;

  // The same decisions as Decide() for a request per (subject, channel, topic) naming only
  // the subject (its first address of the channel's kind, a domestic provider, no keyword
  // reply), in that order: subject-major, then `channels`, then `topics`. Facts are gathered
  // once per subject and address rather than once per cell, so a subject's whole matrix
  // costs about what one request does (the CRM card derivation asks every channel and
  // marketing topic for every subject).
  std::vector<GateDecision> DecideMatrix(db::Connection& conn, pqxx::transaction_base& txn,
                                         const std::vector<std::string>& subject_ids,
                                         const std::vector<Channel>& channels,
                                         const std::vector<const TopicInfo*>& topics) const;

  // Frequency caps and quiet hours for marketing messages (none until set). Set once, before
  // the gate is used.
  void SetFairSending(FairSendingSettings settings) { fair_ = std::move(settings); }
  const FairSendingSettings& fair_sending() const { return fair_; }

  bool IsForeign(const std::string& provider_country) const;
  const std::string& default_region() const { return default_region_; }
  const crypto::SuppressionHasher& hasher() const { return hasher_; }

  // Called with every batch Decide() returns (the request path and dispatch; not the CRM
  // card's matrix), for counting. Set once, before the gate is used.
  using DecisionObserver = std::function<void(const std::vector<GateDecision>&)>;
  void ObserveDecisions(DecisionObserver observer) { observer_ = std::move(observer); }

 private:
  // After Judge: caps (reads), then quiet hours, of the allowed marketing requests.
  void ApplyFairSending(db::Connection& conn, pqxx::transaction_base& txn,
                        const std::vector<GateRequest>& requests, std::vector<GateFacts>& facts,
                        std::vector<GateDecision>& out) const;

  DecisionObserver observer_;
  FairSendingSettings fair_ = NoFairSending();
  const crypto::SuppressionHasher& hasher_;
  std::string default_region_;
  std::vector<std::string> home_;
};

}  // namespace herald::subscriptions
