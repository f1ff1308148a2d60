#include "services/dispatch/worker/outcome_recorder.h"

#include <algorithm>
#include <pqxx/pqxx>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/log/log.h"

namespace herald::dispatch {

OutcomeRecorder::OutcomeRecorder(RecordFn record, const std::atomic<bool>& stopping,
                                 std::function<void(bool)> on_result, RecorderOptions options)
    : record_(std::move(record)),
      stopping_(stopping),
      on_result_(std::move(on_result)),
      options_(options) {}

bool OutcomeRecorder::IsTransient(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e)) return true;
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e)) return true;
  if (const auto* herald = dynamic_cast<const Error*>(&e)) {
    return herald->code() == ErrorCode::kUnavailable;  // the pool found no connection
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    // 08: connection exception, 40: transaction rollback (serialization, deadlock),
    // 53: insufficient resources (disk full, out of memory), 57: operator intervention
    // (shutdown, cancel), 58: system error (I/O).
    const std::string& state = sql->sqlstate();
    const std::string cls = state.substr(0, 2);
    return cls == "08" || cls == "40" || cls == "53" || cls == "57" || cls == "58";
  }
  return false;
}

bool OutcomeRecorder::Record(Outcome o) {
  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(o));
    seq = ++added_;
  }
  return WaitFor(seq);
}

void OutcomeRecorder::Add(Outcome o) {
  std::lock_guard lock(mu_);
  pending_.push_back(std::move(o));
  ++added_;
}

bool OutcomeRecorder::Flush() {
  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    seq = added_;
  }
  return WaitFor(seq);
}

int64_t OutcomeRecorder::given_up() const {
  std::lock_guard lock(mu_);
  return given_up_;
}

bool OutcomeRecorder::WaitFor(uint64_t seq) {
  std::unique_lock lock(mu_);
  while (resolved_ < seq) {
    if (recording_) {
      cv_.wait(lock);
      continue;
    }
    // Nobody records: this caller records everything waiting, its own outcome included.
    recording_ = true;
    std::vector<Outcome> group = std::move(pending_);
    pending_.clear();
    const uint64_t first = resolved_ + 1;
    const uint64_t last = resolved_ + group.size();
    lock.unlock();
    const bool ok = RecordWithRetry(group);
    lock.lock();
    if (!ok) {
      failed_.emplace_back(first, last);
      given_up_ += static_cast<int64_t>(group.size());
    }
    resolved_ = last;
    recording_ = false;
    cv_.notify_all();
  }
  return std::none_of(failed_.begin(), failed_.end(),
                      [seq](const auto& r) { return r.first <= seq && seq <= r.second; });
}

bool OutcomeRecorder::RecordWithRetry(const std::vector<Outcome>& group) {
  if (group.empty()) return true;
  auto backoff = options_.first_backoff;
  int other_failures = 0;
  std::chrono::steady_clock::time_point stop_seen{};
  auto last_log = std::chrono::steady_clock::time_point();
  for (;;) {
    try {
      record_(group);
      if (on_result_) on_result_(true);
      return true;
    } catch (const std::exception& e) {
      if (on_result_) on_result_(false);
      const bool transient = IsTransient(e);
      if (!transient) ++other_failures;
      auto now = std::chrono::steady_clock::now();
      if (stopping_ && stop_seen == std::chrono::steady_clock::time_point()) stop_seen = now;
      // The patience is spent once per recorder: the groups after the first one given up
      // while stopping are given up at once, so shutdown waits it out only once.
      const bool out_of_patience =
          stop_seen != std::chrono::steady_clock::time_point() &&
          (patience_spent_ || now - stop_seen >= options_.shutdown_patience);
      if (out_of_patience) patience_spent_ = true;
      if (out_of_patience || other_failures >= options_.tries_for_other_failures) {
        // Their messages stay SENDING until the lease runs out; then they are reclaimed and,
        // having been sent, may go out a second time.
        log::Error("gave up recording sent messages' outcomes",
                   {{"messages", static_cast<int64_t>(group.size())},
                    {"error_type", typeid(e).name()},
                    {"reason", out_of_patience ? "shutting down" : "not a database outage"}});
        return false;
      }
      if (now - last_log > std::chrono::seconds(10)) {
        last_log = now;
        log::Warn(
            "cannot record outcomes yet; keeping them and trying again",
            {{"messages", static_cast<int64_t>(group.size())}, {"error_type", typeid(e).name()}});
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, options_.max_backoff);
    }
  }
}

}  // namespace herald::dispatch
