// PrivacyService end to end: a real heraldd over gRPC, real PostgreSQL, real SMTP to a
// capturing server. Blocked (L2) and revoked (L1) subjects are refused by Send, by a campaign
// already running and by CheckEligibility with their reason codes; bad input and the wrong
// scope get precise statuses and change nothing; `heraldctl privacy due` marks overdue ones.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <set>

#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/consented_subject.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using testing::Eventually;
using ::testing::HasSubstr;
using testing::HeralddProcess;
using testing::Number;

class PrivacyIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    sink_ = std::make_unique<testing::SmtpCapture>(std::vector<std::string>{"--delay-ms", "10"});
    std::string providers =
        "email:\n  from_address: news@herald.test\n"
        "dispatch:\n  workers: 2\n  batch_size: 20\n  lease_s: 30\n"
        "providers:\n  - name: sink\n    kind: smtp\n    country: RU\n"
        "    settings:\n      url: smtp://127.0.0.1:" +
        std::to_string(sink_->port()) + "\n      starttls: none\n      max_connections: 2\n";
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), providers);
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
    dispatch_ = v1::DispatchService::NewStub(server_->Channel());
    privacy_ = v1::PrivacyService::NewStub(server_->Channel());
  }

  template <typename Fn>
  grpc::Status As(const char* key, Fn fn) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, key);
    return fn(&ctx);
  }

  std::string Subject(const std::string& email) {
    v1::UpsertSubjectRequest r;
    r.set_surname("Sokolova");
    r.add_emails(email);
    return testing::ConsentedSubject(*subs_, r);
  }

  grpc::Status Block(const std::string& id, const char* key = HeralddProcess::kPrivacyKey) {
    v1::BlockSubjectRequest r;
    r.set_subject_id(id);
    r.set_reason("data reported inaccurate");
    v1::BlockSubjectResponse resp;
    return As(key, [&](auto* c) { return privacy_->BlockSubject(c, r, &resp); });
  }
  grpc::Status Unblock(const std::string& id) {
    v1::UnblockSubjectRequest r;
    r.set_subject_id(id);
    v1::UnblockSubjectResponse resp;
    return As(HeralddProcess::kPrivacyKey,
              [&](auto* c) { return privacy_->UnblockSubject(c, r, &resp); });
  }
  grpc::Status Revoke(const std::string& id, v1::RevokeConsentResponse* resp = nullptr) {
    v1::RevokeConsentRequest r;
    r.set_subject_id(id);
    v1::RevokeConsentResponse ignored;
    return As(HeralddProcess::kPrivacyKey,
              [&](auto* c) { return privacy_->RevokeConsent(c, r, resp ? resp : &ignored); });
  }

  v1::SendResponse Send(const std::string& id, const std::string& key) {
    v1::SendRequest r;
    r.set_idempotency_key(key);
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(v1::EMAIL);
    r.set_topic("events");
    r.mutable_content()->set_subject("Invitation");
    r.mutable_content()->set_text("Hello");
    v1::SendResponse resp;
    auto status =
        As(HeralddProcess::kSchedulerKey, [&](auto* c) { return dispatch_->Send(c, r, &resp); });
    EXPECT_TRUE(status.ok()) << status.error_message();
    return resp;
  }

  v1::Decision Check(const std::string& id) {
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(v1::EMAIL);
    r.set_topic("special_offers");
    v1::CheckEligibilityResponse resp;
    EXPECT_TRUE(As(HeralddProcess::kSchedulerKey, [&](auto* c) {
                  return subs_->CheckEligibility(c, r, &resp);
                }).ok());
    return resp.decision();
  }

  // Everything a refused call must leave as it was.
  std::string Snapshot() {
    return db_->Scalar(
        "SELECT (SELECT count(*) FROM events) || '/' || (SELECT count(*) FROM privacy_requests)"
        " || '/' || (SELECT string_agg(surname || blocked || revoked || state, ',' ORDER BY id)"
        " FROM subjects)");
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<testing::SmtpCapture> sink_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::DispatchService::Stub> dispatch_;
  std::unique_ptr<v1::PrivacyService::Stub> privacy_;
};

