#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

#include "common/db/pool.h"

namespace herald::dispatch {

// Rate limits that hold across every heraldd process sharing the database: a provider's
// rate_per_second and burst, a campaign's pacing. The owner of the rate_buckets table.
//
// Each limit is one row kept by the generic cell rate algorithm (a token bucket stated as the
// time its next token falls due): taking n tokens is one statement on that row, judged by
// PostgreSQL's clock, so in any window of w seconds all processes together take at most
// rate × w + burst tokens. Nothing is leased or handed out in shares: a replica that dies
// simply stops taking tokens, and one that starts takes its first token at once, so the
// combined rate is the configured one however many processes there are. Each process sends
// as fast as its share of the tokens lets it; the processes compete for them.
//
// A token costs one statement (one round trip) on a connection of `pool`, committed with
// synchronous_commit off: the tokens taken in the last moments before a PostgreSQL crash (a few
// WAL-writer delays) may be forgotten, letting that many more through once; nothing is sent
// twice because of it. heraldd gives it a small pool of its own, so that senders waiting for
// tokens never take the connections claims, completions and API calls need.
//
// Thread-safety: every method may be called from any thread.
class SharedRate {
 public:
  SharedRate(db::Pool& pool, prometheus::Registry& metrics);

  // Takes `n` tokens of `name` (rate per second, burst) if they are there now: returns zero.
  // Otherwise takes none and returns how long until they will be, if nobody else takes any.
  // rate <= 0 is no limit (zero at once, nothing read). n > burst never succeeds: it is
  // refused with Error INVALID_ARGUMENT, as is a burst below 1 or a non-finite number.
  std::chrono::microseconds TryAcquire(const std::string& name, double rate, double burst,
                                       int n = 1);

  // Waits until `n` tokens are taken; false when `stopping` turned true first (asked between
  // attempts and every 100 ms while sleeping until the tokens are due; an attempt itself can
  // take as long as getting a connection does). While PostgreSQL cannot be reached it keeps
  // trying, every 100 ms: nothing may be sent without its token. `label` names the limit in metrics
  // and logs
  // ("provider:<name>", "campaign"), never a person's data.
  // `stop` (the worker's shutdown) ends the sleep between attempts at once.
  bool Acquire(const std::string& name, const std::string& label, double rate, double burst, int n,
               const std::function<bool()>& stopping, const std::stop_token& stop = {});

  // The tokens of `name` there now (fractional, at most `burst`) as PostgreSQL's clock sees it,
  // read without taking any: one statement. rate <= 0: infinity. While PostgreSQL cannot be
  // asked: `burst` (what a full bucket holds; the token itself is still taken before a send).
  double Available(const std::string& name, double rate, double burst);

  // Deletes the rows of limits idle for an hour (an idle row and no row are the same limit);
  // returns how many. Housekeeping: any process may call it any time.
  int64_t PurgeIdle();

  // Publishes the configured combined rate of a limit (herald_rate_limit_per_second).
  void Describe(const std::string& label, double rate, double burst);

 private:
  // TryAcquire, with PostgreSQL's absence as nothing (logged) instead of an exception.
  std::optional<std::chrono::microseconds> Ask(const std::string& name, const std::string& label,
                                               double rate, double burst, int n);
  void Unavailable(const std::string& label);

  db::Pool& pool_;
  prometheus::Family<prometheus::Counter>& tokens_;
  prometheus::Family<prometheus::Counter>& waited_;
  prometheus::Family<prometheus::Gauge>& limit_;
  prometheus::Family<prometheus::Gauge>& burst_;
  std::atomic<int64_t> last_error_log_s_{0};
};

}  // namespace herald::dispatch
