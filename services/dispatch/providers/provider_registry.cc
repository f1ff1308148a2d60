#include "services/dispatch/providers/provider_registry.h"

#include <algorithm>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/config/adapter_kinds.h"
#include "services/dispatch/adapters/sms/json_sms_sender.h"
#include "services/dispatch/adapters/sms/twilio_sms_sender.h"
#include "services/dispatch/adapters/smtp/smtp_relay_sender.h"
#include "services/dispatch/throttle/circuit_breaker.h"
#include "services/dispatch/throttle/shared_rate.h"
#include "services/dispatch/throttle/stop_wait.h"
#include "services/dispatch/throttle/token_bucket.h"

namespace herald::dispatch {
namespace {

// Each factory reads its kind's settings as the registration typed and bounded them.
EmailTransportPtr MakeSmtp(const ProviderConfig& c, const AdapterSettings& s) {
  SmtpRelayConfig r;
  r.url = s.Text("url");
  const std::string& tls = s.Text("starttls");
  r.starttls = tls == "required" ? SmtpRelayConfig::StartTls::kRequired
               : tls == "none"   ? SmtpRelayConfig::StartTls::kNone
                                 : SmtpRelayConfig::StartTls::kOpportunistic;
  r.username = s.Text("username");
  r.password = c.secret;
  r.ca_file = s.Text("ca_file");
  r.verify_peer = s.Bool("verify_peer");
  r.message_id_domain = s.Text("message_id_domain");
  r.helo_name = s.Text("helo_name");
  r.return_path = s.Text("return_path");
  r.timeout_s = s.Int("timeout_s");
  r.max_connections = s.Int("max_connections");
  return std::make_unique<SmtpRelaySender>(r);
}

SmsTransportPtr MakeTwilio(const ProviderConfig& c, const AdapterSettings& s, const Clock& clock) {
  sms::TwilioConfig t;
  t.base_url = s.Text("base_url");
  t.account_sid = s.Text("account_sid");
  t.auth_token = c.secret;
  t.from = s.Text("from");
  t.status_callback_url = s.Text("status_callback_url");
  t.timeout_s = s.Int("timeout_s");
  return std::make_unique<sms::TwilioSmsSender>(t, clock);
}

SmsTransportPtr MakeJsonSms(const ProviderConfig& c, const AdapterSettings& s, const Clock& clock) {
  sms::JsonSmsConfig j;
  j.url = s.Text("url");
  j.auth_header = s.Text("auth_header");
  j.auth_value = c.secret;
  j.body_template = s.Text("body_template");
  j.from = s.Text("from");
  j.message_id_pointer = s.Text("message_id_pointer");
  j.unsubscribed_error_pointer = s.Text("unsubscribed_error_pointer");
  j.unsubscribed_error_value = s.Text("unsubscribed_error_value");
  j.error_code_pointer = s.Text("error_code_pointer");
  j.error_message_pointer = s.Text("error_message_pointer");
  j.timeout_s = s.Int("timeout_s");
  return std::make_unique<sms::JsonSmsSender>(j, clock);
}

}  // namespace

namespace {

const char* OutcomeLabel(DeliveryOutcome o) {
  switch (o) {
    case DeliveryOutcome::kSent:
      return "sent";
    case DeliveryOutcome::kRetry:
      return "retry";
    case DeliveryOutcome::kFailed:
      return "failed";
    case DeliveryOutcome::kSuppress:
      return "suppress";
    case DeliveryOutcome::kMaybeSent:
      return "maybe_sent";
  }
  return "retry";
}

}  // namespace

struct ProviderRegistry::Provider {
  ProviderConfig config;
  Channel channel;  // EMAIL, or SMS
  EmailTransportPtr email;
  SmsTransportPtr sms;
  std::unique_ptr<TokenBucket> bucket;
  std::unique_ptr<CircuitBreaker> breaker;
  // A 429 or 503 with Retry-After asks the whole account to wait, not just that message:
  // until then the provider is out for now, like an open circuit (traffic moves to the next
  // one). Guarded by hold_mu.
  mutable std::mutex hold_mu;
  Timestamp hold_until;

