#include "tests/support/outbox.h"

#include <string>

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

int64_t LeaseToken(const TestDatabase& db, const std::string& message_id) {
  return std::stoll(
      db.Scalar("SELECT coalesce(lease_token, 0) FROM messages WHERE id = '" + message_id + "'"));
}

std::string OutboxSummary(const TestDatabase& db) {
  return db.Scalar(R"sql(
      SELECT coalesce(string_agg(status || '=' || n, ', ' ORDER BY status), 'no messages')
        FROM (SELECT status, count(*) n FROM messages GROUP BY status) s)sql");
}

}  // namespace herald::testing
