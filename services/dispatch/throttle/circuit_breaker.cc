#include "services/dispatch/throttle/circuit_breaker.h"

#include <algorithm>

#include "common/error.h"

namespace herald::dispatch {

CircuitBreaker::CircuitBreaker(Options options, const Clock& clock)
    : options_(options), clock_(clock) {
  if (options.failure_threshold < 1) {
    throw InvalidArgument("failure_threshold", "must be at least 1");
  }
  if (options.open_for <= std::chrono::seconds::zero()) {
    throw InvalidArgument("open_for", "must be positive");
  }
  if (options.max_open_for < options.open_for) {
    throw InvalidArgument("max_open_for", "must be at least open_for");
  }
}

CircuitBreaker::State CircuitBreaker::StateLocked(Timestamp now) const {
  if (!open_) return State::kClosed;
  return now < open_until_ ? State::kOpen : State::kHalfOpen;
}

void CircuitBreaker::OpenLocked(Timestamp now, std::chrono::microseconds period) {
  open_ = true;
  open_period_ = period;
  open_until_ = now + period;
  probe_in_flight_ = false;
}

bool CircuitBreaker::Allow() {
  std::lock_guard lock(mu_);
  const Timestamp now = clock_.Now();
  switch (StateLocked(now)) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      if (probe_in_flight_ && now - probe_started_ < open_period_) return false;
      probe_in_flight_ = true;
      probe_started_ = now;
      return true;
  }
  return false;
}

void CircuitBreaker::RecordSuccess() {
  std::lock_guard lock(mu_);
  switch (StateLocked(clock_.Now())) {
    case State::kClosed:
      consecutive_failures_ = 0;
      return;
    case State::kOpen:
      return;
    case State::kHalfOpen:
      open_ = false;
      consecutive_failures_ = 0;
      probe_in_flight_ = false;
      return;
  }
}

void CircuitBreaker::RecordFailure() {
  std::lock_guard lock(mu_);
  const Timestamp now = clock_.Now();
  switch (StateLocked(now)) {
    case State::kClosed:
      if (++consecutive_failures_ >= options_.failure_threshold) {
        consecutive_failures_ = 0;
        OpenLocked(now, options_.open_for);
      }
      return;
    case State::kOpen:
      return;
    case State::kHalfOpen:
      OpenLocked(now, std::min<std::chrono::microseconds>(open_period_ * 2, options_.max_open_for));
      return;
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mu_);
  return StateLocked(clock_.Now());
}

}  // namespace herald::dispatch
