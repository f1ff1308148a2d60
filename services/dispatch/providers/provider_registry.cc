#include "services/dispatch/providers/provider_registry.h"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "services/dispatch/adapters/sms/json_sms_sender.h"
#include "services/dispatch/adapters/sms/twilio_sms_sender.h"
#include "services/dispatch/adapters/smtp/smtp_relay_sender.h"
#include "services/dispatch/throttle/circuit_breaker.h"
#include "services/dispatch/throttle/token_bucket.h"

namespace herald::dispatch {
namespace {

// Reads a setting, with a default; unknown settings are refused by CheckSettings.
std::string Setting(const ProviderConfig& c, const std::string& key, const std::string& def = "") {
  auto it = c.settings.find(key);
  return it == c.settings.end() ? def : it->second;
}

void CheckSettings(const ProviderConfig& c, std::initializer_list<const char*> known) {
  for (const auto& [k, v] : c.settings) {
    if (std::find_if(known.begin(), known.end(), [&](const char* n) { return k == n; }) ==
        known.end()) {
      throw std::invalid_argument("providers." + c.name + ".settings." + k + ": unknown key");
    }
  }
}

int IntSetting(const ProviderConfig& c, const std::string& key, int def) {
  std::string v = Setting(c, key);
  if (v.empty()) return def;
  try {
    return std::stoi(v);
  } catch (const std::exception&) {
    throw std::invalid_argument("providers." + c.name + ".settings." + key + ": not a number");
  }
}

EmailTransportPtr MakeSmtp(const ProviderConfig& c) {
  CheckSettings(c, {"url", "starttls", "username", "ca_file", "verify_peer", "message_id_domain",
                    "helo_name", "timeout_s", "max_connections", "return_path"});
  SmtpRelayConfig s;
  s.url = Setting(c, "url");
  std::string tls = Setting(c, "starttls", "opportunistic");
  if (tls == "required") {
    s.starttls = SmtpRelayConfig::StartTls::kRequired;
  } else if (tls == "none") {
    s.starttls = SmtpRelayConfig::StartTls::kNone;
  } else if (tls == "opportunistic") {
    s.starttls = SmtpRelayConfig::StartTls::kOpportunistic;
  } else {
    throw std::invalid_argument("providers." + c.name +
                                ".settings.starttls: required, opportunistic or none");
  }
  s.username = Setting(c, "username");
  s.password = c.secret;
  s.ca_file = Setting(c, "ca_file");
  s.verify_peer = Setting(c, "verify_peer", "true") != "false";
  s.message_id_domain = Setting(c, "message_id_domain", "herald.invalid");
  s.helo_name = Setting(c, "helo_name");
  s.return_path = Setting(c, "return_path");
  s.timeout_s = IntSetting(c, "timeout_s", 30);
  s.max_connections = IntSetting(c, "max_connections", 4);
  return std::make_unique<SmtpRelaySender>(s);
}

SmsTransportPtr MakeTwilio(const ProviderConfig& c, const Clock& clock) {
  CheckSettings(c, {"base_url", "account_sid", "from", "status_callback_url", "timeout_s"});
  sms::TwilioConfig t;
  t.base_url = Setting(c, "base_url", "https://api.twilio.com");
  t.account_sid = Setting(c, "account_sid");
  t.auth_token = c.secret;
  t.from = Setting(c, "from");
  t.status_callback_url = Setting(c, "status_callback_url");
  t.timeout_s = IntSetting(c, "timeout_s", 15);
  return std::make_unique<sms::TwilioSmsSender>(t, clock);
}

SmsTransportPtr MakeJsonSms(const ProviderConfig& c, const Clock& clock) {
  CheckSettings(c, {"url", "auth_header", "body_template", "from", "message_id_pointer",
                    "unsubscribed_error_pointer", "unsubscribed_error_value", "error_code_pointer",
                    "error_message_pointer", "timeout_s"});
  sms::JsonSmsConfig j;
  j.url = Setting(c, "url");
  j.auth_header = Setting(c, "auth_header");
  j.auth_value = c.secret;
  j.body_template = Setting(c, "body_template");
  j.from = Setting(c, "from");
  j.message_id_pointer = Setting(c, "message_id_pointer", "/id");
  j.unsubscribed_error_pointer = Setting(c, "unsubscribed_error_pointer");
  j.unsubscribed_error_value = Setting(c, "unsubscribed_error_value");
  j.error_code_pointer = Setting(c, "error_code_pointer");
  j.error_message_pointer = Setting(c, "error_message_pointer");
  j.timeout_s = IntSetting(c, "timeout_s", 15);
  return std::make_unique<sms::JsonSmsSender>(j, clock);
}

}  // namespace

struct ProviderRegistry::Provider {
  ProviderConfig config;
  Channel channel;  // EMAIL, or SMS
  EmailTransportPtr email;
  SmsTransportPtr sms;
  std::unique_ptr<TokenBucket> bucket;
  std::unique_ptr<CircuitBreaker> breaker;
};

ProviderRegistry::ProviderRegistry(const std::vector<ProviderConfig>& providers,
                                   const std::vector<std::string>& home_jurisdictions,
                                   const Clock& clock)
    : home_(home_jurisdictions), clock_(clock) {
  for (const auto& c : providers) {
    if (c.kind == "smtp") {
      Add(c, MakeSmtp(c), nullptr);
    } else if (c.kind == "twilio") {
      Add(c, nullptr, MakeTwilio(c, clock));
    } else if (c.kind == "json_sms") {
      Add(c, nullptr, MakeJsonSms(c, clock));
    } else {
      throw std::invalid_argument("providers." + c.name + ".kind: unknown");
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
    if (p->breaker->state() == CircuitBreaker::State::kOpen) {
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
    if (p->breaker->state() == CircuitBreaker::State::kOpen) return std::nullopt;
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

DeliveryResult ProviderRegistry::Guarded(Provider& p, const std::function<DeliveryResult()>& send) {
  if (!p.breaker->Allow()) {
    DeliveryResult r;
    r.outcome = DeliveryOutcome::kRetry;
    r.detail = "provider circuit open";
    r.not_attempted = true;
    return r;
  }
  // Hold the provider's rate: every worker thread draws from the same bucket.
  while (!p.bucket->TryAcquire()) {
    std::this_thread::sleep_for(
        std::max(p.bucket->TimeUntilAvailable(), std::chrono::microseconds(200)));
  }
  DeliveryResult r = send();
  // Only transport trouble counts against the provider: a refused recipient is no sign of
  // an unhealthy relay.
  bool provider_failure = r.outcome == DeliveryOutcome::kRetry;
  if (provider_failure) {
    p.breaker->RecordFailure();
  } else {
    p.breaker->RecordSuccess();
  }
  return r;
}

DeliveryResult ProviderRegistry::SendEmail(const std::string& provider,
                                           const EmailMessage& message) {
  Provider* p = Find(provider);
  if (!p || !p->email) {
    return {DeliveryOutcome::kRetry, 0, "", "", "provider not configured", "", std::nullopt};
  }
  return Guarded(*p, [&] { return p->email->Send(message); });
}

DeliveryResult ProviderRegistry::SendSms(const std::string& provider, const SmsMessage& message) {
  Provider* p = Find(provider);
  if (!p || !p->sms) {
    return {DeliveryOutcome::kRetry, 0, "", "", "provider not configured", "", std::nullopt};
  }
  return Guarded(*p, [&] { return p->sms->Send(message); });
}

}  // namespace herald::dispatch
