#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "tests/support/test_database.h"

namespace herald::testing {

// Whether the outbox has settled: no message is queued or sending, and no retry is due. What
// a worker would still send is then nothing, so a test may assert what did not arrive.
bool OutboxSettled(const TestDatabase& db);

// Waits until the outbox has settled; false (after `timeout`) when it never did.
bool WaitForOutboxSettled(const TestDatabase& db,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The lease token of the claim that holds the message now (0: none holds it), for a test
// that completes a claim the way its worker would.
int64_t LeaseToken(const TestDatabase& db, const std::string& message_id);

// The messages per status ("queued=2, sent=5"), for failure messages.
std::string OutboxSummary(const TestDatabase& db);

}  // namespace herald::testing

// Fails the test (fatally) unless the outbox settles within the timeout (default 30 s).
#define ASSERT_OUTBOX_SETTLED(db)                          \
  ASSERT_TRUE(::herald::testing::WaitForOutboxSettled(db)) \
      << "the outbox never settled: " << ::herald::testing::OutboxSummary(db)
