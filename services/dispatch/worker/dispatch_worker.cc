#include "services/dispatch/worker/dispatch_worker.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <system_error>

#include "common/error.h"
#include "common/log/log.h"
#include "services/dispatch/adapters/sms/sms_encoding.h"
#include "services/dispatch/content/message_template.h"
#include "services/dispatch/content/recipient_footer.h"
#include "services/dispatch/message_service.h"
#include "services/dispatch/throttle/stop_wait.h"

namespace herald::dispatch {

DispatchWorker::DispatchWorker(Outbox& outbox, ProviderRegistry& providers,
                               CampaignService& campaigns,
                               subscriptions::SubscriptionRegistry& registry, const Clock& clock,
                               WorkerOptions options)
    : outbox_(outbox),
      providers_(providers),
      campaigns_(campaigns),
      registry_(registry),
      clock_(clock),
      options_(std::move(options)),
      campaign_templates_([this](const std::string& campaign_id) {
        return campaigns_.CompiledContent(campaign_id);
      }),
      // One recorder for every thread's lanes: lanes of all threads that finish together share
      // one transaction (a recorder per thread made four times as many).
      recorder_(std::make_unique<OutcomeRecorder>(
          [this](const std::vector<Outcome>& group) { outbox_.Complete(group); }, stopping_,
          [this](bool ok) { DatabaseAnswered(ok); }, options_.recorder)) {}

DispatchWorker::~DispatchWorker() { Stop(); }

void DispatchWorker::Start() {
  for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this, i] { Loop(i); });
}

void DispatchWorker::RequestStop() {
  stopping_ = true;
  stop_.request_stop();
  cv_.notify_all();
}

void DispatchWorker::Stop() {
  RequestStop();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void DispatchWorker::Loop(int index) {
  std::string owner = options_.name + "-" + std::to_string(index);
  auto last_advance = std::chrono::steady_clock::time_point();
  auto last_purge = std::chrono::steady_clock::time_point();
  auto last_failure_log = std::chrono::steady_clock::time_point();
  int64_t failed_rounds = 0;
  while (!stopping_) {
    // One thread starts due campaigns and finishes done ones, about once a second.
    if (index == 0 && std::chrono::steady_clock::now() - last_advance > std::chrono::seconds(1)) {
      last_advance = std::chrono::steady_clock::now();
      try {
        campaigns_.AdvanceCampaigns();
      } catch (const std::exception& e) {
        log::Warn("campaign housekeeping failed", {{"error_type", typeid(e).name()}});
      }
    }
    // Ended campaigns leave their pacing rows behind; once an hour they go.
    if (index == 0 && options_.shared_rate &&
        std::chrono::steady_clock::now() - last_purge > std::chrono::hours(1)) {
      last_purge = std::chrono::steady_clock::now();
      try {
        options_.shared_rate->PurgeIdle();
      } catch (const std::exception& e) {
        log::Warn("rate limit housekeeping failed", {{"error_type", typeid(e).name()}});
      }
    }
    int claimed = 0;
    try {
      claimed = RunOnce(owner);
    } catch (const std::exception& e) {
      // While the database is away every round fails: one line per ten seconds says so.
      ++failed_rounds;
      auto now = std::chrono::steady_clock::now();
      if (now - last_failure_log > std::chrono::seconds(10)) {
        last_failure_log = now;
        log::Warn("dispatch round failed", {{"worker", owner},
                                            {"error_type", typeid(e).name()},
                                            {"failed_rounds", failed_rounds}});
        failed_rounds = 0;
      }
    }
    if (claimed == 0) {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, options_.idle_poll, [this] { return stopping_.load(); });
    }
  }
}

