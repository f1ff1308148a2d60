#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace herald {

// The process's Prometheus registry and the families shared across services. Labels carry
// method names, codes and statement names only: never personal data.
class Metrics {
 public:
  Metrics();

  void ObserveRpc(const std::string& method, const std::string& code,
                  std::chrono::nanoseconds latency);
  void ObserveStatement(const char* name, std::chrono::nanoseconds latency);
  void SetPool(int size, int open, int in_use, int waiting);

  // Adds a hook run before every scrape (e.g. to refresh pool gauges); hooks run in the
  // order they were added.
  void OnCollect(std::function<void()> fn) { on_collect_.push_back(std::move(fn)); }
  // Prometheus text exposition format 0.0.4.
  std::string Serialize();
  // The same text, computed at most `max_age` ago: a scrape runs the collect hooks (database
  // queries among them) and renders every family, so a burst of scrapes shares one
  // computation; callers that arrive while it runs wait for it instead of starting another.
  std::string SerializeCached(std::chrono::milliseconds max_age);

  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& rpc_total_;
  prometheus::Family<prometheus::Histogram>& rpc_seconds_;
  prometheus::Family<prometheus::Histogram>& statement_seconds_;
  prometheus::Family<prometheus::Gauge>& pool_;
  std::vector<std::function<void()>> on_collect_;
  std::mutex cache_mu_;
  std::chrono::steady_clock::time_point cached_at_;
  std::string cached_;
  bool has_cached_ = false;
};

}  // namespace herald
