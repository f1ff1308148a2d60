#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/config/config.h"
#include "common/domain/enums.h"
#include "services/dispatch/adapters/email_transport.h"
#include "services/dispatch/adapters/sms_transport.h"
#include "services/dispatch/outbox/outbox.h"

namespace herald::dispatch {

class TokenBucket;
class CircuitBreaker;
class SharedRate;

// The configured providers, each built from its kind's registration (common/config/
// adapter_kinds.h: typed settings, secret) by that kind's factory, with its own rate
// limit (shared by every worker thread, and by every process once ShareLimits is called) and
// its own circuit breaker. Picks the provider for a
// channel by priority, skipping open circuits and providers that asked to be left alone (a
// 429 or 503 with Retry-After holds the whole provider, in this process, until then); a
// failing provider's traffic moves to the next one until it recovers.
class ProviderRegistry {
 public:
  ProviderRegistry(const std::vector<ProviderConfig>& providers,
                   const std::vector<std::string>& home_jurisdictions, const Clock& clock);
  ~ProviderRegistry();

  // Testing and embedding: register a ready transport.
  void AddEmail(const ProviderConfig& config, EmailTransportPtr transport);
  void AddSms(const ProviderConfig& config, SmsTransportPtr transport);

  std::optional<ProviderChoice> Pick(Channel channel, bool foreign_ok) const;
  // The provider called `name` when it serves `channel` and its circuit is closed; a reply
  // goes back through the provider its keyword came in by when that one can take it.
  std::optional<ProviderChoice> PickNamed(const std::string& name, Channel channel) const;
  // From now on the providers' rate limits hold for all processes together (rate_buckets in
  // PostgreSQL, "provider:<name>"); without it each process keeps its own bucket. Once,
  // before any send; `shared` outlives the registry's sends.
  void ShareLimits(SharedRate& shared);
  // Waits for the provider's rate limit, then asks its circuit breaker, sends, and feeds the
  // breaker. When `give_up` answers true during the wait (the worker stops, or the message's
  // lease runs short: a send that started after another worker reclaimed it would go out
  // twice), nothing is sent: the result is a retry marked not attempted, with `give_up`'s
  // reason. An empty `give_up` waits as long as the limit takes. `stop` (the worker's
  // shutdown) ends the wait at once, and the send itself while the provider cannot have the
  // message yet (EmailTransport::SendUnlessStopped): then too nothing was attempted.
  using GiveUp = std::function<const char*()>;  // null: go on; else the reason
  DeliveryResult SendEmail(const std::string& provider, const EmailMessage& message,
                           const GiveUp& give_up = {}, const std::stop_token& stop = {});
  DeliveryResult SendSms(const std::string& provider, const SmsMessage& message,
                         const GiveUp& give_up = {}, const std::stop_token& stop = {});
  // How many messages `provider` can send from now until `within` has passed, by its rate
  // limit: the tokens there now and those that fall due meanwhile (shared: as PostgreSQL
  // sees them now). nullopt: unlimited. A worker sizes its claims by it.
  std::optional<double> TokensWithin(const std::string& provider, std::chrono::microseconds within);
  bool empty() const { return providers_.empty(); }

  // Called after every send with the provider's name and the outcome: "sent", "retry",
  // "failed", "suppress", "maybe_sent" (no answer after the whole message was sent),
  // "circuit_open" or "held" (nothing was attempted: the circuit is open, or the provider's
  // Retry-After has not passed). Set once, before use.
  using SendObserver = std::function<void(const std::string& provider, const char* outcome)>;
  void ObserveSends(SendObserver observer) { observer_ = std::move(observer); }
  // Each provider's name and whether its circuit is open now (half-open counts as open:
  // only a probe gets through).
  std::vector<std::pair<std::string, bool>> Circuits() const;

 private:
  struct Provider;
  Provider* Find(const std::string& name);
  void Add(const ProviderConfig& config, EmailTransportPtr email, SmsTransportPtr sms);
  DeliveryResult Guarded(Provider& p, const std::function<DeliveryResult()>& send,
                         const GiveUp& give_up, const std::stop_token& stop);

  std::vector<std::string> home_;
  const Clock& clock_;
  std::vector<std::unique_ptr<Provider>> providers_;
  SendObserver observer_;
  SharedRate* shared_ = nullptr;
};

}  // namespace herald::dispatch
