#pragma once

#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace herald::web {

// A token bucket per key (ClientKey of the client: the IPv4 address or the IPv6 /64):
// `burst` requests at once, then `per_second` on average. Memory is bounded: when
// `max_keys` clients are held, the full (idle) buckets are dropped (at most once a second,
// since it walks the table), and otherwise the least recently used one, so a flood of new
// keys never resets the buckets of the clients being limited. Thread-safe.
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
    std::list<std::string>::iterator lru;  // position in recent_
  };
  void MakeRoom(Timestamp now);

  const Clock& clock_;
  const double per_second_;
  const double burst_;
  const size_t max_keys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Bucket> buckets_;
  std::list<std::string> recent_;  // most recently used first
  Timestamp last_sweep_{};
};

}  // namespace herald::web
