#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/db/pool.h"
#include "services/crm/card_flags.h"
#include "services/crm/creatio_client.h"
#include "services/crm/writeback_queue.h"

namespace herald::crm {

// Delivers the write-back outbox to Creatio. Each round claims up to kBatchesPerRound ×
// crm.batch_size due rows (leased, so other workers and replicas skip them; the lease is
// renewed while the round still sends), derives each contact's card from the gate, and
// writes only the cards Creatio is not known to show, in $batch requests of at most
// crm.batch_size items: one absolute PATCH of the three flags per contact, and the contact's
// BulkEmailSubscription rows that must change (looked up first, in a $batch of GETs, when
// their ids are not known yet). Every item's status is matched back to its row:
//   all 2xx              the card is remembered as written; the row goes (or is due again
//                        when a newer change came in meanwhile); a destroyed subject's CRM
//                        rows are deleted after this, its final write;
//   429, 5xx, no answer  backoff (doubling from crm.backoff_initial_ms to crm.backoff_max_ms,
//                        jittered, or Retry-After when Creatio sent one); never given up;
//   login refused        parked as an auth failure (the client has already logged in
//                        again once and retried once);
//   404 on the contact   dead-lettered: the contact is gone;
//   any other 4xx        parked, which holds the whole queue until `crm retry`: a renamed
//                        field would otherwise dead-letter every opt-out.
class WriteBackWorker {
 public:
  WriteBackWorker(db::Pool& pool, CreatioClient& client, const CardDeriver& deriver,
                  const Clock& clock, prometheus::Registry& metrics);
  ~WriteBackWorker();
  WriteBackWorker(const WriteBackWorker&) = delete;
  WriteBackWorker& operator=(const WriteBackWorker&) = delete;

  // A round's database work (claim, card derivation, settling) is shared by this many
  // $batch requests' worth of rows.
  static constexpr int kBatchesPerRound = 4;

  // One round on the calling thread; returns how many rows it claimed.
  int RunOnce();

  // crm.workers threads running rounds until Stop(); an idle thread polls every `idle`.
  void Start(int threads, std::chrono::milliseconds idle = std::chrono::milliseconds(200));
  void Stop();

  // Deletes parked and dead rows older than crm.purge_after_days; returns how many.
  int64_t Purge();

  // Refreshes the queue gauges (depth, oldest age); called before each scrape.
  void RefreshGauges();

 private:
  struct Row;
  void Settle(std::vector<Row>& rows);
  int ItemsPerBatch() const;  // crm.batch_size within Creatio's 1..100
  int RowsPerRound() const;
  Timestamp Backoff(int attempts, std::optional<int> retry_after_s);
  void Loop(std::chrono::milliseconds idle);

  db::Pool& pool_;
  CreatioClient& client_;
  const CardDeriver& deriver_;
  const Clock& clock_;
  const CreatioSettings& settings_;
  std::chrono::milliseconds lease_;

  prometheus::Family<prometheus::Counter>& outcomes_;
  prometheus::Family<prometheus::Gauge>& queue_;
  prometheus::Gauge& oldest_age_;
  prometheus::Gauge& metadata_problems_;

  std::mutex rng_mu_;
  std::mt19937_64 rng_;  // jitter only

  std::atomic<int64_t> last_purge_s_{0};  // steady-clock seconds of the last purge

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace herald::crm
