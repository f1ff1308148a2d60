#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>

namespace herald::dispatch {

// Sleeps for `d`, or less when `stop` is requested meanwhile (at once if it already was);
// returns whether it was. The waits of the dispatch path (a rate limit's next token, a free
// relay connection) end here on SIGTERM instead of being sat out: a stopping worker hands
// its messages back unattempted, and heraldd exits within its drain period.
template <class Rep, class Period>
bool SleepUnlessStopped(const std::stop_token& stop, std::chrono::duration<Rep, Period> d) {
  if (!stop.stop_possible()) {
    std::this_thread::sleep_for(d);
    return false;
  }
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  return cv.wait_for(lock, stop, d, [] { return false; }) || stop.stop_requested();
}

}  // namespace herald::dispatch
