#pragma once

#include <map>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "common/db/pool.h"
#include "common/metrics/metrics.h"

namespace herald::inbound {

// Complaint gauges per campaign, read from PostgreSQL at scrape time so every replica
// exports the same numbers: herald_campaign_complaints{campaign_id} (ARF abuse reports,
// one per message) and herald_campaign_complaint_rate{campaign_id} (complaints / messages
// handed to the relay: sent, delivered or undelivered). Mailbox providers want the rate
// under 0.1 % and never above 0.3 %; docs/runbook.md has the alert rules. Campaign ids are
// not personal. Only campaigns with a complaint that are running or finished within the
// last 30 days are exported.
class ComplaintMetrics {
 public:
  ComplaintMetrics(Metrics& metrics, db::Pool& pool, const Clock& clock);

  // Refreshes the gauges; keeps the previous values when the database is unreachable.
  void Refresh();

 private:
  db::Pool& pool_;
  const Clock& clock_;
  prometheus::Family<prometheus::Gauge>& complaints_;
  prometheus::Family<prometheus::Gauge>& rate_;
  std::mutex mu_;
  std::map<std::string, std::pair<prometheus::Gauge*, prometheus::Gauge*>> exported_;
};

}  // namespace herald::inbound
