#include "common/db/pool.h"

#include "common/error.h"

namespace herald::db {

Lease::~Lease() {
  if (conn_) pool_->Release(std::move(conn_));
}

Pool::Pool(std::string dsn, int size, std::chrono::milliseconds acquire_timeout,
           StatementObserver observer)
    : dsn_(std::move(dsn)),
      size_(size),
      acquire_timeout_(acquire_timeout),
      observer_(std::move(observer)) {}

Pool::~Pool() = default;

Lease Pool::Acquire() {
  std::unique_lock lock(mu_);
  ++waiting_;
  bool got = cv_.wait_for(lock, acquire_timeout_, [&] { return !idle_.empty() || open_ < size_; });
  --waiting_;
  if (!got) throw Unavailable("database: no connection free in time");
  if (!idle_.empty()) {
    ConnectionPtr conn = std::move(idle_.back());
    idle_.pop_back();
    ++in_use_;
    return Lease(this, std::move(conn));
  }
  // Open a new one outside the lock: connecting takes a round trip or a timeout.
  ++open_;
  ++in_use_;
  lock.unlock();
  try {
    return Lease(this, std::make_unique<Connection>(dsn_, observer_));
  } catch (const std::exception&) {
    lock.lock();
    --open_;
    --in_use_;
    cv_.notify_one();
    throw Unavailable("database: cannot connect");
  }
}

void Pool::Release(ConnectionPtr conn) {
  bool healthy = conn->is_open();
  if (!healthy) conn.reset();
  std::lock_guard lock(mu_);
  --in_use_;
  if (healthy) {
    idle_.push_back(std::move(conn));
  } else {
    --open_;
  }
  cv_.notify_one();
}

PoolStats Pool::Stats() {
  std::lock_guard lock(mu_);
  return {size_, open_, in_use_, waiting_};
}

}  // namespace herald::db
