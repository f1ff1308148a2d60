#pragma once

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "services/dispatch/outbox/outbox.h"
#include "services/dispatch/providers/provider_registry.h"
#include "services/subscriptions/registry.h"

namespace herald::dispatch {

struct WorkerOptions {
  int threads = 2;
  int batch_size = 100;
  std::chrono::seconds lease{120};
  std::chrono::milliseconds idle_poll{200};
  std::string from_address;
  std::string from_name;
  std::string message_id_domain = "herald.invalid";
  std::string name = "worker";  // lease owner prefix (host name in production)
};

// Outbox workers: claim (gate inside), render, send through the chosen provider, record the
// outcomes in one batch, and turn permanent address failures (SMTP 5.1.x, carrier opt-outs)
// into suppressions.
class DispatchWorker {
 public:
  DispatchWorker(Outbox& outbox, ProviderRegistry& providers,
                 subscriptions::SubscriptionRegistry& registry, const Clock& clock,
                 WorkerOptions options);
  ~DispatchWorker();

  void Start();
  // Finishes the batch in hand, then returns. Messages claimed but not completed keep their
  // lease and are reclaimed later (nothing is lost).
  void Stop();
  // One claim-send-complete round on the calling thread; returns how many were claimed.
  int RunOnce(const std::string& owner);

 private:
  void Loop(int index);
  Outcome Deliver(const ClaimedMessage& m);
  void Suppress(const ClaimedMessage& m, const DeliveryResult& r);

  Outbox& outbox_;
  ProviderRegistry& providers_;
  subscriptions::SubscriptionRegistry& registry_;
  const Clock& clock_;
  WorkerOptions options_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> threads_;
};

}  // namespace herald::dispatch
