// L1 end to end: a revocation schedules destruction; the privacy job, driven by a manual
// clock, hands it to the real SubjectErasure when the due time has passed, not before; the
// same job runs the retention sweep. The job's erasure takes the subject's gate row before
// the revocation, as an operator's erasure does, so the two never deadlock.
#include <prometheus/registry.h>

#include <future>
#include <pqxx/pqxx>

#include "common/error.h"
#include "services/privacy/deadlines.h"
#include "services/privacy/privacy_job.h"
#include "services/privacy/privacy_operations.h"
#include "services/privacy/privacy_service.h"
#include "services/privacy/request_intake.h"
#include "tests/services/privacy/erasure_fixture.h"
#include "tests/support/eventually.h"

namespace herald::privacy {
namespace {

using ::testing::HasSubstr;

TEST_F(ErasureTest, L1_RevocationsScheduledDestructionRunsAfterTheDueTimeNotBefore) {
  PrivacyConfig config;
  DeadlinePolicy policy(config);
  PrivacyOperations ops(*pool_, clock_, policy);
  RequestIntake intake(*pool_, clock_, ops);
  prometheus::Registry metrics;
  RetentionSweep sweep(*pool_, clock_, settings_);
  PrivacyJob job(*pool_, clock_, intake, erasure_.get(), metrics, std::chrono::seconds(60));
  job.SetRetentionSweep(&sweep, std::chrono::hours(1));

  std::string id = NewSubject("revoker@example.com", "+994503334455");
  ConsentAll(id);
  SendAndSettle(id, v1::EMAIL, "r1", "250 ok revoker@example.com");
  v1::RevokeConsentRequest revoke;
  revoke.set_subject_id(id);
  Caller officer{"privacy-officer", "req-p", true};
  auto revoked = ops.RevokeConsent(officer, revoke);
  Timestamp due = FromUnixMicros(revoked.destruction_due_time().seconds() * 1000000 +
                                 revoked.destruction_due_time().nanos() / 1000);
  EXPECT_GT(due, clock_.Now() + std::chrono::hours(24 * 29));

  clock_.Set(due - std::chrono::seconds(1));
  auto before = job.RunOnce();
  EXPECT_EQ(before.destroyed, 0);
  EXPECT_TRUE(before.retention_swept);
  EXPECT_EQ(db_->Scalar("SELECT state FROM subjects WHERE id = '" + id + "'"), "active");
  EXPECT_EQ(Int("SELECT count(*) FROM addresses WHERE subject_id = '" + id + "'"), 2);
  EXPECT_EQ(Count("destruction_records"), 0);

  clock_.Set(due + std::chrono::seconds(1));
  auto after = job.RunOnce();
  EXPECT_EQ(after.destroyed, 1);
  EXPECT_FALSE(after.retention_swept);  // at most hourly
  EXPECT_EQ(db_->Scalar("SELECT state FROM subjects WHERE id = '" + id + "'"), "destroyed");
  EXPECT_EQ(Int("SELECT count(*) FROM addresses"), 0);
  EXPECT_EQ(Int("SELECT count(*) FROM event_personal WHERE subject_id = '" + id + "'"), 0);
  EXPECT_EQ(Int("SELECT count(*) FROM messages WHERE address IS NOT NULL"), 0);
  auto page = records_->List(0, "", std::nullopt, std::nullopt);
  ASSERT_EQ(page.records.size(), 1u);
  EXPECT_EQ(page.records[0].subject_id, id);
  EXPECT_EQ(page.records[0].performed_by, PrivacyJob::kPerformedBy);
  EXPECT_THAT(page.records[0].reason, HasSubstr("revoked"));
  v1::GetPrivacyRequestRequest g;
  g.set_request_id(revoked.request().id());
  auto closed = ops.GetRequest(officer, g).request();
  EXPECT_EQ(closed.status(), v1::DONE);
  EXPECT_THAT(closed.details_json(), HasSubstr(page.records[0].id));

  EXPECT_EQ(job.RunOnce().destroyed, 0);  // never twice
  EXPECT_EQ(Count("destruction_records"), 1);
}

// A revoked subject whose destruction is due, a job to carry it out and an operator's
// PrivacyService, with a third connection that holds the subject's gate row so the test can
// see who waits for whom.
class DueDestructionLockTest : public ErasureTest {
 protected:
  void SetUp() override {
    ErasureTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    policy_ = std::make_unique<DeadlinePolicy>(PrivacyConfig{});
    ops_ = std::make_unique<PrivacyOperations>(*pool_, clock_, *policy_);
    intake_ = std::make_unique<RequestIntake>(*pool_, clock_, *ops_);
    service_ = std::make_unique<PrivacyService>(*pool_, clock_, *hasher_, *policy_, settings_);
    subject_ = NewSubject("due@example.com", "+994503334466");
    ConsentAll(subject_);
    v1::RevokeConsentRequest revoke;
    revoke.set_subject_id(subject_);
    auto revoked = ops_->RevokeConsent(officer_, revoke);
    request_ = revoked.request().id();
    clock_.Set(FromUnixMicros(revoked.destruction_due_time().seconds() * 1000000) +
               std::chrono::seconds(1));
  }

