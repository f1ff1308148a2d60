#include "services/subscriptions/gate/check_coalescer.h"

#include <algorithm>
#include <vector>

namespace herald::subscriptions {

CheckCoalescer::CheckCoalescer(db::Pool& pool, const EligibilityGate& gate, int max_in_flight,
                               std::size_t max_batch)
    : pool_(pool),
      gate_(gate),
      max_in_flight_(std::max(1, max_in_flight)),
      max_batch_(std::max<std::size_t>(1, max_batch)) {}

GateDecision CheckCoalescer::Decide(const GateRequest& request) {
  Waiter self{&request, {}, nullptr, false};
  std::unique_lock lock(mu_);
  queue_.push_back(&self);
  while (!self.done) {
    if (in_flight_ < max_in_flight_ && !queue_.empty()) {
      std::deque<Waiter*> batch;
      while (!queue_.empty() && batch.size() < max_batch_) {
        batch.push_back(queue_.front());
        queue_.pop_front();
      }
      ++in_flight_;
      lock.unlock();
      RunBatch(batch);
      lock.lock();
      --in_flight_;
      for (Waiter* w : batch) w->done = true;
      cv_.notify_all();
    } else {
      cv_.wait(lock);
    }
  }
  if (self.error) std::rethrow_exception(self.error);
  return std::move(self.decision);
}

void CheckCoalescer::RunBatch(std::deque<Waiter*>& batch) {
  try {
    std::vector<GateRequest> requests;
    requests.reserve(batch.size());
    for (Waiter* w : batch) requests.push_back(*w->request);
    auto conn = pool_.Acquire();
    pqxx::read_transaction txn(conn->raw());
    auto decisions = gate_.Decide(*conn, txn, requests);
    for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->decision = std::move(decisions[i]);
  } catch (...) {
    auto error = std::current_exception();
    for (Waiter* w : batch) w->error = error;
  }
}

}  // namespace herald::subscriptions
