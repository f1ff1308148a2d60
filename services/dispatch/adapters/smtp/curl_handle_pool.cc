#include "services/dispatch/adapters/smtp/curl_handle_pool.h"

namespace herald::dispatch {

CurlHandlePool::CurlHandlePool(std::size_t max_handles, std::function<void(CURL*)> configure)
    : max_handles_(max_handles), configure_(std::move(configure)) {}

CurlHandlePool::Lease::~Lease() {
  if (pool_ != nullptr && handle_ != nullptr) pool_->Return(std::move(handle_));
}

CurlHandlePool::Lease CurlHandlePool::Acquire(std::chrono::steady_clock::time_point deadline,
                                              const std::stop_token& stop) {
  std::unique_lock lock(mu_);
  bool available = returned_.wait_until(
      lock, stop, deadline, [this] { return !idle_.empty() || created_ < max_handles_; });
  if (!available) return Lease();
  if (!idle_.empty()) {
    CurlEasyPtr handle = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(handle));
  }
  ++created_;
  lock.unlock();  // creating and configuring a handle needs no lock
  CurlEasyPtr handle(curl_easy_init());
  if (handle == nullptr) {
    lock.lock();
    --created_;
    returned_.notify_one();
    return Lease();
  }
  configure_(handle.get());
  return Lease(this, std::move(handle));
}

void CurlHandlePool::Return(CurlEasyPtr handle) {
  {
    std::lock_guard lock(mu_);
    idle_.push_back(std::move(handle));
  }
  returned_.notify_one();
}

}  // namespace herald::dispatch