  std::unique_ptr<PrivacyJob> NewJob() {
    return std::make_unique<PrivacyJob>(*pool_, clock_, *intake_, &service_->destroyer(), metrics_,
                                        std::chrono::seconds(60));
  }

  // Backends of this database waiting for a lock. (A second waiter for a row waits behind
  // the first one, not directly on the holder.)
  int WaitingForLocks() {
    return static_cast<int>(
        Int("SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"));
  }

  // Whether someone holds the revocation's row lock: tried with NOWAIT, so it never waits.
  bool RequestLockedElsewhere() {
    pqxx::connection probe(db_->dsn());
    pqxx::work txn(probe);
    try {
      txn.exec("SELECT 1 FROM privacy_requests WHERE id = " + txn.quote(request_) +
               " FOR UPDATE NOWAIT");
      return false;
    } catch (const pqxx::sql_error&) {
      return true;
    }
  }

  // When a run does not finish in time (the deadlock this suite guards against), cancels every
  // statement waiting for a lock in this database so the test can end, and says so.
  template <typename T>
  ::testing::AssertionResult Finishes(std::future<T>& run) {
    if (run.wait_for(std::chrono::seconds(30)) == std::future_status::ready) {
      return ::testing::AssertionSuccess();
    }
    db_->Scalar(
        "SELECT count(pg_cancel_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'");
    return ::testing::AssertionFailure() << "still waiting after 30 s: a lock cycle";
  }