int DispatchWorker::RunOnce(const std::string& owner) {
  // Back from a database outage, leases that ran out during it are left to their workers for
  // a while: they may hold outcomes of messages they sent meanwhile and record them now.
  const bool reclaim_expired = std::chrono::steady_clock::now() >= reclaim_not_before_.load();
  // Never start a send that could outlive the lease: a message whose lease is nearly over is
  // handed back (not an attempt), so a reclaiming worker cannot send it a second time.
  auto margin = std::min(std::chrono::duration_cast<std::chrono::microseconds>(options_.lease) / 2,
                         std::chrono::microseconds(std::chrono::seconds(35)));
  // And claim no more than the rate limits let go before then: a message that would wait for
  // its token past that point would only be handed back, its lease held meanwhile.
  std::vector<ClaimedMessage> claimed;
  std::vector<std::string> admitted;
  try {
    claimed = outbox_.Claim(owner, options_.batch_size, options_.lease, reclaim_expired,
                            Admission(options_.lease - margin, admitted));
  } catch (const std::exception& e) {
    for (const auto& id : admitted) Release(id);
    if (OutcomeRecorder::IsTransient(e)) DatabaseAnswered(false);
    throw;
  }
  {
    // Admitted, then suppressed by the rest of the claim (a frequency cap): not sent here.
    std::set<std::string> kept;
    for (const auto& m : claimed) kept.insert(m.id);
    for (const auto& id : admitted) {
      if (!kept.count(id)) Release(id);
    }
  }
  DatabaseAnswered(true);
  if (claimed.empty()) return 0;
  // Whatever ends this batch (an exception from recording included), its admissions end
  // with it: a promise left behind would shrink its limit for the life of the process.
  struct ReleaseAdmissions {
    DispatchWorker& worker;
    const std::vector<ClaimedMessage>& claimed;
    ~ReleaseAdmissions() {
      for (const auto& m : claimed) worker.Release(m.id);
    }
  } release_admissions{*this, claimed};
  auto hand_back = [&](const ClaimedMessage& m, const char* why) {
    Outcome back = OutcomeOf(m);
    back.started = back.ended = clock_.Now();
    back.result.outcome = DeliveryOutcome::kRetry;
    back.result.not_attempted = true;
    back.result.detail = why;
    return back;
  };
  // Each outcome is recorded before its lane starts another send (OutcomeRecorder), so a crash
  // leaves at most one sent-but-unrecorded message per lane. Once recording has been given up
  // (a fault that is not an outage, or shutdown during one), no lane sends again: the rest of
  // the batch waits for its lease to run out unsent.
  OutcomeRecorder& recorder = *recorder_;
  std::atomic<bool> abandoned{false};
  // Sends run in `lanes` at once (one message at a time left the connection idle during every
  // round trip). The gate invariant is untouched: every message here was moved to SENDING by
  // the claim that ran the gate.
  auto lane = [&](size_t first, size_t step) {
    for (size_t i = first; i < claimed.size() && !abandoned; i += step) {
      const auto& m = claimed[i];
      if (std::chrono::steady_clock::now() + margin > m.lease_deadline) {
        Release(m.id);
        recorder.Add(hand_back(m, "lease nearly over"));
        continue;
      }
      Outcome o;
      try {
        o = Deliver(m, margin);
      } catch (const std::exception&) {
        // Deliver records its own failures; anything escaping it is handed back.
        o = hand_back(m, "internal error before sending");
      }
      Release(m.id);
      // The address's suppression comes first: once the message shows FAILED, the address is
      // suppressed; and a crash in between leaves a reclaimed message the gate refuses.
      if (o.result.outcome == DeliveryOutcome::kSuppress) Suppress(m, o.result);
      if (!recorder.Record(std::move(o))) {
        abandoned = true;
        break;
      }
    }
  };
  const size_t step =
      std::min(claimed.size(), static_cast<size_t>(std::max(1, options_.send_concurrency)));
  std::vector<std::thread> helpers;
  size_t started = 1;  // lane 0 is the calling thread
  for (; started < step; ++started) {
    try {
      helpers.emplace_back(lane, started, step);
    } catch (const std::system_error&) {
      break;  // no thread to be had: the calling thread takes the lanes that did not start
    }
  }
  lane(0, step);
  for (size_t r = started; r < step; ++r) lane(r, step);
  for (auto& t : helpers) t.join();
  // Lanes that stopped early (recording given up) leave their messages to the lease; their
  // admissions end with release_admissions.
  recorder.Flush();
  return static_cast<int>(claimed.size());
}

