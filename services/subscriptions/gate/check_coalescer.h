#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/db/pool.h"
#include "services/subscriptions/gate/eligibility_gate.h"

namespace herald::subscriptions {

// The executor of single CheckEligibility calls: a fixed number of threads, each running
// one gate run at a time on one pooled connection, and a queue in front of them. A thread
// that becomes free takes every queued check (up to `max_batch`) into one set-based gate run:
// the gate answers a batch with the same statements as one recipient, so under load the
// statements per check fall by themselves, and an idle service runs each check at once,
// alone (no timer). Calls submitted from gRPC's callback API hold no thread while they wait:
// the database work is bounded by these threads, not by the number of calls in flight.
class CheckCoalescer {
 public:
  // Called on one of the coalescer's threads with the decision, or with the error of the
  // batch it was decided in (then `decision` is empty). It must not throw.
  using Done = std::function<void(GateDecision decision, const std::exception_ptr& error)>;

  CheckCoalescer(db::Pool& pool, const EligibilityGate& gate, int threads,
                 std::size_t max_batch = 256);
  // Decides what is still queued, then stops the threads.
  ~CheckCoalescer();
  CheckCoalescer(const CheckCoalescer&) = delete;
  CheckCoalescer& operator=(const CheckCoalescer&) = delete;

  void Submit(GateRequest request, Done done);

  // Submit, then wait: rethrows the error of the batch `request` was decided in.
  GateDecision Decide(const GateRequest& request);

 private:
  struct Item {
    GateRequest request;
    Done done;
  };
  void Serve();
  void RunBatch(std::vector<Item>& batch);

  db::Pool& pool_;
  const EligibilityGate& gate_;
  const std::size_t max_batch_;
  std::mutex mu_;
  std::condition_variable work_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace herald::subscriptions