  Caller officer_{"privacy-officer", "req-p", true};
  prometheus::Registry metrics_;
  std::unique_ptr<DeadlinePolicy> policy_;
  std::unique_ptr<PrivacyOperations> ops_;
  std::unique_ptr<RequestIntake> intake_;
  std::unique_ptr<PrivacyService> service_;
  std::string subject_, request_;
};

// The job must not hold the revocation while its erasure waits for the subject's gate row: an
// operator's erasure answering the same request holds the gate row and then waits for the
// request, and the cycle spans the job's two connections, so PostgreSQL would never break it.
TEST_F(DueDestructionLockTest, TheJobHoldsNoRevocationWhileItWaitsForTheGateRow) {
  auto job = NewJob();
  std::future<PrivacyJob::Result> run;  // declared first: joined after the gate row is let go
  pqxx::connection holder(db_->dsn());
  pqxx::work held(holder);
  held.exec("SELECT 1 FROM subjects WHERE id = " + held.quote(subject_) + " FOR UPDATE");
  run = std::async(std::launch::async, [&] { return job->RunOnce(); });
  ASSERT_EVENTUALLY(WaitingForLocks() == 1, 10000);

  EXPECT_FALSE(RequestLockedElsewhere())
      << "the job holds the revocation while it waits for the subject's gate row";

  held.abort();
  ASSERT_TRUE(Finishes(run));
  auto result = run.get();
  EXPECT_EQ(result.destroyed, 1);
  EXPECT_EQ(result.failed, 0);
  EXPECT_EQ(db_->Scalar("SELECT state FROM subjects WHERE id = '" + subject_ + "'"), "destroyed");
  EXPECT_EQ(db_->Scalar("SELECT status FROM privacy_requests WHERE id = '" + request_ + "'"),
            "done");
}

// An operator's DestroySubject answering the revocation and the job's scheduled destruction of
// it, both waiting for the subject's gate row: both finish, the subject is destroyed once, and
// the job, which finds the request answered, counts it as skipped, not failed.
TEST_F(DueDestructionLockTest, AnOperatorsErasureAndTheJobOnTheSameRevocationBothFinish) {
  auto job = NewJob();
  std::future<void> operator_run;
  std::future<PrivacyJob::Result> job_run;
  pqxx::connection holder(db_->dsn());
  pqxx::work held(holder);
  held.exec("SELECT 1 FROM subjects WHERE id = " + held.quote(subject_) + " FOR UPDATE");
  operator_run = std::async(std::launch::async, [&] {
    v1::DestroySubjectRequest r;
    r.set_subject_id(subject_);
    r.set_reason("consent revoked");
    r.set_request_id(request_);
    service_->DestroySubject(officer_, r);
  });
  ASSERT_EVENTUALLY(WaitingForLocks() == 1, 10000);
  job_run = std::async(std::launch::async, [&] { return job->RunOnce(); });
  ASSERT_EVENTUALLY(WaitingForLocks() == 2, 10000);

  held.abort();
  ASSERT_TRUE(Finishes(operator_run));
  ASSERT_TRUE(Finishes(job_run));
  EXPECT_NO_THROW(operator_run.get());
  auto result = job_run.get();
  EXPECT_EQ(result.destroyed, 0);
  EXPECT_EQ(result.skipped, 1);
  EXPECT_EQ(result.failed, 0);
  EXPECT_EQ(Count("destruction_records"), 1);
  EXPECT_EQ(db_->Scalar("SELECT status || ' ' || handled_by FROM privacy_requests WHERE id = '" +
                        request_ + "'"),
            "done privacy-officer");
}

// Two workers on the same due revocation: the first destroys and closes it, the second finds
// it answered; nothing is done twice and neither counts a failure.
TEST_F(DueDestructionLockTest, TwoWorkersOnTheSameRevocationDestroyOnce) {
  auto first = NewJob();
  auto second = NewJob();
  std::future<PrivacyJob::Result> first_run, second_run;
  pqxx::connection holder(db_->dsn());
  pqxx::work held(holder);
  held.exec("SELECT 1 FROM subjects WHERE id = " + held.quote(subject_) + " FOR UPDATE");
  first_run = std::async(std::launch::async, [&] { return first->RunOnce(); });
  ASSERT_EVENTUALLY(WaitingForLocks() == 1, 10000);
  second_run = std::async(std::launch::async, [&] { return second->RunOnce(); });
  ASSERT_EVENTUALLY(WaitingForLocks() == 2, 10000);

  held.abort();
  ASSERT_TRUE(Finishes(first_run));
  ASSERT_TRUE(Finishes(second_run));
  auto a = first_run.get(), b = second_run.get();
  EXPECT_EQ(a.destroyed + b.destroyed, 1);
  EXPECT_EQ(a.skipped + b.skipped, 1);
  EXPECT_EQ(a.failed + b.failed, 0);
  EXPECT_EQ(Count("destruction_records"), 1);
  EXPECT_EQ(db_->Scalar("SELECT status FROM privacy_requests WHERE id = '" + request_ + "'"),
            "done");
}

}  // namespace
}  // namespace herald::privacy