void DispatchWorker::DatabaseAnswered(bool ok) {
  if (!ok) {
    database_away_ = true;
    return;
  }
  if (database_away_.exchange(false)) {
    reclaim_not_before_ = std::chrono::steady_clock::now() + options_.reclaim_grace;
    log::Info(
        "database reachable again; leases that ran out are left to their workers for now",
        {{"grace_ms", static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                               options_.reclaim_grace)
                                               .count())}});
  }
}

std::pair<std::string, std::string> DispatchWorker::Links(const ClaimedMessage& m) const {
  if (!options_.links || options_.public_base_url.empty()) return {};
  crypto::LinkClaims claims;
  if (!m.subject_id.empty()) {
    claims.subject_id = m.subject_id;
  } else if (options_.hasher) {
    crypto::SuppressionHash key =
        options_.hasher->Current(KindName(KindOf(m.channel)), m.match_key);
    claims.address_key = std::move(key.hash);
    if (options_.link_suppression_key_ids && key.key_id.size() <= crypto::kMaxLinkKeyIdBytes) {
      claims.address_key_id = std::move(key.key_id);
    }
  } else {
    return {};
  }
  claims.topic = m.topic;
  claims.channel = static_cast<int>(m.channel);
  claims.message_id = m.id;
  claims.issued_at = clock_.Now();
  std::string token = options_.links->Sign(claims);
  return {options_.public_base_url + "/u/" + token, options_.public_base_url + "/p/" + token};
}

std::string DispatchWorker::SmsFooter(const ClaimedMessage& m) const {
  std::string language = Locale(m).substr(0, 2);
  auto it = options_.sms_footers.find(language);
  if (it == options_.sms_footers.end() || it->second.empty()) {
    it = options_.sms_footers.find("az");
  }
  return it == options_.sms_footers.end() ? std::string() : it->second;
}

std::string DispatchWorker::Locale(const ClaimedMessage& m) {
  auto it = m.variables.find("locale");
  return it == m.variables.end() ? std::string() : it->second;
}

TokenBucket& DispatchWorker::CampaignBucket(const ClaimedMessage& m) {
  std::lock_guard lock(campaign_mu_);
  auto& slot = campaign_buckets_[m.campaign_id];
  if (!slot) slot = std::make_unique<TokenBucket>(m.campaign_rate, 1.0, clock_);
  return *slot;
}

bool DispatchWorker::PaceCampaign(const ClaimedMessage& m,
                                  const ProviderRegistry::GiveUp& give_up) {
  if (m.campaign_id.empty() || m.campaign_rate <= 0) return true;
  auto giving_up = [&] { return give_up() != nullptr; };
  if (options_.shared_rate) {
    return options_.shared_rate->Acquire("campaign:" + m.campaign_id, "campaign", m.campaign_rate,
                                         1.0, 1, giving_up, stop_.get_token());
  }
  TokenBucket& bucket = CampaignBucket(m);
  while (!bucket.TryAcquire()) {
    if (giving_up() || stop_.stop_requested()) return false;
    SleepUnlessStopped(stop_.get_token(),
                       std::clamp(bucket.TimeUntilAvailable(), std::chrono::microseconds(200),
                                  std::chrono::microseconds(100000)));
  }
  return true;
}

