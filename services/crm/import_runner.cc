#include "services/crm/import_runner.h"

#include <algorithm>

#include "common/log/log.h"

namespace herald::crm {

void ImportRunner::Start(std::chrono::milliseconds idle) {
  thread_ = std::thread([this, idle] {
    for (;;) {
      bool stepped = false;
      try {
        stepped = import_.Step();
      } catch (const std::exception& e) {
        log::Error("crm import step failed", {{"error", e.what()}});
      }
      std::chrono::milliseconds wait = idle;
      if (stepped) {
        // A page was worked, or a retry is pending: go on at once, or when it is due.
        auto until = import_.next_attempt() - clock_.Now();
        wait = std::max(std::chrono::milliseconds(0),
                        std::chrono::duration_cast<std::chrono::milliseconds>(until));
      }
      std::unique_lock lock(mu_);
      if (wait.count() > 0) cv_.wait_for(lock, wait, [this] { return stopping_; });
      if (stopping_) return;
    }
  });
}

void ImportRunner::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace herald::crm
