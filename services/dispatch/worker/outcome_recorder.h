#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <utility>
#include <vector>

#include "services/dispatch/outbox/outbox.h"

namespace herald::dispatch {

struct RecorderOptions {
  std::chrono::milliseconds first_backoff{50};
  std::chrono::milliseconds max_backoff{1000};
  // Once the worker is stopping, how long recording is still retried before the outcomes are
  // given up: their messages are then reclaimed when their lease runs out and may go out again.
  std::chrono::milliseconds shutdown_patience{5000};
  // A failure that is not the database being away (a fault in the data or the code) is tried
  // this often before the outcomes are given up, so it cannot hold the worker forever.
  int tries_for_other_failures = 3;
};

// Records the outcomes of a worker's sends as they happen, a small group at a time (group
// commit: whoever finds no recording under way records everything waiting). One recorder
// serves all of a DispatchWorker's threads, so their lanes share transactions.
//
// A lane that sent a message waits in Record() until the outcome is recorded before it starts
// its next send. So when the process dies, at most one sent-but-unrecorded message per lane
// exists: at most the send concurrency may go out again after the lease runs out.
//
// While the database is away, recording is retried (backoff up to a second) and the lanes wait:
// the outcomes are kept, not dropped, and recorded when the database is back. The completion
// is fenced by the claim's lease token (Outbox::Complete), so recording late is safe, and
// recording again after a commit whose result was unknown changes nothing.
class OutcomeRecorder {
 public:
  using RecordFn = std::function<void(const std::vector<Outcome>&)>;
  // `stopping` is the worker's flag: once set, retries end after `shutdown_patience`.
  // `on_result(ok)` is told each time a group was recorded (true) or a try failed (false).
  OutcomeRecorder(RecordFn record, const std::atomic<bool>& stopping,
                  std::function<void(bool)> on_result = {}, RecorderOptions options = {});

  // Records `o` (with whatever else waits) and returns once it is recorded (true) or given up.
  bool Record(Outcome o);
  // Queues `o` for the next group without waiting (a hand-back: nothing was sent).
  void Add(Outcome o);
  // Records everything queued; false when any of it was given up.
  bool Flush();

  // Outcomes given up so far (never recorded).
  int64_t given_up() const;

  // The database being away or busy (connection lost, commit result unknown, server shutting
  // down, out of resources, serialization failure), as opposed to a fault of the data or code.
  static bool IsTransient(const std::exception& e);

 private:
  // Waits until everything up to sequence number `seq` has been recorded or given up, leading
  // the recording whenever nobody else does.
  bool WaitFor(uint64_t seq);
  // Records one group, retrying as RecorderOptions says; false when it was given up.
  bool RecordWithRetry(const std::vector<Outcome>& group);

  RecordFn record_;
  const std::atomic<bool>& stopping_;
  std::function<void(bool)> on_result_;
  RecorderOptions options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Outcome> pending_;
  uint64_t added_ = 0;     // sequence number of the last outcome added
  uint64_t resolved_ = 0;  // every outcome up to this one is recorded or given up
  bool recording_ = false;
  // Sequence ranges [first, last] of the groups given up.
  std::vector<std::pair<uint64_t, uint64_t>> failed_;
  int64_t given_up_ = 0;
  std::atomic<bool> patience_spent_{false};
};

}  // namespace herald::dispatch
