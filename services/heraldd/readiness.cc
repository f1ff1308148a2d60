#include "services/heraldd/readiness.h"

#include "common/db/migrations.h"
#include "common/log/log.h"

namespace herald {

void Readiness::Start() {
  Probe();
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stopping_) {
      cv_.wait_for(lock, std::chrono::milliseconds(500));
      if (stopping_) break;
      lock.unlock();
      Probe();
      lock.lock();
    }
  });
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

void Readiness::Probe() {
  bool ready = false;
  std::string why;
  try {
    auto conn = pool_.Acquire();
    pqxx::nontransaction(conn->raw()).exec("SELECT 1");
    ready = db::MigrationsCurrent(conn->raw(), db::BuiltInMigrations());
    if (!ready) why = "migrations not applied";
  } catch (const std::exception&) {
    why = "database unreachable";
  }
  bool changed;
  {
    std::lock_guard lock(mu_);
    changed = ready != ready_;
    ready_ = ready;
    why_ = why;
  }
  if (changed) {
    log::Info(ready ? "ready" : "not ready", {{"reason", why}});
    on_change_(ready);
  }
}

}  // namespace herald
