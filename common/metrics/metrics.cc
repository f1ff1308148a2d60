#include "common/metrics/metrics.h"

#include <prometheus/text_serializer.h>

namespace herald {
namespace {

const prometheus::Histogram::BucketBoundaries& LatencyBuckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBuckets;
}

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

}  // namespace

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rpc_total_(prometheus::BuildCounter()
                     .Name("herald_rpc_requests_total")
                     .Help("gRPC calls handled, by method and status code")
                     .Register(*registry_)),
      rpc_seconds_(prometheus::BuildHistogram()
                       .Name("herald_rpc_duration_seconds")
                       .Help("gRPC call latency, by method and status code")
                       .Register(*registry_)),
      statement_seconds_(prometheus::BuildHistogram()
                             .Name("herald_db_statement_duration_seconds")
                             .Help("SQL statement latency, by statement name")
                             .Register(*registry_)),
      pool_(prometheus::BuildGauge()
                .Name("herald_db_pool_connections")
                .Help("Database pool connections, by state")
                .Register(*registry_)) {}

void Metrics::ObserveRpc(const std::string& method, const std::string& code,
                         std::chrono::nanoseconds latency) {
  rpc_total_.Add({{"method", method}, {"code", code}}).Increment();
  rpc_seconds_.Add({{"method", method}, {"code", code}}, LatencyBuckets())
      .Observe(Seconds(latency));
}

void Metrics::ObserveStatement(const char* name, std::chrono::nanoseconds latency) {
  statement_seconds_.Add({{"statement", name}}, LatencyBuckets()).Observe(Seconds(latency));
}

void Metrics::SetPool(int size, int open, int in_use, int waiting) {
  pool_.Add({{"state", "max"}}).Set(size);
  pool_.Add({{"state", "open"}}).Set(open);
  pool_.Add({{"state", "in_use"}}).Set(in_use);
  pool_.Add({{"state", "waiting"}}).Set(waiting);
}

std::string Metrics::Serialize() {
  for (const auto& fn : on_collect_) fn();
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

std::string Metrics::SerializeCached(std::chrono::milliseconds max_age) {
  std::lock_guard lock(cache_mu_);
  auto now = std::chrono::steady_clock::now();
  if (!has_cached_ || now - cached_at_ >= max_age) {
    cached_ = Serialize();
    cached_at_ = std::chrono::steady_clock::now();
    has_cached_ = true;
  }
  return cached_;
}

}  // namespace herald
