#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "common/db/connection.h"

namespace herald::db {

class Pool;

// A connection on loan; goes back to the pool when destroyed (or is dropped if broken).
class Lease {
 public:
  Lease(Pool* pool, ConnectionPtr conn) : pool_(pool), conn_(std::move(conn)) {}
  Lease(Lease&&) = default;
  Lease& operator=(Lease&&) = delete;
  ~Lease();

  Connection* operator->() { return conn_.get(); }
  Connection& operator*() { return *conn_; }

 private:
  Pool* pool_;
  ConnectionPtr conn_;
};

struct PoolStats {
  int size = 0;     // configured maximum
  int open = 0;     // connections that exist
  int in_use = 0;   // on loan
  int waiting = 0;  // callers waiting for one
};

// Hands out whole connections, opened lazily up to `size`; a broken connection is dropped
// on return and reopened on demand, so the pool heals when PostgreSQL comes back.
class Pool {
 public:
  Pool(std::string dsn, int size, std::chrono::milliseconds acquire_timeout,
       StatementObserver observer = nullptr);
  ~Pool();

  // Throws herald::Error(kUnavailable) when no connection can be had in time or PostgreSQL
  // cannot be reached.
  Lease Acquire();
  PoolStats Stats();

 private:
  friend class Lease;
  void Release(ConnectionPtr conn);

  const std::string dsn_;
  const int size_;
  const std::chrono::milliseconds acquire_timeout_;
  StatementObserver observer_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<ConnectionPtr> idle_;
  int open_ = 0;
  int in_use_ = 0;
  int waiting_ = 0;
};

}  // namespace herald::db
