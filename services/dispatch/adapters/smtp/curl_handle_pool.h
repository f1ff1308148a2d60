#pragma once

#include <curl/curl.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <stop_token>
#include <vector>

namespace herald::dispatch {

struct CurlEasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;

// A bounded set of libcurl easy handles, each used by one thread at a time. libcurl keeps
// a handle's connection open after a transfer, so lending the same handle to the next Send
// reuses that SMTP session: no new TCP, TLS or AUTH round trips. The bound is therefore
// also the bound on open connections to the relay.
class CurlHandlePool {
 public:
  // `configure` sets the options all handles share; it runs once on each new handle.
  CurlHandlePool(std::size_t max_handles, std::function<void(CURL*)> configure);
  CurlHandlePool(const CurlHandlePool&) = delete;
  CurlHandlePool& operator=(const CurlHandlePool&) = delete;

  // A borrowed handle; goes back to the pool when destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    explicit operator bool() const { return handle_ != nullptr; }
    CURL* get() const { return handle_.get(); }

   private:
    friend class CurlHandlePool;
    Lease(CurlHandlePool* pool, CurlEasyPtr handle) : pool_(pool), handle_(std::move(handle)) {}

    CurlHandlePool* pool_ = nullptr;
    CurlEasyPtr handle_;
  };

  // Waits until `deadline` for a handle; an empty lease if none came free in time, `stop` was
  // requested first, or libcurl could not create one.
  Lease Acquire(std::chrono::steady_clock::time_point deadline, const std::stop_token& stop = {});

 private:
  void Return(CurlEasyPtr handle);

  const std::size_t max_handles_;
  const std::function<void(CURL*)> configure_;
  std::mutex mu_;
  std::condition_variable_any returned_;
  std::vector<CurlEasyPtr> idle_;  // guarded by mu_
  std::size_t created_ = 0;        // handles alive, idle or lent; guarded by mu_
};

}  // namespace herald::dispatch
