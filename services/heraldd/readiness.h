#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace herald {

// Probes readiness every period and reports changes, so the gRPC health service and /readyz
// answer from the same fact without blocking on the database. Once the shutdown drain
// begins (Drain), the instance is unready for good: no later probe can say otherwise.
class Readiness {
 public:
  struct Verdict {
    bool ready = false;
    std::string why;  // empty when ready
  };
  using Probe = std::function<Verdict()>;

  Readiness(Probe probe, std::function<void(bool)> on_change,
            std::chrono::milliseconds period = std::chrono::milliseconds(500))
      : probe_(std::move(probe)), on_change_(std::move(on_change)), period_(period) {}
  ~Readiness() { Stop(); }

  // Probes once, then keeps probing on a thread of its own.
  void Start();
  // Reports "not ready" (shutting down) from now on and stops probing; the verdict of a probe
  // still in progress is discarded. Does not wait for that probe.
  void Drain();
  // Stops probing and waits for the probing thread; the last verdict stays.
  void Stop();
  bool Ready(std::string* why) const;

 private:
  void ProbeOnce();

  Probe probe_;
  std::function<void(bool)> on_change_;  // called under mu_
  const std::chrono::milliseconds period_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool draining_ = false;
  bool ready_ = false;
  std::string why_ = "not probed yet";
  std::thread thread_;
};

// The database half of readiness: PostgreSQL answers and every migration is applied. It asks
// on a connection of its own (opened on first use, reopened after a failure), never a pooled
// one: a pool busy with calls is an instance under load, and a load balancer that took it for
// an unready one would drop the busiest healthy instance.
Readiness::Probe DatabaseProbe(std::string dsn);

}  // namespace herald
