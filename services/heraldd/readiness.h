#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/db/pool.h"

namespace herald {

// Probes PostgreSQL every 500 ms (reachable, migrations applied) and reports changes, so the
// gRPC health service and /readyz answer from the same fact without blocking on the database.
class Readiness {
 public:
  Readiness(db::Pool& pool, std::function<void(bool)> on_change)
      : pool_(pool), on_change_(std::move(on_change)) {}
  ~Readiness() { Stop(); }

  void Start();
  void Stop();
  bool Ready(std::string* why) const;

 private:
  void Probe();

  db::Pool& pool_;
  std::function<void(bool)> on_change_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool ready_ = false;
  std::string why_ = "not probed yet";
  std::thread thread_;
};

}  // namespace herald
