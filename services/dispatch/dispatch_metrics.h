#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "common/clock.h"
#include "common/db/pool.h"
#include "services/dispatch/providers/provider_registry.h"
#include "services/subscriptions/gate/eligibility_gate.h"

namespace herald::dispatch {

// What an operator watches and alerts on in sending (docs/runbook.md, "Metrics"; the Helm
// chart's alerts and dashboard):
//   herald_outbox_messages{state}               queued, retrying and sending messages
//   herald_outbox_oldest_age_seconds            how long the oldest due message has waited
//                                               (paused campaigns' messages are not due)
//   herald_campaign_messages{campaign_id,state} messages of scheduled, running and paused
//                                               campaigns (at most 100)
//   herald_provider_circuit_open{provider}      1 while the provider's circuit is open
//   herald_dispatch_sends_total{provider,outcome}  sends: sent, retry, failed, suppress,
//                                               maybe_sent (no answer after the whole
//                                               message went out; not retried),
//                                               circuit_open (nothing attempted)
//   herald_gate_decisions_total{decision,reason}   every decision of the gate on the request
//                                               path and in dispatch (allow/NONE, or deny and
//                                               the DenyReason's name)
// Gauges are read from PostgreSQL at scrape time, so every replica exports the same numbers
// (alerts take max, not sum). Labels are provider names, campaign ids and states: never an
// address or a subject.
class DispatchMetrics {
 public:
  // Observes `providers` and `gate` from now on: construct before either is used.
  DispatchMetrics(prometheus::Registry& registry, db::Pool& pool, const Clock& clock,
                  ProviderRegistry& providers, subscriptions::EligibilityGate& gate);

  // Refreshes the gauges; keeps the previous values when the database is unreachable.
  void Refresh();

 private:
  void CountSend(const std::string& provider, const char* outcome);

  db::Pool& pool_;
  const Clock& clock_;
  const ProviderRegistry& providers_;
  prometheus::Family<prometheus::Gauge>& outbox_;
  prometheus::Gauge& oldest_;
  prometheus::Family<prometheus::Gauge>& campaign_;
  prometheus::Family<prometheus::Gauge>& circuit_;
  prometheus::Family<prometheus::Counter>& sends_;
  prometheus::Family<prometheus::Counter>& decisions_;
  // Indexed by DenyReason (0: allowed); the last one counts unknown subjects.
  std::array<prometheus::Counter*, 12> decision_counters_{};
  // Separate, so a scrape waiting on the database never holds up a worker counting a send.
  std::mutex sends_mu_;  // send_counters_
  std::map<std::pair<std::string, std::string>, prometheus::Counter*> send_counters_;
  std::mutex refresh_mu_;  // Refresh, campaign_gauges_
  std::map<std::pair<std::string, std::string>, prometheus::Gauge*> campaign_gauges_;
};

}  // namespace herald::dispatch
