#include "services/web/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace herald::web {

RateLimiter::RateLimiter(const Clock& clock, double per_second, double burst, size_t max_keys)
    : clock_(clock),
      per_second_(per_second),
      burst_(std::max(1.0, burst)),
      max_keys_(std::max<size_t>(1, max_keys)) {}

size_t RateLimiter::size() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

void RateLimiter::MakeRoom(Timestamp now) {
  if (now - last_sweep_ >= std::chrono::seconds(1)) {
    last_sweep_ = now;
    // A refilled bucket is the same as no bucket: forgetting it loses nothing.
    for (auto it = buckets_.begin(); it != buckets_.end();) {
      double elapsed = std::chrono::duration<double>(now - it->second.last).count();
      if (it->second.tokens + std::max(0.0, elapsed) * per_second_ >= burst_) {
        recent_.erase(it->second.lru);
        it = buckets_.erase(it);
      } else {
        ++it;
      }
    }
  }
  while (buckets_.size() >= max_keys_ && !recent_.empty()) {
    buckets_.erase(recent_.back());
    recent_.pop_back();
  }
}

int RateLimiter::Take(const std::string& key) {
  if (per_second_ <= 0) return 0;
  const Timestamp now = clock_.Now();
  std::lock_guard lock(mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_keys_) MakeRoom(now);
    recent_.push_front(key);
    it = buckets_.emplace(key, Bucket{burst_, now, recent_.begin()}).first;
  } else {
    recent_.splice(recent_.begin(), recent_, it->second.lru);
  }
  Bucket& b = it->second;
  double elapsed = std::chrono::duration<double>(now - b.last).count();
  if (elapsed > 0) {
    b.tokens = std::min(burst_, b.tokens + elapsed * per_second_);
    b.last = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  double wait = (1.0 - b.tokens) / per_second_;
  return std::max(1, static_cast<int>(std::ceil(wait)));
}

}  // namespace herald::web
