// Readiness with a stand-in probe: changes reported once each, and the drain is final.
#include "services/heraldd/readiness.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <vector>

namespace herald {
namespace {

// A probe whose verdict the test sets, which can be held inside a probe until released.
class FakeProbe {
 public:
  Readiness::Verdict Run() {
    std::unique_lock lock(mu_);
    ++calls_;
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !hold_; });
    return {ready_, ready_ ? "" : "database unreachable"};
  }
  void Set(bool ready) {
    std::lock_guard lock(mu_);
    ready_ = ready;
  }
  // The next probe waits inside until Release().
  void Hold() {
    std::lock_guard lock(mu_);
    hold_ = true;
    entered_ = false;
  }
  void WaitEntered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    hold_ = false;
    cv_.notify_all();
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool ready_ = true;
  bool hold_ = false;
  bool entered_ = false;
  int calls_ = 0;
};

struct Changes {
  std::mutex mu;
  std::vector<bool> seen;
  void Add(bool ready) {
    std::lock_guard lock(mu);
    seen.push_back(ready);
  }
  std::vector<bool> Get() {
    std::lock_guard lock(mu);
    return seen;
  }
};

TEST(Readiness, DrainIsFinalAndReportedOnce) {
  FakeProbe probe;
  Changes changes;
  Readiness readiness([&] { return probe.Run(); }, [&](bool r) { changes.Add(r); },
                      std::chrono::milliseconds(1));
  readiness.Start();
  std::string why;
  EXPECT_TRUE(readiness.Ready(&why));
  readiness.Drain();
  EXPECT_FALSE(readiness.Ready(&why));
  EXPECT_EQ(why, "shutting down");
  EXPECT_EQ(changes.Get(), (std::vector<bool>{true, false}));
  // The probing thread is gone: the database still looks fine, yet nothing probes it.
  int calls = probe.calls();
  readiness.Stop();
  EXPECT_EQ(probe.calls(), calls);
  EXPECT_FALSE(readiness.Ready(nullptr));
}

// A probe that was already running when the drain began finishes with "ready"; its verdict
// is discarded rather than turning health back to SERVING.
TEST(Readiness, AProbeInFlightWhenTheDrainBeginsCannotFlipItBack) {
  FakeProbe probe;
  probe.Set(false);
  Changes changes;
  Readiness readiness([&] { return probe.Run(); }, [&](bool r) { changes.Add(r); },
                      std::chrono::milliseconds(1));
  readiness.Start();
  EXPECT_FALSE(readiness.Ready(nullptr));
  probe.Hold();
  probe.WaitEntered();
  probe.Set(true);
  readiness.Drain();  // does not wait for the probe held inside
  EXPECT_FALSE(readiness.Ready(nullptr));
  probe.Release();
  readiness.Stop();  // the held probe has returned "ready" by now
  EXPECT_FALSE(readiness.Ready(nullptr));
  for (bool r : changes.Get()) EXPECT_FALSE(r);
}

TEST(Readiness, FollowsTheProbeUntilDrained) {
  FakeProbe probe;
  probe.Set(false);
  Changes changes;
  Readiness readiness([&] { return probe.Run(); }, [&](bool r) { changes.Add(r); },
                      std::chrono::milliseconds(1));
  readiness.Start();
  std::string why;
  EXPECT_FALSE(readiness.Ready(&why));
  EXPECT_EQ(why, "database unreachable");
  probe.Set(true);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!readiness.Ready(nullptr) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(readiness.Ready(nullptr));
  readiness.Drain();
  EXPECT_EQ(changes.Get(), (std::vector<bool>{true, false}));
}

}  // namespace
}  // namespace herald
