#include "services/dispatch/throttle/token_bucket.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "common/error.h"

namespace herald::dispatch {
namespace {

constexpr double kMicrosPerSecond = 1e6;

// One send every ~17 minutes. Slower rates are configuration mistakes, and refusing them keeps
// every wait (at most 2^31 tokens at this rate) well inside the microsecond range of int64.
constexpr double kMinRatePerSecond = 1e-3;

bool Unlimited(double rate_per_s) { return rate_per_s <= 0; }

void CheckRate(double rate_per_s) {
  if (!std::isfinite(rate_per_s) || (rate_per_s > 0 && rate_per_s < kMinRatePerSecond)) {
    throw InvalidArgument("rate_per_s", "must be <= 0 (unlimited) or at least 0.001");
  }
}

}  // namespace

TokenBucket::TokenBucket(double rate_per_s, double burst, const Clock& clock)
    : clock_(clock), burst_(burst), rate_per_s_(rate_per_s), tokens_(burst), last_(clock.Now()) {
  CheckRate(rate_per_s);
  if (!std::isfinite(burst) || burst < 1) {
    throw InvalidArgument("burst", "must be a finite number of at least 1");
  }
}

double TokenBucket::TokensAtLocked(Timestamp now) const {
  if (now <= last_) return tokens_;  // a clock that stepped back mints nothing
  const double elapsed_us = static_cast<double>((now - last_).count());
  return std::min(burst_, tokens_ + elapsed_us * rate_per_s_ / kMicrosPerSecond);
}

double TokenBucket::Available() const {
  std::lock_guard lock(mu_);
  if (Unlimited(rate_per_s_)) return std::numeric_limits<double>::infinity();
  return TokensAtLocked(clock_.Now());
}

bool TokenBucket::TryAcquire(int n) {
  if (n <= 0) return true;
  std::lock_guard lock(mu_);
  if (Unlimited(rate_per_s_)) return true;
  const Timestamp now = clock_.Now();
  const double available = TokensAtLocked(now);
  if (available < n) return false;
  tokens_ = available - n;
  // Only forward: after the clock steps back, time already counted stays counted.
  last_ = std::max(last_, now);
  return true;
}

std::chrono::microseconds TokenBucket::TimeUntilAvailable(int n) const {
  using std::chrono::microseconds;
  if (n <= 0) return microseconds::zero();
  std::lock_guard lock(mu_);
  if (Unlimited(rate_per_s_)) return microseconds::zero();
  if (n > burst_) return microseconds::max();
  const Timestamp now = clock_.Now();
  const auto available_after = [&](int64_t us) {
    return TokensAtLocked(now + microseconds(us)) >= n;
  };
  if (available_after(0)) return microseconds::zero();
  // Earning starts at last_ (later than now if the clock stepped back).
  const Timestamp from = std::max(now, last_);
  int64_t us =
      (from - now).count() +
      static_cast<int64_t>(std::ceil((n - TokensAtLocked(from)) * kMicrosPerSecond / rate_per_s_));
  // Tokens are earned in floating point, so that closed form can miss by a microsecond either
  // way: at 0.4/s with 0.182 in the bucket, 1 token is 2045000.0000000002 us away (one too
  // many after ceil); at 1.25/s with 0.22996 in it, 616032 us earn 0.99999999999999989 (one
  // too few). Step to the first microsecond at which TryAcquire's own test passes: waiting
  // exactly the answer then always suffices, and one microsecond less never does.
  us = std::max<int64_t>(us, 1);
  while (!available_after(us)) ++us;
  while (us > 1 && available_after(us - 1)) --us;
  return microseconds(us);
}

void TokenBucket::SetRate(double rate_per_s) {
  CheckRate(rate_per_s);
  std::lock_guard lock(mu_);
  const Timestamp now = clock_.Now();
  tokens_ = Unlimited(rate_per_s_) ? burst_ : TokensAtLocked(now);
  last_ = std::max(last_, now);
  rate_per_s_ = rate_per_s;
}

}  // namespace herald::dispatch
