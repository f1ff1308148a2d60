#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "services/dispatch/campaign_service.h"

namespace herald::dispatch {

// Resolves received recipient uploads on a thread of its own, in every heraldd process that
// serves the API or runs workers: woken by each upload this process receives, and looking
// every `idle` for uploads another process received (or left when it stopped). Processes
// share the work through the upload rows' locks (SKIP LOCKED); an upload is resolved once.
class UploadResolver {
 public:
  explicit UploadResolver(CampaignService& campaigns) : campaigns_(campaigns) {}
  ~UploadResolver() { Stop(); }
  UploadResolver(const UploadResolver&) = delete;
  UploadResolver& operator=(const UploadResolver&) = delete;

  void Start(std::chrono::milliseconds idle = std::chrono::seconds(1));
  // Returns once the upload being resolved, if any, is committed or rolled back.
  void Stop();
  void Wake();

 private:
  CampaignService& campaigns_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  bool woken_ = false;     // guarded by mu_
  std::thread thread_;
};

}  // namespace herald::dispatch