Outbox::Admit DispatchWorker::Admission(std::chrono::microseconds window,
                                        std::vector<std::string>& admitted) {
  // What each limit can still take in this claim; read once per limit and claim.
  auto left = std::make_shared<std::map<std::string, double>>();
  // A token that falls due right at the end of the window would be a send started at the
  // edge of the margin: count the refill of most of the window only.
  const auto refill_window = window * 4 / 5;
  if (options_.shared_rate) {
    // Shared limits live in PostgreSQL, and the claim holds a connection while it admits:
    // asking the pool for a second one there could wait on every other claim doing the same.
    // So each provider's level is read here, before the claim starts; a campaign's shared
    // limit is not read at all (its messages are admitted, and a send that would start too
    // late is still handed back).
    for (const auto& [provider, open] : providers_.Circuits()) {
      std::optional<double> t = providers_.TokensWithin(provider, refill_window);
      double room = std::numeric_limits<double>::infinity();
      if (t) {
        std::lock_guard lock(promised_mu_);
        room = std::floor(*t) - promised_["provider:" + provider];
      }
      left->emplace("provider:" + provider, room);
    }
  }
  return
      [this, left, refill_window, &admitted](const std::string& provider, const ClaimedMessage& m) {
        // The limits this message must take a token of, with how to read each one's tokens.
        std::vector<std::pair<std::string, std::function<std::optional<double>()>>> limits;
        limits.emplace_back("provider:" + provider,
                            [&] { return providers_.TokensWithin(provider, refill_window); });
        if (!m.campaign_id.empty() && m.campaign_rate > 0) {
          limits.emplace_back("campaign:" + m.campaign_id, [&]() -> std::optional<double> {
            const double refill =
                m.campaign_rate * std::chrono::duration<double>(refill_window).count();
            if (options_.shared_rate) return std::nullopt;  // see above: not read in a claim
            return CampaignBucket(m).Available() + refill;
          });
        }
        std::vector<std::string> binding;
        for (auto& [key, tokens] : limits) {
          auto it = left->find(key);
          if (it == left->end()) {
            // Read outside promised_mu_: a shared limit asks PostgreSQL.
            std::optional<double> t = tokens();
            double room = std::numeric_limits<double>::infinity();
            if (t) {
              std::lock_guard lock(promised_mu_);
              room = std::floor(*t) - promised_[key];
            }
            it = left->emplace(key, room).first;
          }
          if (it->second < 1) return false;
          if (std::isfinite(it->second)) binding.push_back(key);
        }
        std::lock_guard lock(promised_mu_);
        for (const auto& key : binding) {
          (*left)[key] -= 1;
          ++promised_[key];
        }
        if (!binding.empty()) {
          promised_by_[m.id] = binding;
          admitted.push_back(m.id);
        }
        return true;
      };
}

void DispatchWorker::Release(const std::string& id) {
  std::lock_guard lock(promised_mu_);
  auto it = promised_by_.find(id);
  if (it == promised_by_.end()) return;
  for (const auto& key : it->second) {
    if (--promised_[key] <= 0) promised_.erase(key);
  }
  promised_by_.erase(it);
}

