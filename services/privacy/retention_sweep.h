#pragma once

#include <cstdint>

#include "common/clock.h"
#include "common/db/pool.h"
#include "services/privacy/erasure_settings.h"

namespace herald::privacy {

struct RetentionSweepResult {
  // Settled messages whose content (templates, variables) and provider texts were purged.
  int64_t message_contents_purged = 0;
  // Messages of destroyed or depersonalized subjects that were being sent at the time of the
  // erasure, scrubbed now that they have settled.
  int64_t erased_messages_scrubbed = 0;
  int64_t destruction_records_purged = 0;
};

// The periodic retention pass the privacy job runs: rendered message content is kept
// message_content_days after the message settled, for everyone; destruction records are
// deleted once their purge_after has passed. Idempotent; works in batches so no single
// transaction holds many rows.
class RetentionSweep {
 public:
  RetentionSweep(db::Pool& pool, const Clock& clock, ErasureSettings settings);

  RetentionSweepResult Run();

  static constexpr int kBatch = 5000;

 private:
  db::Pool& pool_;
  const Clock& clock_;
  ErasureSettings settings_;
};

}  // namespace herald::privacy
