#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <string_view>

namespace herald {

using Timestamp = std::chrono::time_point<std::chrono::system_clock, std::chrono::microseconds>;

// The one source of "now". SQL never calls now(): it receives Clock::Now() as a parameter,
// so deadlines, leases and retention are testable with a ManualClock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  Timestamp Now() const override {
    return std::chrono::time_point_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now());
  }
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(Timestamp start) : now_(start) {}
  Timestamp Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  void Set(Timestamp t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }
  void Advance(std::chrono::microseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  Timestamp now_;
};

// "2026-11-27T17:58:33.123456Z": what SQL parameters of type timestamptz receive.
std::string ToIso8601(Timestamp t);
// Parses PostgreSQL's timestamptz text output in the UTC session time zone
// ("2026-11-27 17:58:33.123456+00") and ISO 8601 with 'Z'. Throws std::invalid_argument.
Timestamp ParseTimestamp(std::string_view text);
int64_t ToUnixMicros(Timestamp t);
Timestamp FromUnixMicros(int64_t us);

}  // namespace herald
