#include "services/privacy/retention_sweep.h"

#include <chrono>

#include "services/dispatch/ledger/message_ledger.h"
#include "services/privacy/destruction_records.h"

namespace herald::privacy {
RetentionSweep::RetentionSweep(db::Pool& pool, const Clock& clock, ErasureSettings settings)
    : pool_(pool), clock_(clock), settings_(std::move(settings)) {}

RetentionSweepResult RetentionSweep::Run() {
  Timestamp now = clock_.Now();
  Timestamp cutoff = now - std::chrono::hours(24) * settings_.message_content_days;
  RetentionSweepResult result;
  auto conn = pool_.Acquire();
  // Each batch commits on its own: a long sweep never holds locks the outbox waits for.
  auto batches = [&](auto&& one_batch) {
    int64_t total = 0;
    for (;;) {
      pqxx::work txn(conn->raw());
      int64_t n = one_batch(txn);
      txn.commit();
      total += n;
      if (n < kBatch) return total;
    }
  };
  result.message_contents_purged = batches([&](pqxx::work& txn) {
    return dispatch::ledger::PurgeSettledContent(*conn, txn, cutoff, kBatch);
  });
  result.erased_messages_scrubbed = batches(
      [&](pqxx::work& txn) { return dispatch::ledger::ScrubErasedMessages(*conn, txn, kBatch); });
  result.destruction_records_purged =
      batches([&](pqxx::work& txn) { return PurgeDestructionRecords(*conn, txn, now, kBatch); });
  return result;
}

}  // namespace herald::privacy
