#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <mutex>

#include "common/db/pool.h"
#include "services/subscriptions/gate/eligibility_gate.h"

namespace herald::subscriptions {

// Coalesces concurrent single CheckEligibility calls into one set-based gate run:
// the gate answers a batch with the same fixed number of statements as one recipient, so a
// check that waits for a running batch and then goes out with every other waiting check
// costs one transaction instead of one each.
//
// Leader/follower, like a group commit: a caller whose check is queued becomes the leader
// when fewer than `max_in_flight` batches are running, takes up to `max_batch` queued checks
// (its own or others'), runs them in one read-only transaction, and hands every caller its
// decision (or the batch's error). Nobody waits on a timer: an idle service runs each check
// at once, alone; under load the batches grow by themselves.
class CheckCoalescer {
 public:
  CheckCoalescer(db::Pool& pool, const EligibilityGate& gate, int max_in_flight,
                 std::size_t max_batch = 256);

  // Blocks until `request` is decided; rethrows the error of the batch it was decided in.
  GateDecision Decide(const GateRequest& request);

 private:
  struct Waiter {
    const GateRequest* request;
    GateDecision decision;
    std::exception_ptr error;
    bool done = false;
  };
  void RunBatch(std::deque<Waiter*>& batch);

  db::Pool& pool_;
  const EligibilityGate& gate_;
  const int max_in_flight_;
  const std::size_t max_batch_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Waiter*> queue_;
  int in_flight_ = 0;
};

}  // namespace herald::subscriptions
