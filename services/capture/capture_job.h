#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "services/capture/capture_service.h"

namespace herald::capture {

// The worker role's capture job: every interval, CaptureService::RunOnce (expired requests
// deleted with their personal data, confirmed ones a crash left finished).
class CaptureJob {
 public:
  CaptureJob(CaptureService& capture, std::chrono::milliseconds interval)
      : capture_(capture), interval_(interval) {}
  ~CaptureJob() { Stop(); }

  void Start();
  void Stop();

 private:
  void Loop();

  CaptureService& capture_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace herald::capture
