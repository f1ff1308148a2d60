#pragma once

#include <chrono>
#include <mutex>

#include "common/clock.h"

namespace herald::dispatch {

// Stops sending through a provider that keeps failing, so that a dead SMTP relay or SMS
// gateway is not hammered (and the queue not burnt through) while it is down.
//
//   closed    --failure_threshold consecutive failures-->  open
//   open      --open_for elapsed (by the clock)--------->  half-open
//   half-open --the probe succeeds---------------------->  closed
//   half-open --the probe fails------------------------->  open, for twice as long as last
//                                                          time, at most max_open_for
//
// In half-open exactly one request (the probe) is let through at a time. A probe that has
// not reported within the current open period is presumed lost (its worker died or never
// recorded the outcome) and another is let through: otherwise one lost probe would block
// the provider for good. Closing resets the backoff to open_for.
//
// Outcomes reported while open are ignored: they belong to requests let through before the
// breaker opened and say nothing about the provider now. In half-open any outcome counts as
// the probe's (the API carries no request identity).
//
// Thread-safety: every method may be called from any thread; one mutex guards the state.
class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  struct Options {
    int failure_threshold = 5;
    std::chrono::seconds open_for{30};
    std::chrono::seconds max_open_for{300};
  };

  // Throws herald::Error INVALID_ARGUMENT unless failure_threshold >= 1, open_for > 0 and
  // max_open_for >= open_for.
  CircuitBreaker(Options options, const Clock& clock);

  CircuitBreaker(const CircuitBreaker&) = delete;
  CircuitBreaker& operator=(const CircuitBreaker&) = delete;

  // Whether a request may go to the provider now. In half-open, true makes the caller the
  // probe: it must report the outcome with RecordSuccess() or RecordFailure().
  bool Allow();
  void RecordSuccess();
  void RecordFailure();

  State state() const;

 private:
  State StateLocked(Timestamp now) const;
  void OpenLocked(Timestamp now, std::chrono::microseconds period);

  const Options options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  bool open_ = false;                         // guarded by mu_; half-open is open_ past open_until_
  int consecutive_failures_ = 0;              // guarded by mu_; counted while closed
  std::chrono::microseconds open_period_{0};  // guarded by mu_; the current open period
  Timestamp open_until_;                      // guarded by mu_
  bool probe_in_flight_ = false;              // guarded by mu_
  Timestamp probe_started_;                   // guarded by mu_
};

}  // namespace herald::dispatch
