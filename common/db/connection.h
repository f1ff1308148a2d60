#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <unordered_set>
#include <utility>

#include "common/db/statement.h"

namespace herald::db {

// Called with each statement's name and duration (metrics hook).
using StatementObserver = std::function<void(const char* name, std::chrono::nanoseconds)>;

// One libpqxx connection plus the statements already prepared on it. Used by one thread at a
// time: the pool hands out whole connections.
class Connection {
 public:
  Connection(const std::string& dsn, StatementObserver observer);

  pqxx::connection& raw() { return conn_; }
  bool is_open() { return conn_.is_open(); }

  // Runs a named statement in `txn`, preparing it on first use on this connection (or
  // planning it with its values on every call: Statement::plan_each_call).
  template <typename... Args>
  pqxx::result Exec(pqxx::transaction_base& txn, const Statement& stmt, Args&&... args) {
    if (!stmt.plan_each_call && !prepared_.count(stmt.name)) {
      conn_.prepare(stmt.name, stmt.sql);
      prepared_.insert(stmt.name);
    }
    auto start = std::chrono::steady_clock::now();
    pqxx::result r = stmt.plan_each_call
                         ? txn.exec_params(stmt.sql, std::forward<Args>(args)...)
                         : txn.exec_prepared(stmt.name, std::forward<Args>(args)...);
    if (observer_) observer_(stmt.name, std::chrono::steady_clock::now() - start);
    return r;
  }

 private:
  pqxx::connection conn_;
  std::unordered_set<std::string> prepared_;
  StatementObserver observer_;
};

using ConnectionPtr = std::unique_ptr<Connection>;

}  // namespace herald::db
