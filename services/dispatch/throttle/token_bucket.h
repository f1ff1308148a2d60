#pragma once

#include <chrono>
#include <mutex>

#include "common/clock.h"

namespace herald::dispatch {

// A provider's rate limit, shared by every worker thread that sends through that provider.
// Holds up to `burst` tokens and gains `rate_per_s` tokens a second; a send takes one token
// (or n, for a message billed as n SMS segments). It starts full.
//
// Time comes only from the injected clock, and nothing here sleeps: a worker that is
// refused asks TimeUntilAvailable() and waits on its own terms (or does other work).
//
// Thread-safety: every method may be called from any thread; one mutex guards the state.
class TokenBucket {
 public:
  // rate_per_s <= 0 means unlimited; a positive rate must be at least 0.001/s. burst must be
  // at least 1 (else no send could ever pass). Throws herald::Error INVALID_ARGUMENT
  // otherwise, or for NaN/infinite numbers.
  TokenBucket(double rate_per_s, double burst, const Clock& clock);

  TokenBucket(const TokenBucket&) = delete;
  TokenBucket& operator=(const TokenBucket&) = delete;

  // Takes n tokens if all n are there now; otherwise takes none. n > burst never succeeds
  // (while limited). n <= 0 asks for nothing and succeeds.
  bool TryAcquire(int n = 1);

  // How long until n tokens will be there (assuming nobody else takes any): the first whole
  // microsecond at which TryAcquire(n) would succeed; zero if it would now,
  // microseconds::max() if n > burst (it never will).
  std::chrono::microseconds TimeUntilAvailable(int n = 1) const;

  // The tokens there now (fractional; the burst at most). Unlimited: infinity.
  double Available() const;

  // Changes the rate from now on; tokens earned so far at the old rate are kept. Going from
  // unlimited to limited starts the bucket full, like a new one.
  // Same rules for rate_per_s as the constructor.
  void SetRate(double rate_per_s);

 private:
  // Tokens in the bucket at `now`, without changing anything. Requires mu_.
  double TokensAtLocked(Timestamp now) const;

  const Clock& clock_;
  const double burst_;
  mutable std::mutex mu_;
  double rate_per_s_;  // guarded by mu_; <= 0: unlimited
  double tokens_;      // guarded by mu_; as of last_
  Timestamp last_;     // guarded by mu_
};

}  // namespace herald::dispatch
