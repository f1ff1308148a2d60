#pragma once

#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace herald::web {

// A token bucket per key (the client IP of public requests): `burst` requests at once, then
// `per_second` on average. Memory is bounded: when more than `max_keys` clients are held,
// the full (idle) buckets are dropped, and if that is not enough, all of them.
// Thread-safe.
class RateLimiter {
 public:
  RateLimiter(const Clock& clock, double per_second, double burst, size_t max_keys = 100000);

  // 0 when the request may proceed (a token is taken); otherwise the whole seconds, at
  // least 1, after which the next token is there (for Retry-After).
  int Take(const std::string& key);
  bool enabled() const { return per_second_ > 0; }
  size_t size() const;

 private:
  struct Bucket {
    double tokens;
    Timestamp last;
  };
  void Sweep(Timestamp now);

  const Clock& clock_;
  const double per_second_;
  const double burst_;
  const size_t max_keys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace herald::web
