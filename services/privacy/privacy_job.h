#pragma once

#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/db/pool.h"
#include "services/privacy/request_intake.h"
#include "services/privacy/retention_sweep.h"
#include "services/privacy/subject_destroyer.h"

namespace herald::privacy {

// The worker role's privacy job. Every interval: intake of inbound-mail requests, the
// overdue report (gauge herald_privacy_requests_overdue{kind} and one warning line per
// overdue request, ids only), and the destructions revocations scheduled once the clock
// has passed their due time (152-FZ art. 21 p. 5; STANDARDS L1).
class PrivacyJob {
 public:
  // destroyer may be null: due destructions then wait (and show as overdue).
  PrivacyJob(db::Pool& pool, const Clock& clock, RequestIntake& intake, SubjectDestroyer* destroyer,
             prometheus::Registry& metrics, std::chrono::milliseconds interval);
  ~PrivacyJob();

  // Also runs the retention sweep, at most once per `every`. Before Start().
  void SetRetentionSweep(RetentionSweep* sweep, std::chrono::seconds every) {
    retention_ = sweep;
    retention_every_ = every;
  }

  void Start();
  void Stop();

  struct Result {
    int opened = 0;                // requests taken in
    int overdue = 0;               // open requests past their due time
    int destroyed = 0;             // scheduled destructions carried out
    int closed = 0;                // revocations closed without destruction (consent given again)
    int failed = 0;                // destructions that failed (retried next run)
    int skipped = 0;               // due revocations another worker or an operator answered
                                   // while this one waited for the subject
    bool retention_swept = false;  // the retention sweep ran this round
  };
  // One round on the calling thread.
  Result RunOnce();

  static constexpr char kPerformedBy[] = "herald privacy job";

 private:
  void Loop();
  int ReportOverdue(Timestamp now);
  void RunDueDestructions(Timestamp now, Result& result);
  enum class Recheck { kAnswered, kNoLongerDue, kStillDue };
  Recheck RecheckRevocation(const std::string& request_id);

  db::Pool& pool_;
  const Clock& clock_;
  RequestIntake& intake_;
  SubjectDestroyer* destroyer_;
  prometheus::Family<prometheus::Gauge>& overdue_gauge_;
  std::chrono::milliseconds interval_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
  // Overdue requests already reported by this process: one warning per request.
  std::set<std::string> warned_;
  RetentionSweep* retention_ = nullptr;
  std::chrono::seconds retention_every_{3600};
  std::optional<Timestamp> last_retention_;
};

}  // namespace herald::privacy
