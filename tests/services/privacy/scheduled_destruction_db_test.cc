// L1 end to end: a revocation schedules destruction; the privacy job, driven by a manual
// clock, hands it to the real SubjectErasure when the due time has passed, not before; the
// same job runs the retention sweep.
#include <prometheus/registry.h>

#include "services/privacy/deadlines.h"
#include "services/privacy/privacy_job.h"
#include "services/privacy/privacy_operations.h"
#include "services/privacy/request_intake.h"
#include "tests/services/privacy/erasure_fixture.h"

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

}  // namespace
}  // namespace herald::privacy
