#include "services/inbound/mail/complaint_metrics.h"

#include <set>

#include "common/db/statement.h"
#include "common/log/log.h"

namespace herald::inbound {
namespace {

constexpr db::Statement kComplaintCounts{"inbound_mail.complaint_counts", R"sql(
  SELECT c.id::text, c.complaints, (
    SELECT count(*)
    FROM messages m
    WHERE m.campaign_id = c.id
      AND m.status IN ('sent', 'delivered', 'undelivered')
  )
  FROM campaigns c
  WHERE c.complaints > 0
    AND (c.finished_at IS NULL OR c.finished_at > $1)
  ORDER BY c.id
  LIMIT 1000
)sql"};

}  // namespace

ComplaintMetrics::ComplaintMetrics(Metrics& metrics, db::Pool& pool, const Clock& clock)
    : pool_(pool),
      clock_(clock),
      complaints_(prometheus::BuildGauge()
                      .Name("herald_campaign_complaints")
                      .Help("Complaint reports (ARF abuse) received for a campaign's messages")
                      .Register(metrics.registry())),
      rate_(prometheus::BuildGauge()
                .Name("herald_campaign_complaint_rate")
                .Help("Complaints per message handed to the relay, by campaign (0.001 = 0.1 %)")
                .Register(metrics.registry())) {}

void ComplaintMetrics::Refresh() {
  std::lock_guard<std::mutex> lock(mu_);
  pqxx::result rows;
  try {
    auto conn = pool_.Acquire();
    pqxx::read_transaction txn(conn->raw());
    rows = conn->Exec(txn, kComplaintCounts, ToIso8601(clock_.Now() - std::chrono::hours(24 * 30)));
  } catch (const std::exception&) {
    log::Warn("complaint gauges not refreshed: database unavailable");
    return;
  }
  std::set<std::string> seen;
  for (const auto& row : rows) {
    std::string id = row[0].as<std::string>();
    double complaints = row[1].as<double>();
    double sent = row[2].as<double>();
    auto it = exported_.find(id);
    if (it == exported_.end()) {
      it = exported_
               .emplace(id, std::make_pair(&complaints_.Add({{"campaign_id", id}}),
                                           &rate_.Add({{"campaign_id", id}})))
               .first;
    }
    it->second.first->Set(complaints);
    it->second.second->Set(sent > 0 ? complaints / sent : 0);
    seen.insert(id);
  }
  for (auto it = exported_.begin(); it != exported_.end();) {
    if (seen.count(it->first)) {
      ++it;
      continue;
    }
    complaints_.Remove(it->second.first);
    rate_.Remove(it->second.second);
    it = exported_.erase(it);
  }
}

}  // namespace herald::inbound