TEST_F(PrivacyIntegrationTest, SendAndCheckEligibilityRefuseBlockedAndRevokedSubjects) {
  std::string blocked = Subject("blocked@example.com");
  std::string revoked = Subject("revoked@example.com");
  ASSERT_TRUE(Check(blocked).allowed());
  ASSERT_TRUE(Block(blocked).ok());
  v1::RevokeConsentResponse rv;
  ASSERT_TRUE(Revoke(revoked, &rv).ok());
  EXPECT_GT(rv.destruction_due_time().seconds(), 0);

  EXPECT_EQ(Check(blocked).reason(), v1::SUBJECT_BLOCKED);
  EXPECT_EQ(Check(revoked).reason(), v1::CONSENT_REVOKED);
  auto a = Send(blocked, "blocked-1");
  EXPECT_EQ(a.status(), v1::SUPPRESSED);
  EXPECT_EQ(a.deny_reason(), v1::SUBJECT_BLOCKED);
  auto b = Send(revoked, "revoked-1");
  EXPECT_EQ(b.status(), v1::SUPPRESSED);
  EXPECT_EQ(b.deny_reason(), v1::CONSENT_REVOKED);

  // L2: CRM-facing reads of the blocked subject are refused; the privacy scope reads.
  v1::GetSubjectRequest get;
  get.set_subject_id(blocked);
  v1::GetSubjectResponse got;
  auto crm = As(HeralddProcess::kCrmKey, [&](auto* c) { return subs_->GetSubject(c, get, &got); });
  EXPECT_EQ(crm.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(crm.error_message(), "subject is blocked");
  auto own =
      As(HeralddProcess::kPrivacyKey, [&](auto* c) { return subs_->GetSubject(c, get, &got); });
  EXPECT_TRUE(own.ok()) << own.error_message();
  EXPECT_TRUE(got.subject().blocked());

  // Unblocked, the same send goes out.
  ASSERT_TRUE(Unblock(blocked).ok());
  auto again = Send(blocked, "blocked-2");
  EXPECT_EQ(again.status(), v1::QUEUED);
  EXPECT_TRUE(Eventually([&] { return sink_->Messages().size() == 1; }, std::chrono::seconds(20)))
      << server_->Log();
}

TEST_F(PrivacyIntegrationTest, ARunningCampaignRefusesSubjectsBlockedOrRevokedMidway) {
  auto subjects = testing::MakeSubjects(*db_, 600, "camp");
  v1::Content content;
  content.set_subject("Offer");
  content.set_text("Hello");
  std::string campaign = testing::StartCampaign(*server_, subjects, content, "privacy-run");
  ASSERT_TRUE(Eventually(
      [&] { return Number(*db_, "SELECT count(*) FROM messages WHERE status = 'sent'") >= 20; },
      std::chrono::seconds(60)))
      << server_->Log();

  // Victims among the recipients not yet claimed: half blocked, half revoked.
  std::vector<std::string> queued;
  {
    std::string list = db_->Scalar(
        "SELECT string_agg(subject_id::text, ',') FROM (SELECT subject_id FROM messages"
        " WHERE status = 'queued' ORDER BY random() LIMIT 40) q");
    for (size_t p = 0; !list.empty() && p != std::string::npos;) {
      size_t comma = list.find(',', p);
      queued.push_back(list.substr(p, comma == std::string::npos ? comma : comma - p));
      p = comma == std::string::npos ? comma : comma + 1;
    }
  }
  ASSERT_EQ(queued.size(), 40u) << "the campaign finished too fast to test";
  std::vector<std::string> to_block(queued.begin(), queued.begin() + 20);
  std::vector<std::string> to_revoke(queued.begin() + 20, queued.end());
  for (const auto& id : to_block) ASSERT_TRUE(Block(id).ok());
  for (const auto& id : to_revoke) ASSERT_TRUE(Revoke(id).ok());
  // Messages still queued now are decided after the change committed: they must be refused.
  auto still_queued = [&](const std::vector<std::string>& ids) {
    std::string in;
    for (const auto& id : ids) in += (in.empty() ? "'" : ",'") + id + "'";
    return db_->Scalar(
        "SELECT string_agg(id::text, ',') FROM messages WHERE status = 'queued'"
        " AND subject_id IN (" +
        in + ")");
  };
  std::string blocked_msgs = still_queued(to_block);
  std::string revoked_msgs = still_queued(to_revoke);
  ASSERT_FALSE(blocked_msgs.empty());
  ASSERT_FALSE(revoked_msgs.empty());

  ASSERT_TRUE(Eventually(
      [&] {
        return Number(*db_,
                      "SELECT count(*) FROM messages WHERE status IN"
                      " ('queued', 'retrying', 'sending')") == 0;
      },
      std::chrono::seconds(120)))
      << server_->Log();
  auto quoted = [](const std::string& csv) {
    std::string out = "'";
    for (char c : csv) out += c == ',' ? std::string("','") : std::string(1, c);
    return out + "'";
  };
  EXPECT_EQ(db_->Scalar("SELECT string_agg(DISTINCT status || ':' || coalesce(deny_reason, 0), ',')"
                        " FROM messages WHERE id::text IN (" +
                        quoted(blocked_msgs) + ")"),
            "suppressed:3");  // SUBJECT_BLOCKED
  EXPECT_EQ(db_->Scalar("SELECT string_agg(DISTINCT status || ':' || coalesce(deny_reason, 0), ',')"
                        " FROM messages WHERE id::text IN (" +
                        quoted(revoked_msgs) + ")"),
            "suppressed:4");  // CONSENT_REVOKED
  // And the sink never saw them.
  auto captured = testing::CapturedMessageIds(*sink_);
  for (const std::string& csv : {blocked_msgs, revoked_msgs}) {
    for (size_t p = 0; p != std::string::npos;) {
      size_t comma = csv.find(',', p);
      std::string id = csv.substr(p, comma == std::string::npos ? comma : comma - p);
      EXPECT_EQ(captured.count(id), 0u) << id;
      p = comma == std::string::npos ? comma : comma + 1;
    }
  }
  (void)campaign;
}

TEST_F(PrivacyIntegrationTest, BadInputAndTheWrongScopeGetPreciseStatusesAndChangeNothing) {
  std::string id = Subject("careful@example.com");
  std::string before = Snapshot();
  // crm and scheduler hold no privacy scope.
  auto crm = Block(id, HeralddProcess::kCrmKey);
  EXPECT_EQ(crm.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_THAT(crm.error_message(), HasSubstr("privacy"));
  EXPECT_EQ(Block(id, HeralddProcess::kSchedulerKey).error_code(), grpc::PERMISSION_DENIED);
  {
    v1::DestroySubjectRequest r;
    r.set_subject_id(id);
    v1::DestroySubjectResponse resp;
    EXPECT_EQ(
        As(HeralddProcess::kCrmKey, [&](auto* c) { return privacy_->DestroySubject(c, r, &resp); })
            .error_code(),
        grpc::PERMISSION_DENIED);  // the CRM scope cannot destroy
  }
  // Unknown subject.
  auto unknown = Block("0b6f0c44-0000-4000-8000-00000000abcd");
  EXPECT_EQ(unknown.error_code(), grpc::NOT_FOUND);
  EXPECT_EQ(unknown.error_message(), "subject_id: subject not found");
  // Malformed id: named, not echoed.
  auto bad = Block("robert'); DROP TABLE subjects;--");
  EXPECT_EQ(bad.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(bad.error_message(), HasSubstr("subject_id"));
  EXPECT_THAT(bad.error_message(), ::testing::Not(HasSubstr("DROP")));
  // Unblocking a subject that is not blocked.
  auto unblock = Unblock(id);
  EXPECT_EQ(unblock.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_EQ(unblock.error_message(), "subject_id: the subject is not blocked");
  EXPECT_EQ(Snapshot(), before);

  // Rectifying a destroyed subject.
  db_->Exec("UPDATE subjects SET state = 'destroyed'");
  before = Snapshot();
  v1::RectifySubjectRequest r;
  r.set_subject_id(id);
  r.add_update_fields("surname");
  r.set_surname("Other");
  v1::RectifySubjectResponse resp;
  auto rect = As(HeralddProcess::kPrivacyKey,
                 [&](auto* c) { return privacy_->RectifySubject(c, r, &resp); });
  EXPECT_EQ(rect.error_code(), grpc::FAILED_PRECONDITION);
  EXPECT_THAT(rect.error_message(), HasSubstr("destroyed"));
  EXPECT_EQ(Snapshot(), before);
}

// Runs heraldctl with the privacy key; returns its exit status and output.
int RunHeraldctl(const HeralddProcess& server, const std::string& args, std::string* out) {
  return server.Heraldctl(HeralddProcess::kPrivacyKey, args, out);
}

// L9 for the CSV register and the legal basis column.
TEST_F(PrivacyIntegrationTest, HeraldctlPrivacyDueListsOpenRequestsAndMarksOverdueOnes) {
  std::string late = Subject("late@example.com");
  std::string fresh = Subject("fresh@example.com");
  std::string out;
  // A letter received 40 days ago: its 10 working days are long past.
  auto ago = std::chrono::system_clock::now() - std::chrono::hours(24 * 40);
  auto secs = std::chrono::duration_cast<std::chrono::seconds>(ago.time_since_epoch()).count();
  char when[32];
  std::time_t t = secs;
  std::strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  ASSERT_EQ(RunHeraldctl(
                *server_,
                "privacy open --subject-id " + late + " --kind access --received-at " + when, &out),
            0)
      << out;
  ASSERT_EQ(RunHeraldctl(*server_, "privacy revoke --subject-id " + fresh, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("REVOKED destruction due "));
  ASSERT_EQ(RunHeraldctl(*server_, "privacy due", &out), 0) << out;
  // Earliest due first: the overdue access request, then the revocation.
  auto access = out.find("ACCESS"), revoke = out.find("REVOKE");
  ASSERT_NE(access, std::string::npos) << out;
  ASSERT_NE(revoke, std::string::npos) << out;
  EXPECT_LT(access, revoke);
  EXPECT_THAT(out, HasSubstr("OVERDUE"));
  EXPECT_THAT(out, HasSubstr("2 open, 1 overdue"));
  // Each row names its legal basis (L9).
  EXPECT_THAT(out, HasSubstr("152-FZ art. 14, art. 20 (the subject's right of access)"));
  // L9: the officer's register as CSV: a header row, then the same rows, quoted per RFC 4180.
  ASSERT_EQ(RunHeraldctl(*server_, "privacy due --csv", &out), 0) << out;
  EXPECT_EQ(out.rfind("id,kind,subject_id,source,received,due,status,overdue,confirmation,"
                      "legal_basis\r\n",
                      0),
            0u)
      << out;
  EXPECT_THAT(out, HasSubstr(",ACCESS," + late + ",OPERATOR," + std::string(when)));
  EXPECT_THAT(out, HasSubstr(",OPEN,yes,-,\"152-FZ art. 14, art. 20 (the subject's right of "
                             "access)\"\r\n"));
  EXPECT_THAT(out, HasSubstr(",REVOKE," + fresh + ",OPERATOR,"));
  EXPECT_THAT(out, ::testing::Not(HasSubstr("open, ")));
  ASSERT_EQ(RunHeraldctl(*server_, "privacy block --subject-id " + late, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("BLOCKED"));
  EXPECT_EQ(RunHeraldctl(*server_, "privacy unblock --subject-id " + fresh, &out), 1);
  EXPECT_THAT(out, HasSubstr("FAILED_PRECONDITION: subject_id: the subject is not blocked"));
  EXPECT_EQ(RunHeraldctl(*server_, "privacy frobnicate", &out), 2);
}

}  // namespace
}  // namespace herald
