#include "services/heraldd/readiness.h"

#include <memory>
#include <pqxx/pqxx>

#include "common/db/migrations.h"
#include "common/log/log.h"

namespace herald {

void Readiness::Start() {
  ProbeOnce();
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, period_);
      if (stopping_) break;
      lock.unlock();
      ProbeOnce();
      lock.lock();
    }
  });
}

void Readiness::Drain() {
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    stopping_ = true;
    if (ready_) {
      log::Info("not ready", {{"reason", "shutting down"}});
      on_change_(false);
    }
    ready_ = false;
    why_ = "shutting down";
  }
  // Not joined here: a probe stuck on an unreachable database must not hold up the drain.
  // Its verdict is discarded (ProbeOnce checks draining_ under the same lock).
  cv_.notify_all();
}

void Readiness::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Readiness::Ready(std::string* why) const {
  std::lock_guard lock(mu_);
  if (why) *why = why_;
  return ready_;
}

void Readiness::ProbeOnce() {
  Verdict v = probe_();
  // Changes are reported under the lock, so a report cannot overtake Drain's.
  std::lock_guard lock(mu_);
  if (draining_) return;
  bool changed = v.ready != ready_;
  ready_ = v.ready;
  why_ = v.why;
  if (changed) {
    log::Info(v.ready ? "ready" : "not ready", {{"reason", v.why}});
    on_change_(v.ready);
  }
}

Readiness::Probe DatabaseProbe(std::string dsn) {
  // Shared so the probe stays copyable as a std::function; only the probing thread uses it.
  auto conn = std::make_shared<std::unique_ptr<pqxx::connection>>();
  return [dsn = std::move(dsn), conn]() -> Readiness::Verdict {
    try {
      if (!*conn || !(*conn)->is_open()) *conn = std::make_unique<pqxx::connection>(dsn);
      pqxx::nontransaction(**conn).exec("SELECT 1");
      if (!db::MigrationsCurrent(**conn, db::BuiltInMigrations())) {
        return {false, "migrations not applied"};
      }
      return {true, ""};
    } catch (const std::exception&) {
      // Dropped, so the next probe connects afresh once PostgreSQL is back.
      conn->reset();
      return {false, "database unreachable"};
    }
  };
}

}  // namespace herald
