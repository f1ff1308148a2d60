#include "services/capture/capture_job.h"

#include <typeinfo>

#include "common/log/log.h"

namespace herald::capture {

void CaptureJob::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void CaptureJob::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CaptureJob::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    try {
      auto r = capture_.RunOnce();
      if (r.expired > 0 || r.finished > 0) {
        log::Info("capture job", {{"expired", r.expired}, {"finished", r.finished}});
      }
    } catch (const std::exception& e) {
      // The database may be away; the next round tries again. No values in the message.
      log::Error("capture job round failed", {{"type", typeid(e).name()}});
    }
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

}  // namespace herald::capture
