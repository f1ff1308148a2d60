#include "services/privacy/retention_sweep.h"

#include <chrono>

#include "common/db/statement.h"
#include "services/privacy/destruction_records.h"

namespace herald::privacy {
namespace {

// Settled: nothing will render or send this message again.
constexpr db::Statement kPurgeContent{
    "retention.purge_message_content",
    "WITH m AS (UPDATE messages SET subject_template = NULL, text_template = NULL,"
    " html_template = NULL, variables = '{}' WHERE id IN (SELECT id FROM messages"
    " WHERE updated_at < $1 AND status IN ('suppressed', 'cancelled', 'sent', 'delivered',"
    " 'undelivered', 'failed') AND (subject_template IS NOT NULL OR text_template IS NOT NULL"
    " OR html_template IS NOT NULL OR variables <> '{}'::jsonb) LIMIT $2) RETURNING id),"
    " a AS (UPDATE message_attempts SET detail = '' WHERE message_id IN (SELECT id FROM m)"
    " AND detail <> '' RETURNING 1)"
    " SELECT count(*) FROM m"};
// Erasure leaves a message a worker holds (SENDING) to finish its one send; once it has
// settled its address and content go like the rest of the subject's.
constexpr db::Statement kScrubErased{
    "retention.scrub_erased_messages",
    "WITH m AS (UPDATE messages SET address = NULL, match_key = NULL,"
    " subject_template = NULL, text_template = NULL, html_template = NULL, variables = '{}'"
    " WHERE id IN (SELECT m.id FROM messages m JOIN subjects s ON s.id = m.subject_id"
    " WHERE s.state <> 'active' AND m.status NOT IN ('sending', 'queued', 'retrying')"
    " AND (m.address IS NOT NULL OR m.match_key IS NOT NULL) LIMIT $1) RETURNING id),"
    " a AS (UPDATE message_attempts SET detail = '' WHERE message_id IN (SELECT id FROM m)"
    " AND detail <> '' RETURNING 1),"
    " h AS (UPDATE message_history SET note = '' WHERE message_id IN (SELECT id FROM m)"
    " AND note <> '' RETURNING 1)"
    " SELECT count(*) FROM m"};

}  // namespace

RetentionSweep::RetentionSweep(db::Pool& pool, const Clock& clock, ErasureSettings settings)
    : pool_(pool), clock_(clock), settings_(std::move(settings)) {}

RetentionSweepResult RetentionSweep::Run() {
  Timestamp now = clock_.Now();
  std::string cutoff = ToIso8601(now - std::chrono::hours(24) * settings_.message_content_days);
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
    return conn->Exec(txn, kPurgeContent, cutoff, kBatch)[0][0].as<int64_t>();
  });
  result.erased_messages_scrubbed = batches(
      [&](pqxx::work& txn) { return conn->Exec(txn, kScrubErased, kBatch)[0][0].as<int64_t>(); });
  result.destruction_records_purged =
      batches([&](pqxx::work& txn) { return PurgeDestructionRecords(*conn, txn, now, kBatch); });
  return result;
}

}  // namespace herald::privacy
