#include "services/dispatch/throttle/shared_rate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <pqxx/pqxx>
#include <thread>

#include "common/error.h"
#include "common/log/log.h"
#include "services/dispatch/throttle/stop_wait.h"

namespace herald::dispatch {
namespace {

// Takes $2 tokens of $1 (rate $3 per second, burst $4) when they are there; answers whether it
// did and, when not, the seconds until they will be, read in the statement's snapshot (a
// competitor may take them first: the caller then asks again). One statement in its own
// implicit transaction, one round trip; the set_config makes that transaction's commit
// asynchronous (see the header). Time is clock_timestamp(), read when the row is judged (after
// its lock is held), not when the statement arrived: a statement that queued behind the lock
// must not be granted tokens as of its arrival.
constexpr db::Statement kTake{"rate_buckets.take", R"sql(
  WITH async AS (
    SELECT set_config('synchronous_commit', 'off', true)
  ), taken AS (
    INSERT INTO rate_buckets AS b (name, tat)
    VALUES ($1, clock_timestamp() + make_interval(secs => $2::float8 / $3::float8))
    ON CONFLICT (name) DO UPDATE
    SET tat = greatest(b.tat, clock_timestamp()) + make_interval(secs => $2::float8 / $3::float8)
    WHERE greatest(b.tat, clock_timestamp()) + make_interval(secs => $2::float8 / $3::float8)
          <= clock_timestamp() + make_interval(secs => $4::float8 / $3::float8)
    RETURNING 1
  )
  SELECT EXISTS (SELECT 1 FROM taken),
         (SELECT extract(epoch FROM greatest(tat, clock_timestamp()) - clock_timestamp())
                 + ($2::float8 - $4::float8) / $3::float8
          FROM rate_buckets WHERE name = $1)
  FROM async
)sql"};

// A row whose next token fell due in the past behaves exactly as no row (max(tat, now) is
// now), so idle rows can go at any time: those idle for an hour do (ended campaigns).
constexpr db::Statement kPurgeIdle{"rate_buckets.purge_idle", R"sql(
  DELETE FROM rate_buckets WHERE tat < statement_timestamp() - interval '1 hour'
)sql"};

// The tokens of $1 (rate $2, burst $3) there now, taking none: a bucket's level is its burst
// less what its next-token time runs ahead of now. No row is a full bucket.
constexpr db::Statement kAvailable{"rate_buckets.available", R"sql(
  SELECT coalesce(
    (SELECT greatest(0::float8, $3::float8 - $2::float8
                     * extract(epoch FROM greatest(tat - clock_timestamp(), interval '0'))::float8)
     FROM rate_buckets WHERE name = $1),
    $3::float8)
)sql"};

constexpr auto kRetryEvery = std::chrono::milliseconds(100);

void CheckLimit(double rate, double burst, int n) {
  if (!std::isfinite(rate) || !std::isfinite(burst) || burst < 1) {
    throw InvalidArgument("burst", "a rate limit needs finite numbers and a burst of at least 1");
  }
  if (n > burst) {
    throw InvalidArgument("tokens", "more tokens than the burst can never be taken at once");
  }
}

}  // namespace

SharedRate::SharedRate(db::Pool& pool, prometheus::Registry& metrics)
    : pool_(pool),
      tokens_(prometheus::BuildCounter()
                  .Name("herald_rate_limit_tokens_total")
                  .Help("Tokens this process took from a limit shared by every process (one per "
                        "message sent through a rate-limited provider or paced campaign); the "
                        "sum over processes is the combined rate")
                  .Register(metrics)),
      waited_(prometheus::BuildCounter()
                  .Name("herald_rate_limit_wait_seconds_total")
                  .Help("Seconds this process's senders waited for a shared limit's tokens")
                  .Register(metrics)),
      limit_(prometheus::BuildGauge()
                 .Name("herald_rate_limit_per_second")
                 .Help("A shared limit's configured rate: for all processes together")
                 .Register(metrics)),
      burst_(prometheus::BuildGauge()
                 .Name("herald_rate_limit_burst")
                 .Help("A shared limit's configured burst: for all processes together")
                 .Register(metrics)) {}

void SharedRate::Describe(const std::string& label, double rate, double burst) {
  limit_.Add({{"limit", label}}).Set(rate);
  burst_.Add({{"limit", label}}).Set(burst);
}

std::chrono::microseconds SharedRate::TryAcquire(const std::string& name, double rate, double burst,
                                                 int n) {
  if (rate <= 0 || n <= 0) return std::chrono::microseconds(0);
  CheckLimit(rate, burst, n);
  auto conn = pool_.Acquire();
  pqxx::nontransaction txn(conn->raw());
  auto row = conn->Exec(txn, kTake, name, n, rate, burst)[0];
  if (row[0].as<bool>()) return std::chrono::microseconds(0);
  double wait_s = row[1].is_null() ? 0 : row[1].as<double>();
  // Never zero when refused: the caller would ask again at once.
  return std::max(std::chrono::microseconds(1),
                  std::chrono::microseconds(static_cast<int64_t>(std::ceil(wait_s * 1e6))));
}

double SharedRate::Available(const std::string& name, double rate, double burst) {
  if (rate <= 0) return std::numeric_limits<double>::infinity();
  try {
    auto conn = pool_.Acquire();
    pqxx::nontransaction txn(conn->raw());
    return std::min(burst, conn->Exec(txn, kAvailable, name, rate, burst)[0][0].as<double>());
  } catch (const std::exception&) {
    return burst;
  }
}

int64_t SharedRate::PurgeIdle() {
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto n = static_cast<int64_t>(conn->Exec(txn, kPurgeIdle).affected_rows());
  txn.commit();
  return n;
}

void SharedRate::Unavailable(const std::string& label) {
  // PostgreSQL is away: no token, no send. One line a minute at most.
  int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::steady_clock::now().time_since_epoch())
                      .count();
  int64_t last = last_error_log_s_.load();
  if (now_s - last >= 60 && last_error_log_s_.compare_exchange_strong(last, now_s)) {
    log::Warn("shared rate limit unavailable: sends wait", {{"limit", label}});
  }
}

