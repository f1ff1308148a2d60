#include "services/dispatch/upload_resolver.h"

#include "common/log/log.h"

namespace herald::dispatch {

void UploadResolver::Start(std::chrono::milliseconds idle) {
  thread_ = std::thread([this, idle] {
    auto last_failure_log = std::chrono::steady_clock::time_point();
    for (;;) {
      bool resolved = false;
      try {
        resolved = campaigns_.ResolveNextUpload();
      } catch (const std::exception& e) {
        // While the database is away every try fails: one line per ten seconds says so. The
        // upload stays received and is tried again.
        auto now = std::chrono::steady_clock::now();
        if (now - last_failure_log > std::chrono::seconds(10)) {
          last_failure_log = now;
          log::Warn("recipient upload resolution failed; it is tried again",
                    {{"error_type", typeid(e).name()}});
        }
      }
      std::unique_lock lock(mu_);
      if (!resolved) cv_.wait_for(lock, idle, [this] { return stopping_ || woken_; });
      woken_ = false;
      if (stopping_) return;
    }
  });
}

void UploadResolver::Wake() {
  {
    std::lock_guard lock(mu_);
    woken_ = true;
  }
  cv_.notify_all();
}

void UploadResolver::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace herald::dispatch
