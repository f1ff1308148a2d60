#include "services/dispatch/dispatch_metrics.h"

#include <algorithm>
#include <set>

#include "common/db/statement.h"
#include "common/log/log.h"
#include "herald/v1/common.pb.h"

namespace herald::dispatch {
namespace {

constexpr db::Statement kOutboxStates{"dispatch_metrics.outbox_states", R"sql(
  SELECT status, count(*)
  FROM messages
  WHERE status IN ('queued', 'retrying', 'sending')
  GROUP BY status
)sql"};

// The claim's own condition (outbox.cc, kClaimDue), in the claim's index order.
constexpr db::Statement kOldestDue{"dispatch_metrics.oldest_due", R"sql(
  SELECT extract(epoch FROM $1::timestamptz - m.next_attempt_at)::float8
  FROM messages m LEFT JOIN campaigns c ON c.id = m.campaign_id
  WHERE m.status IN ('queued', 'retrying') AND m.next_attempt_at <= $1::timestamptz
    AND (m.campaign_id IS NULL OR c.status IN ('running', 'cancelled'))
  ORDER BY m.next_attempt_at
  LIMIT 1
)sql"};

constexpr db::Statement kCampaignStates{"dispatch_metrics.campaign_states", R"sql(
  SELECT c.id::text, m.status, count(*)
  FROM (SELECT id FROM campaigns WHERE status IN ('scheduled', 'running', 'paused') ORDER BY id
        LIMIT 100) c
  JOIN messages m ON m.campaign_id = c.id
  GROUP BY c.id, m.status
)sql"};

constexpr size_t kUnknownSubject = 11;

}  // namespace

DispatchMetrics::DispatchMetrics(prometheus::Registry& registry, db::Pool& pool, const Clock& clock,
                                 ProviderRegistry& providers, subscriptions::EligibilityGate& gate)
    : pool_(pool),
      clock_(clock),
      providers_(providers),
      outbox_(prometheus::BuildGauge()
                  .Name("herald_outbox_messages")
                  .Help("Messages waiting in the outbox or being sent, by state")
                  .Register(registry)),
      oldest_(prometheus::BuildGauge()
                  .Name("herald_outbox_oldest_age_seconds")
                  .Help("How long the oldest due message has waited to be claimed")
                  .Register(registry)
                  .Add({})),
      campaign_(
          prometheus::BuildGauge()
              .Name("herald_campaign_messages")
              .Help("Messages of scheduled, running and paused campaigns, by campaign and state")
              .Register(registry)),
      circuit_(prometheus::BuildGauge()
                   .Name("herald_provider_circuit_open")
                   .Help("1 while the provider's circuit breaker holds its traffic back")
                   .Register(registry)),
      sends_(prometheus::BuildCounter()
                 .Name("herald_dispatch_sends_total")
                 .Help("Sends through a provider, by outcome")
                 .Register(registry)),
      decisions_(prometheus::BuildCounter()
                     .Name("herald_gate_decisions_total")
                     .Help("Decisions of the eligibility gate, by decision and deny reason")
                     .Register(registry)) {
  for (size_t r = 0; r < kUnknownSubject; ++r) {
    std::string reason = r == 0 ? "NONE" : v1::DenyReason_Name(static_cast<v1::DenyReason>(r));
    decision_counters_[r] =
        &decisions_.Add({{"decision", r == 0 ? "allow" : "deny"}, {"reason", reason}});
  }
  decision_counters_[kUnknownSubject] =
      &decisions_.Add({{"decision", "deny"}, {"reason", "UNKNOWN_SUBJECT"}});
  gate.ObserveDecisions([this](const std::vector<subscriptions::GateDecision>& decisions) {
    for (const auto& d : decisions) {
      size_t i = d.unknown_subject ? kUnknownSubject : static_cast<size_t>(d.reason);
      if (i < decision_counters_.size()) decision_counters_[i]->Increment();
    }
  });
  providers.ObserveSends(
      [this](const std::string& provider, const char* outcome) { CountSend(provider, outcome); });
}

void DispatchMetrics::CountSend(const std::string& provider, const char* outcome) {
  prometheus::Counter* counter = nullptr;
  {
    std::lock_guard lock(sends_mu_);
    auto key = std::make_pair(provider, std::string(outcome));
    auto it = send_counters_.find(key);
    if (it == send_counters_.end()) {
      it = send_counters_.emplace(key, &sends_.Add({{"provider", provider}, {"outcome", outcome}}))
               .first;
    }
    counter = it->second;
  }
  counter->Increment();
}

void DispatchMetrics::Refresh() {
  std::lock_guard lock(refresh_mu_);
  for (const auto& [name, open] : providers_.Circuits()) {
    circuit_.Add({{"provider", name}}).Set(open ? 1 : 0);
  }
  pqxx::result states, oldest, campaigns;
  try {
    auto conn = pool_.Acquire();
    pqxx::read_transaction txn(conn->raw());
    states = conn->Exec(txn, kOutboxStates);
    oldest = conn->Exec(txn, kOldestDue, ToIso8601(clock_.Now()));
    campaigns = conn->Exec(txn, kCampaignStates);
  } catch (const std::exception&) {
    log::Warn("outbox gauges not refreshed: database unavailable");
    return;
  }
  for (const char* state : {"queued", "retrying", "sending"}) {
    double n = 0;
    for (const auto& row : states) {
      if (row[0].as<std::string>() == state) n = row[1].as<double>();
    }
    outbox_.Add({{"state", state}}).Set(n);
  }
  oldest_.Set(oldest.empty() ? 0 : std::max(0.0, oldest[0][0].as<double>()));
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& row : campaigns) {
    auto key = std::make_pair(row[0].as<std::string>(), row[1].as<std::string>());
    auto it = campaign_gauges_.find(key);
    if (it == campaign_gauges_.end()) {
      it = campaign_gauges_
               .emplace(key, &campaign_.Add({{"campaign_id", key.first}, {"state", key.second}}))
               .first;
    }
    it->second->Set(row[2].as<double>());
    seen.insert(key);
  }
  // A campaign that finished, or a state it left, stops being exported.
  for (auto it = campaign_gauges_.begin(); it != campaign_gauges_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    campaign_.Remove(it->second);
    it = campaign_gauges_.erase(it);
  }
}

}  // namespace herald::dispatch
