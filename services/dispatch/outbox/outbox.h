#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/pool.h"
#include "common/domain/enums.h"
#include "common/domain/topics.h"
#include "services/dispatch/adapters/delivery.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/gate/gate_rows.h"

namespace herald::dispatch {

// A message the gate allowed and that is now SENDING under this worker's lease.
struct ClaimedMessage {
  std::string id;
  std::string campaign_id;
  std::string subject_id;
  std::string address;  // normalised, as decided by the gate
  std::string match_key;
  bool marketing = true;     // the topic is marketing (List-Unsubscribe, links)
  double campaign_rate = 0;  // the campaign's messages per second; 0: no campaign limit
  Channel channel;
  std::string topic;
  std::string provider;
  int attempt = 0;  // this attempt's number (1-based)
  // The claim's lease token: its completion must carry it (a completion of an older claim is
  // void).
  int64_t lease_token = 0;
  // When the lease runs out, on this process's steady clock (measured from before the claim
  // was asked for, so never later than PostgreSQL's own reckoning): after it another worker
  // may reclaim the message, so no send may start then. A steady clock, so a jump of the
  // wall clock cannot make a running lease look longer.
  std::chrono::steady_clock::time_point lease_deadline;
  // Content and values to render. The content is a single message's own; a campaign's
  // messages carry none (empty): theirs is the campaign's (CampaignService::CompiledContent).
  std::string subject_template, text_template, html_template;
  std::map<std::string, std::string> variables;  // per-recipient and subject fields
};

// Picks the provider for a channel: `foreign_ok` false asks for a domestic one.
struct ProviderChoice {
  std::string name;
  std::string country;
  // false: configured, but its circuit is open for now (messages wait instead of being
  // decided against it).
  bool available = true;
};
using ProviderPicker = std::function<std::optional<ProviderChoice>(Channel, bool foreign_ok)>;
// Picks a provider by name (available and serving the channel), or nullopt.
using NamedProviderPicker =
    std::function<std::optional<ProviderChoice>(const std::string& name, Channel)>;

struct Outcome {
  std::string message_id;
  int attempt = 0;
  std::string provider;
  Timestamp started;
  Timestamp ended;
  DeliveryResult result;
  std::string sms_encoding;  // of the text actually sent (SMS only)
  int sms_segments = 0;
  int64_t lease_token = 0;  // the claim's (ClaimedMessage::lease_token)
  // The message's recipient as claimed (OutcomeOf fills it): its completion locks the same gate
  // rows without reading them back. Left empty (no match key), Complete reads it from the message.
  subscriptions::ClaimRecipient recipient;
};

// An outcome of `m` to fill in: its message, attempt, lease token, provider and recipient.
Outcome OutcomeOf(const ClaimedMessage& m);

struct RetryPolicy {
  int max_attempts = 8;
  std::chrono::seconds base_delay{30};
  std::chrono::seconds max_delay{3600};
  std::chrono::seconds max_age{24 * 3600};
};

// The outbox: claims due messages and records what became of them.
//
// Claim() follows the gate-row rule (services/subscriptions/gate/gate_rows.h): in ONE
// transaction it locks a batch of due messages (FOR UPDATE SKIP LOCKED, so replicas share the
// work), locks the recipients' gate rows for claim, asks the gate in a separate statement,
// and moves each message to SENDING or SUPPRESSED. Only SENDING messages are returned, and only
// after the commit. Retries and reclaimed leases pass through here again, so the gate runs for
// every attempt.
class Outbox {
 public:
  Outbox(db::Pool& pool, const Clock& clock, const subscriptions::EligibilityGate& gate,
         const TopicCatalog& topics, ProviderPicker picker, RetryPolicy retry);

  // Keyword replies prefer the provider their keyword came in by (if it can take them now).
  void PreferReplyProviders(NamedProviderPicker named) { named_picker_ = std::move(named); }

  // `reclaim_expired` false leaves messages whose lease ran out to their workers for now: a
  // worker back from a database outage gives the others a moment to record what they sent
  // during it before it takes their messages again.
  //
  // `admit`, when given, is asked in order for each message the claim would move to SENDING,
  // with the provider chosen for it: false leaves the message as it was (not claimed, nothing
  // written), so a claim takes no more than its rate limits can send within the lease.
  using Admit = std::function<bool(const std::string& provider, const ClaimedMessage& m)>;
  std::vector<ClaimedMessage> Claim(const std::string& worker, int limit,
                                    std::chrono::seconds lease, bool reclaim_expired = true,
                                    const Admit& admit = {});
  // Records attempts and moves messages to SENT, RETRYING or FAILED in one transaction. Only
  // outcomes whose claim still holds the message end it (ledger::RecordCompletions); the same
  // outcomes may be recorded again after a commit whose result was unknown.
  void Complete(const std::vector<Outcome>& outcomes);

  // Delay before attempt `attempt` + 1: exponential with full jitter (seeded by message id,
  // so it is reproducible in tests).
  std::chrono::seconds Backoff(const std::string& message_id, int attempt,
                               std::optional<std::chrono::seconds> retry_after) const;

 private:
  db::Pool& pool_;
  const Clock& clock_;
  const subscriptions::EligibilityGate& gate_;
  const TopicCatalog& topics_;
  ProviderPicker picker_;
  NamedProviderPicker named_picker_;
  RetryPolicy retry_;
};

}  // namespace herald::dispatch