Outcome DispatchWorker::Deliver(const ClaimedMessage& m, std::chrono::microseconds margin) {
  Outcome o = OutcomeOf(m);
  // Asked after every wait for a rate limit, right before the send.
  ProviderRegistry::GiveUp give_up = [&]() -> const char* {
    if (stopping_) return "shutting down";
    if (std::chrono::steady_clock::now() + margin > m.lease_deadline) return "lease nearly over";
    return nullptr;
  };
  if (!PaceCampaign(m, give_up)) {
    // Handed back unattempted, like a message whose lease ran short before its turn.
    o.started = o.ended = clock_.Now();
    o.result.outcome = DeliveryOutcome::kRetry;
    o.result.not_attempted = true;
    const char* reason = give_up();
    o.result.detail = reason ? reason : "given up";
    return o;
  }
  o.started = clock_.Now();
  // A campaign's content is compiled once for all its messages; fetching it may find the
  // database away: then nothing was sent, and the message is handed back, not failed.
  std::optional<MessageTemplate> campaign_content;
  if (!m.campaign_id.empty()) {
    try {
      campaign_content = campaign_templates_.Get(m.campaign_id);
    } catch (const std::exception& e) {
      const auto* error = dynamic_cast<const Error*>(&e);
      o.ended = clock_.Now();
      if (error && error->code() != ErrorCode::kUnavailable) {
        // No such campaign, or content that does not compile: it will never render.
        o.result.outcome = DeliveryOutcome::kFailed;
        o.result.detail = "could not render the message";
      } else {
        o.result.outcome = DeliveryOutcome::kRetry;
        o.result.not_attempted = true;
        o.result.detail = "campaign content unavailable";
      }
      return o;
    }
  }
  try {
    auto tpl = [&] {
      if (campaign_content) return *campaign_content;
      std::set<std::string> allowed = MessageService::BuiltInVariables();
      for (const auto& [k, v] : m.variables) allowed.insert(k);
      return MessageTemplate::Compile({m.subject_template, m.text_template, m.html_template},
                                      allowed);
    }();
    auto [unsubscribe_url, preferences_url] = Links(m);
    auto values = m.variables;
    values["unsubscribe_url"] = unsubscribe_url;
    values["preferences_url"] = preferences_url;
    auto rendered = tpl.Render(values);
    if (m.channel == Channel::kEmail) {
      EmailMessage e;
      e.message_id = m.id;
      if (options_.report_tags) e.report_token = options_.report_tags->Token(m.id);
      e.from_address = options_.from_address;
      e.from_name = options_.from_name;
      e.to_address = m.address;
      e.subject = rendered.subject;
      e.text_body = rendered.text;
      e.html_body = rendered.html;
      // E4, E7 and the bulk-sender rules: visible unsubscribe and preference-center links in
      // the body too, in the recipient's language; a link the template placed itself is not
      // repeated.
      if (m.marketing && !unsubscribe_url.empty()) {
        AddRecipientFooter(Locale(m), {unsubscribe_url, preferences_url}, e.text_body, e.html_body);
      }
      // E4, E6: marketing mail carries one-click List-Unsubscribe (HTTPS only) and the mailto
      // fallback whose subject is the refusal marker in the recipient's language.
      if (m.marketing && unsubscribe_url.rfind("https://", 0) == 0) {
        e.list_unsubscribe_url = unsubscribe_url;
        e.list_unsubscribe_mailto = options_.unsubscribe_mailto;
        e.list_unsubscribe_subject = FooterTextFor(Locale(m)).refusal_marker;
      }
      e.date = o.started;
      o.result = providers_.SendEmail(m.provider, e, give_up, stop_.get_token());
    } else {
      std::string body = rendered.text;
      if (m.marketing) {
        std::string footer = SmsFooter(m);
        if (!footer.empty()) body += "\n" + footer;
      }
      auto enc = sms::AnalyzeSms(body);
      o.sms_encoding = enc.kind == sms::SmsEncoding::Kind::kGsm7 ? "GSM7" : "UCS2";
      o.sms_segments = enc.segments;
      o.result =
          providers_.SendSms(m.provider, {m.id, m.address, body}, give_up, stop_.get_token());
    }
  } catch (const Error&) {
    // A template that cannot render will never render: fail it, keep the rest.
    o.result.outcome = DeliveryOutcome::kFailed;
    o.result.detail = "could not render the message";
  } catch (const std::invalid_argument&) {
    // A message the transport refuses to build (e.g. an unusable header value).
    o.result.outcome = DeliveryOutcome::kFailed;
    o.result.detail = "could not build the message";
  } catch (const std::exception&) {
    // Anything else is transient (memory, handles): try again later.
    o.result.outcome = DeliveryOutcome::kRetry;
    o.result.detail = "internal error while sending";
  }
  o.ended = clock_.Now();
  return o;
}

void DispatchWorker::Suppress(const ClaimedMessage& m, const DeliveryResult& r) {
  v1::OptOutRequest req;
  req.set_address(m.address);
  req.set_scope(v1::CHANNEL);
  req.set_channel(static_cast<v1::Channel>(m.channel));
  req.set_reason(m.channel == Channel::kEmail ? v1::HARD_BOUNCE : v1::SMS_STOP);
  req.mutable_proof()->set_source(v1::PROVIDER);
  try {
    registry_.OptOut(Caller{"dispatch", "suppress-" + m.id}, req);
  } catch (const std::exception&) {
    log::Warn("could not record a provider suppression",
              {{"message_id", m.id}, {"provider_code", r.provider_code}});
  }
}

}  // namespace herald::dispatch