  // Whether the provider asked to be left alone until later than now. A hold further off
  // than any Retry-After is taken (the clock was set back) is void.
  bool Held(Timestamp now) const {
    std::lock_guard lock(hold_mu);
    return now < hold_until && hold_until - now <= kMaxHold;
  }
  void Hold(Timestamp now, std::chrono::seconds retry_after) {
    std::lock_guard lock(hold_mu);
    hold_until =
        std::max(hold_until, now + std::min<std::chrono::microseconds>(retry_after, kMaxHold));
  }
  static constexpr std::chrono::microseconds kMaxHold = std::chrono::minutes(10);
};

ProviderRegistry::ProviderRegistry(const std::vector<ProviderConfig>& providers,
                                   const std::vector<std::string>& home_jurisdictions,
                                   const Clock& clock)
    : home_(home_jurisdictions), clock_(clock) {
  for (const auto& c : providers) {
    // Config checked these already; a registry built from hand-made entries checks them here.
    AdapterSettings settings = AdapterSettings::Check(c, "providers." + c.name);
    switch (settings.kind().id) {
      case AdapterKindId::kSmtp:
        Add(c, MakeSmtp(c, settings), nullptr);
        break;
      case AdapterKindId::kTwilio:
        Add(c, nullptr, MakeTwilio(c, settings, clock));
        break;
      case AdapterKindId::kJsonSms:
        Add(c, nullptr, MakeJsonSms(c, settings, clock));
        break;
    }
  }
}

ProviderRegistry::~ProviderRegistry() = default;

void ProviderRegistry::AddEmail(const ProviderConfig& config, EmailTransportPtr transport) {
  Add(config, std::move(transport), nullptr);
}

void ProviderRegistry::AddSms(const ProviderConfig& config, SmsTransportPtr transport) {
  Add(config, nullptr, std::move(transport));
}

void ProviderRegistry::Add(const ProviderConfig& config, EmailTransportPtr email,
                           SmsTransportPtr sms) {
  auto p = std::make_unique<Provider>();
  p->config = config;
  p->channel = email ? Channel::kEmail : Channel::kSms;
  p->email = std::move(email);
  p->sms = std::move(sms);
  p->bucket = std::make_unique<TokenBucket>(config.rate_per_second, config.burst, clock_);
  CircuitBreaker::Options breaker;
  breaker.failure_threshold = config.breaker_failures;
  breaker.open_for = std::chrono::seconds(config.breaker_open_s);
  breaker.max_open_for = std::max(breaker.open_for, std::chrono::seconds(300));
  p->breaker = std::make_unique<CircuitBreaker>(breaker, clock_);
  providers_.push_back(std::move(p));
  std::stable_sort(providers_.begin(), providers_.end(), [](const auto& a, const auto& b) {
    return a->config.priority < b->config.priority;
  });
}

std::optional<ProviderChoice> ProviderRegistry::Pick(Channel channel, bool foreign_ok) const {
  Channel wanted = channel == Channel::kEmail ? Channel::kEmail : Channel::kSms;
  std::optional<ProviderChoice> out_for_now;
  for (const auto& p : providers_) {
    if (p->channel != wanted) continue;
    bool domestic = std::find(home_.begin(), home_.end(), p->config.country) != home_.end();
    if (!foreign_ok && !domestic) continue;
    if (p->breaker->state() == CircuitBreaker::State::kOpen || p->Held(clock_.Now())) {
      if (!out_for_now) out_for_now = ProviderChoice{p->config.name, p->config.country, false};
      continue;
    }
    return ProviderChoice{p->config.name, p->config.country, true};
  }
  // Every matching provider is out: say so, so the outbox waits instead of deciding.
  return out_for_now;
}

std::optional<ProviderChoice> ProviderRegistry::PickNamed(const std::string& name,
                                                          Channel channel) const {
  Channel wanted = channel == Channel::kEmail ? Channel::kEmail : Channel::kSms;
  for (const auto& p : providers_) {
    if (p->config.name != name || p->channel != wanted) continue;
    if (p->breaker->state() == CircuitBreaker::State::kOpen || p->Held(clock_.Now())) {
      return std::nullopt;
    }
    return ProviderChoice{p->config.name, p->config.country, true};
  }
  return std::nullopt;
}

ProviderRegistry::Provider* ProviderRegistry::Find(const std::string& name) {
  for (auto& p : providers_) {
    if (p->config.name == name) return p.get();
  }
  return nullptr;
}

DeliveryResult ProviderRegistry::Guarded(Provider& p, const std::function<DeliveryResult()>& send,
                                         const GiveUp& give_up, const std::stop_token& stop) {
  auto not_attempted = [](std::string detail) {
    DeliveryResult r;
    r.outcome = DeliveryOutcome::kRetry;
    r.detail = std::move(detail);
    r.not_attempted = true;
    return r;
  };
  // Hold the provider's rate first: every worker thread (and, when shared, every process)
  // draws from the same bucket. A token whose message is then not sent only lowers the rate.
  const char* reason = nullptr;
  auto giving_up = [&] {
    if (stop.stop_requested()) {
      reason = "shutting down";
      return true;
    }
    return give_up && (reason = give_up()) != nullptr;
  };
  bool taken;
  if (shared_) {
    const std::string limit = "provider:" + p.config.name;
    taken = shared_->Acquire(limit, limit, p.config.rate_per_second, p.config.burst, 1, giving_up,
                             stop);
  } else {
    while (!(taken = p.bucket->TryAcquire()) && !giving_up()) {
      SleepUnlessStopped(stop,
                         std::clamp(p.bucket->TimeUntilAvailable(), std::chrono::microseconds(200),
                                    std::chrono::microseconds(100000)));
    }
  }
  // The wait may have been long: ask again right before sending.
  if (!taken || giving_up()) return not_attempted(reason ? reason : "given up");
  // Claimed before the provider asked to wait: not sent into its Retry-After.
  if (p.Held(clock_.Now())) {
    if (observer_) observer_(p.config.name, "held");
    return not_attempted("provider asked to wait (Retry-After)");
  }
  // The breaker is asked after the wait, so that it judges the provider as it is now and a
  // half-open probe is always followed by its outcome.
  if (!p.breaker->Allow()) {
    if (observer_) observer_(p.config.name, "circuit_open");
    return not_attempted("provider circuit open");
  }
  DeliveryResult r = send();
  // Ended by the worker's stop before the provider could have the message: no send, and
  // nothing the breaker should hear of (a half-open probe's slot is freed after its period).
  if (r.not_attempted) return r;
  if (r.outcome == DeliveryOutcome::kRetry && r.retry_after && r.retry_after->count() > 0 &&
      (r.code == 429 || r.code == 503)) {
    p.Hold(clock_.Now(), *r.retry_after);
  }
  // Only transport trouble counts against the provider: a refused recipient is no sign of
  // an unhealthy relay, a provider that takes a message and never answers is.
  bool provider_failure =
      r.outcome == DeliveryOutcome::kRetry || r.outcome == DeliveryOutcome::kMaybeSent;
  if (provider_failure) {
    p.breaker->RecordFailure();
  } else {
    p.breaker->RecordSuccess();
  }
  if (observer_) observer_(p.config.name, OutcomeLabel(r.outcome));
  return r;
}

std::optional<double> ProviderRegistry::TokensWithin(const std::string& provider,
                                                     std::chrono::microseconds within) {
  Provider* p = Find(provider);
  if (!p || p->config.rate_per_second <= 0) return std::nullopt;
  const double refill = p->config.rate_per_second * std::chrono::duration<double>(within).count();
  if (shared_) {
    return shared_->Available("provider:" + p->config.name, p->config.rate_per_second,
                              p->config.burst) +
           refill;
  }
  return p->bucket->Available() + refill;
}

void ProviderRegistry::ShareLimits(SharedRate& shared) {
  shared_ = &shared;
  for (const auto& p : providers_) {
    if (p->config.rate_per_second > 0) {
      shared.Describe("provider:" + p->config.name, p->config.rate_per_second, p->config.burst);
    }
  }
}

std::vector<std::pair<std::string, bool>> ProviderRegistry::Circuits() const {
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& p : providers_) {
    out.emplace_back(p->config.name, p->breaker->state() != CircuitBreaker::State::kClosed);
  }
  return out;
}

DeliveryResult ProviderRegistry::SendEmail(const std::string& provider, const EmailMessage& message,
                                           const GiveUp& give_up, const std::stop_token& stop) {
  Provider* p = Find(provider);
  if (!p || !p->email) {
    return {DeliveryOutcome::kRetry, 0, "", "", "provider not configured", "", std::nullopt};
  }
  return Guarded(
      *p, [&] { return p->email->SendUnlessStopped(message, stop); }, give_up, stop);
}

DeliveryResult ProviderRegistry::SendSms(const std::string& provider, const SmsMessage& message,
                                         const GiveUp& give_up, const std::stop_token& stop) {
  Provider* p = Find(provider);
  if (!p || !p->sms) {
    return {DeliveryOutcome::kRetry, 0, "", "", "provider not configured", "", std::nullopt};
  }
  return Guarded(
      *p, [&] { return p->sms->SendUnlessStopped(message, stop); }, give_up, stop);
}

}  // namespace herald::dispatch