std::optional<std::chrono::microseconds> SharedRate::Ask(const std::string& name,
                                                         const std::string& label, double rate,
                                                         double burst, int n) {
  // The failure is caught here, in a frame that keeps no state of the wait: a loop variable
  // assigned inside a try in Acquire itself was seen holding garbage after a caught
  // connection error in an optimised build (never under the sanitizers).
  try {
    return TryAcquire(name, rate, burst, n);
  } catch (const Error& e) {
    if (e.code() == ErrorCode::kInvalidArgument) throw;
  } catch (const std::exception&) {
  }
  Unavailable(label);
  return std::nullopt;
}

bool SharedRate::Acquire(const std::string& name, const std::string& label, double rate,
                         double burst, int n, const std::function<bool()>& stopping,
                         const std::stop_token& stop) {
  if (rate <= 0 || n <= 0) return true;
  CheckLimit(rate, burst, n);
  const auto started = std::chrono::steady_clock::now();
  bool taken = false;
  auto stopped = [&] { return stop.stop_requested() || stopping(); };
  while (!stopped()) {
    // Nothing when PostgreSQL could not be asked.
    const std::optional<std::chrono::microseconds> wait = Ask(name, label, rate, burst, n);
    if (wait && wait->count() == 0) {
      taken = true;
      break;
    }
    // Asking again before the tokens are due would only load the row: sleep until then (at
    // least 200 µs; 100 ms while PostgreSQL is away), looking at `stopping` every 100 ms and
    // waking at once when `stop` is requested.
    const auto due =
        std::chrono::steady_clock::now() + (wait ? std::max(*wait, std::chrono::microseconds(200))
                                                 : std::chrono::microseconds(kRetryEvery));
    for (auto now = std::chrono::steady_clock::now(); now < due && !stopped();
         now = std::chrono::steady_clock::now()) {
      SleepUnlessStopped(stop,
                         std::min<std::chrono::steady_clock::duration>(due - now, kRetryEvery));
    }
  }
  const double waited =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  waited_.Add({{"limit", label}}).Increment(waited);
  if (taken) tokens_.Add({{"limit", label}}).Increment(n);
  return taken;
}

}  // namespace herald::dispatch
