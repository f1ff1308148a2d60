#include "tests/support/outbox.h"

#include "tests/support/eventually.h"

namespace herald::testing {

bool OutboxSettled(const TestDatabase& db) {
  return db.Scalar(R"sql(
      SELECT count(*) FROM messages
       WHERE status IN ('queued', 'sending')
          OR (status = 'retrying' AND next_attempt_at <= now()))sql") == "0";
}

bool WaitForOutboxSettled(const TestDatabase& db, std::chrono::milliseconds timeout) {
  return Eventually([&] { return OutboxSettled(db); }, timeout, std::chrono::milliseconds(50));
}

std::string OutboxSummary(const TestDatabase& db) {
  return db.Scalar(R"sql(
      SELECT coalesce(string_agg(status || '=' || n, ', ' ORDER BY status), 'no messages')
        FROM (SELECT status, count(*) n FROM messages GROUP BY status) s)sql");
}

}  // namespace herald::testing
