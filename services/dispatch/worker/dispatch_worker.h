#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/crypto/key_ring.h"
#include "common/crypto/link_token.h"
#include "common/crypto/report_tag.h"
#include "services/dispatch/campaign_service.h"
#include "services/dispatch/content/template_cache.h"
#include "services/dispatch/outbox/outbox.h"
#include "services/dispatch/providers/provider_registry.h"
#include "services/dispatch/throttle/shared_rate.h"
#include "services/dispatch/throttle/token_bucket.h"
#include "services/dispatch/worker/outcome_recorder.h"
#include "services/subscriptions/registry.h"

namespace herald::dispatch {

struct WorkerOptions {
  int threads = 2;
  int batch_size = 100;
  // Messages of one claimed batch in flight at once (each over its own provider connection,
  // up to the provider's max_connections); 1 sends the batch one message at a time.
  int send_concurrency = 4;
  std::chrono::seconds lease{120};
  std::chrono::milliseconds idle_poll{200};
  std::string from_address;
  std::string from_name;
  std::string message_id_domain = "herald.invalid";
  std::string name = "worker";  // lease owner prefix (host name in production)
  // Links: {public_base_url}/u/{token} (one-click unsubscribe) and /p/{token} (preferences).
  // List-Unsubscribe is set only when the base URL is https (RFC 8058).
  std::string public_base_url;
  std::string unsubscribe_mailto;  // empty: no mailto fallback
  const crypto::LinkSigner* links = nullptr;
  const crypto::SuppressionHasher* hasher = nullptr;
  // A bare address's link names its hash's suppression key (dispatch.link_suppression_key_ids;
  // a key id longer than a token can carry is left out).
  bool link_suppression_key_ids = false;
  // Tags every e-mail's Message-ID and return path so that bounces and complaints about it
  // can be verified (services/inbound/mail); null: untagged, and reports about it are ignored.
  const crypto::ReportTagger* report_tags = nullptr;
  // Marketing SMS footers by language ("az", "ru", "en"); Azerbaijani when the subject's
  // locale has none.
  std::map<std::string, std::string> sms_footers;
  // Campaign pacing for all processes together (rate_buckets, "campaign:<id>"); null: each
  // process paces its own sends at the campaign's rate.
  SharedRate* shared_rate = nullptr;
  // After the database was away, how long leases that ran out meanwhile are left to the
  // workers that held them (so they can record what they sent) before they are reclaimed.
  std::chrono::milliseconds reclaim_grace{std::chrono::seconds(10)};
  RecorderOptions recorder;
};

// Outbox workers: claim (gate inside), render, send through the chosen provider, record each
// outcome before the next send of its lane (OutcomeRecorder), and turn permanent address
// failures (SMTP 5.1.x, carrier opt-outs) into suppressions.
class DispatchWorker {
 public:
  DispatchWorker(Outbox& outbox, ProviderRegistry& providers, CampaignService& campaigns,
                 subscriptions::SubscriptionRegistry& registry, const Clock& clock,
                 WorkerOptions options);
  ~DispatchWorker();

  void Start();
  // Tells the threads to stop and returns at once: every wait for a rate limit or a relay
  // connection ends now, a send that has not handed its message over yet is abandoned, and
  // the messages not sent are handed back unattempted (retried soon, by any worker).
  void RequestStop();
  // RequestStop, then waits for the threads: they record the outcomes in hand and return.
  // Messages claimed but not completed keep their lease and are reclaimed later (nothing is
  // lost).
  void Stop();
  // One claim-send-complete round on the calling thread; returns how many were claimed.
  int RunOnce(const std::string& owner);

 private:
  void Loop(int index);
  // Sends `m` unless the worker stops or its lease would have less than `margin` left when
  // sending starts (after any wait for a rate limit): then it is handed back unattempted.
  Outcome Deliver(const ClaimedMessage& m, std::chrono::microseconds margin);
  // The recipient's one-click unsubscribe and preference links for this message.
  std::pair<std::string, std::string> Links(const ClaimedMessage& m) const;
  std::string SmsFooter(const ClaimedMessage& m) const;
  // The subject's locale, from the message's variables ("" when unknown).
  static std::string Locale(const ClaimedMessage& m);
  void Suppress(const ClaimedMessage& m, const DeliveryResult& r);
  // What the last database call said: false (away) then true starts the reclaim grace.
  void DatabaseAnswered(bool ok);

  Outbox& outbox_;
  ProviderRegistry& providers_;
  CampaignService& campaigns_;
  subscriptions::SubscriptionRegistry& registry_;
  const Clock& clock_;
  WorkerOptions options_;
  // Waits for the campaign's own rate; false when `give_up` gave a reason first (nothing is
  // sent).
  bool PaceCampaign(const ClaimedMessage& m, const ProviderRegistry::GiveUp& give_up);
  // This process's bucket for a campaign's pacing (without a shared rate).
  TokenBucket& CampaignBucket(const ClaimedMessage& m);
  // The claim's admission: a message is claimed only while each of its rate limits (its
  // provider's, its campaign's) has a token for it within `window` (the part of the lease in
  // which a send may start), counting the tokens there now, those that fall due meanwhile and
  // the messages other claims of this process hold for the limit and have not sent yet. Each
  // admitted message is promised to its limits until Release.
  // `admitted` collects the ids of the messages it promised.
  Outbox::Admit Admission(std::chrono::microseconds window, std::vector<std::string>& admitted);
  // Ends the promises of message `id` (sent, handed back or never claimed).
  void Release(const std::string& id);

  // Campaigns' compiled content by campaign id: compiled once, not for every message.
  TemplateCache campaign_templates_;
  std::mutex campaign_mu_;
  std::map<std::string, std::unique_ptr<TokenBucket>> campaign_buckets_;
  std::atomic<bool> stopping_{false};
  // Requested with stopping_: ends the dispatch path's waits and interrupts sends.
  std::stop_source stop_;
  std::mutex promised_mu_;
  std::map<std::string, int> promised_;                          // by limit; guarded
  std::map<std::string, std::vector<std::string>> promised_by_;  // message -> its limits
  std::atomic<bool> database_away_{false};
  std::atomic<std::chrono::steady_clock::time_point> reclaim_not_before_{};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
  std::unique_ptr<OutcomeRecorder> recorder_;  // declared after stopping_, which it reads
};

}  // namespace herald::dispatch
