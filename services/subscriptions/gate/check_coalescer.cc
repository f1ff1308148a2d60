#include "services/subscriptions/gate/check_coalescer.h"

#include <algorithm>
#include <future>

namespace herald::subscriptions {

CheckCoalescer::CheckCoalescer(db::Pool& pool, const EligibilityGate& gate, int threads,
                               std::size_t max_batch)
    : pool_(pool), gate_(gate), max_batch_(std::max<std::size_t>(1, max_batch)) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Serve(); });
}

CheckCoalescer::~CheckCoalescer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  for (auto& t : threads_) t.join();
}

void CheckCoalescer::Submit(GateRequest request, Done done) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back({std::move(request), std::move(done)});
  }
  work_.notify_one();
}

GateDecision CheckCoalescer::Decide(const GateRequest& request) {
  std::promise<GateDecision> answer;
  auto decided = answer.get_future();
  Submit(request, [&answer](GateDecision decision, const std::exception_ptr& error) {
    if (error) {
      answer.set_exception(error);
    } else {
      answer.set_value(std::move(decision));
    }
  });
  return decided.get();
}

void CheckCoalescer::Serve() {
  std::vector<Item> batch;
  std::unique_lock lock(mu_);
  for (;;) {
    work_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and nothing left to decide
    batch.clear();
    while (!queue_.empty() && batch.size() < max_batch_) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    lock.unlock();
    RunBatch(batch);
    lock.lock();
  }
}

void CheckCoalescer::RunBatch(std::vector<Item>& batch) {
  std::vector<GateDecision> decisions;
  std::exception_ptr error;
  try {
    std::vector<GateRequest> requests;
    requests.reserve(batch.size());
    for (const Item& item : batch) requests.push_back(item.request);
    auto conn = pool_.Acquire();
    // No BEGIN/COMMIT: the gate reads in at most two statements, each on the newest
    // committed state, so every opt-out acknowledged before the call is seen.
    pqxx::nontransaction txn(conn->raw());
    decisions = gate_.Decide(*conn, txn, requests);
  } catch (...) {
    error = std::current_exception();
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    batch[i].done(error ? GateDecision{} : std::move(decisions[i]), error);
  }
}

}  // namespace herald::subscriptions
