// PrivacyService's domain on a real PostgreSQL with a manual clock: block/unblock (L2),
// rectify, revoke and its scheduled destruction (L1, §3 deadlines), intake of inbound-mail
// requests, the overdue report. Bad input gets a precise error and changes nothing.
#include <gmock/gmock.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "services/privacy/deadlines.h"
#include "services/privacy/privacy_job.h"
#include "services/privacy/privacy_operations.h"
#include "services/privacy/request_intake.h"
#include "services/subscriptions/event_log.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::privacy {
namespace {

using subscriptions::RegistryTest;
using ::testing::HasSubstr;

// Records every call; answers a record id, or throws when told to.
class RecordingDestroyer : public SubjectDestroyer {
 public:
  std::string Destroy(const std::string& subject_id, const std::string& reason,
                      const std::string& performed_by) override {
    calls.push_back({subject_id, reason, performed_by});
    if (fail) throw FailedPrecondition("subject_id: cannot destroy now");
    return "rec-" + std::to_string(calls.size());
  }
  struct Call {
    std::string subject_id, reason, performed_by;
  };
  std::vector<Call> calls;
  bool fail = false;
};

class PrivacyTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (!db_) return;
    PrivacyConfig config;
    config.holidays = {"2026-12-08"};
    policy_ = std::make_unique<DeadlinePolicy>(config);
    ops_ = std::make_unique<PrivacyOperations>(*pool_, clock_, *policy_);
    intake_ = std::make_unique<RequestIntake>(*pool_, clock_, *ops_);
    job_ = std::make_unique<PrivacyJob>(*pool_, clock_, *intake_, &destroyer_, metrics_,
                                        std::chrono::seconds(60));
  }

  std::string LiveSubject(const std::string& email) {
    std::string id = NewSubject(email);
    ConsentAll(id);
    return id;
  }

  v1::BlockSubjectResponse Block(const std::string& id) {
    v1::BlockSubjectRequest r;
    r.set_subject_id(id);
    r.set_reason("data reported inaccurate");
    return ops_->BlockSubject(privacy_, r);
  }
  void Unblock(const std::string& id) {
    v1::UnblockSubjectRequest r;
    r.set_subject_id(id);
    ops_->UnblockSubject(privacy_, r);
  }
  v1::RevokeConsentResponse Revoke(const std::string& id) {
    v1::RevokeConsentRequest r;
    r.set_subject_id(id);
    return ops_->RevokeConsent(privacy_, r);
  }
  v1::PrivacyRequest Open(const std::string& id, v1::PrivacyRequestKind kind) {
    v1::OpenPrivacyRequestRequest r;
    r.set_subject_id(id);
    r.set_kind(kind);
    return ops_->OpenRequest(privacy_, r).request();
  }
  v1::PrivacyRequest Get(const std::string& request_id) {
    v1::GetPrivacyRequestRequest r;
    r.set_request_id(request_id);
    return ops_->GetRequest(privacy_, r).request();
  }
  // Everything a failed call must leave untouched.
  std::string Snapshot() {
    return db_->Scalar(
        "SELECT (SELECT count(*) FROM events) || '/' || (SELECT count(*) FROM event_personal)"
        " || '/' || (SELECT count(*) FROM privacy_requests) || '/' ||"
        " (SELECT string_agg(surname || given_name || blocked || revoked || state, ',' ORDER BY id)"
        "  FROM subjects) || '/' || (SELECT count(*) FROM consents)");
  }
  void AppendMarker(const std::optional<std::string>& subject_id, const std::string& request,
                    int64_t mail_id) {
    auto conn = pool_->Acquire();
    pqxx::work txn(conn->raw());
    std::optional<std::string> key;
    if (!subject_id) key = std::string("\x01\x02\x03", 3);
    subscriptions::AppendEvent(
        *conn, txn,
        {subject_id,
         key,
         "privacy_request_received",
         "inbound-mail",
         v1::EMAIL_REPLY,
         clock_.Now(),
         clock_.Now(),
         {{"request", request}, {"source", "email"}, {"inbound_mail_id", mail_id}},
         nlohmann::json::object()});
    txn.commit();
  }
  double OverdueGauge(const std::string& kind) {
    for (const auto& family : metrics_.Collect()) {
      if (family.name != "herald_privacy_requests_overdue") continue;
      for (const auto& m : family.metric) {
        for (const auto& l : m.label) {
          if (l.name == "kind" && l.value == kind) return m.gauge.value;
        }
      }
    }
    return -1;
  }

  std::unique_ptr<DeadlinePolicy> policy_;
  std::unique_ptr<PrivacyOperations> ops_;
  std::unique_ptr<RequestIntake> intake_;
  RecordingDestroyer destroyer_;
  prometheus::Registry metrics_;
  std::unique_ptr<PrivacyJob> job_;
  Caller privacy_{"privacy-officer", "req-p", /*privacy_scope=*/true};
};

// L2: while blocked, every dispatch is denied SUBJECT_BLOCKED and every CRM-facing read is
// refused; the privacy scope still reads; both changes are events.
TEST_F(PrivacyTest, BlockDeniesDispatchAndCrmReadsUntilUnblocked_L2) {
  std::string id = LiveSubject("blocked@example.com");
  ASSERT_TRUE(Check(id, "", v1::EMAIL).allowed());
  EXPECT_TRUE(Block(id).changed());
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::SUBJECT_BLOCKED);
  EXPECT_EQ(Check(id, "", v1::EMAIL, "service").reason(), v1::SUBJECT_BLOCKED);

  auto refused = [&](std::function<void()> f) {
    Error e = CatchError(f);
    EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
    EXPECT_STREQ(e.what(), "subject is blocked");
  };
  v1::GetSubjectRequest get;
  get.set_subject_id(id);
  refused([&] { registry_->GetSubject(crm_, get); });
  v1::FindSubjectsRequest find;
  find.set_address("blocked@example.com");
  refused([&] { registry_->FindSubjects(crm_, find); });
  v1::GetPreferencesRequest prefs;
  prefs.set_subject_id(id);
  refused([&] { registry_->GetPreferences(crm_, prefs); });
  v1::ListSubjectEventsRequest events;
  events.set_subject_id(id);
  refused([&] { registry_->ListSubjectEvents(crm_, events); });
  // The subject's own right of access: the privacy scope reads.
  EXPECT_TRUE(registry_->GetSubject(privacy_, get).subject().blocked());
  EXPECT_EQ(registry_->ListSubjectEvents(privacy_, events).events_size() > 0, true);

  EXPECT_FALSE(Block(id).changed());  // already blocked: nothing new recorded
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'subject.blocked'"), "1");
  Unblock(id);
  EXPECT_TRUE(Check(id, "", v1::EMAIL).allowed());
  EXPECT_FALSE(registry_->GetSubject(crm_, get).subject().blocked());
  EXPECT_EQ(db_->Scalar("SELECT actor || ':' || (details->>'reason') FROM events"
                        " WHERE type = 'subject.unblocked'"),
            "privacy-officer:unblocked by operator");
}

TEST_F(PrivacyTest, UnblockingAnUnblockedSubjectIsRefusedAndChangesNothing) {
  std::string id = LiveSubject("free@example.com");
  std::string before = Snapshot();
  Error e = CatchError([&] { Unblock(id); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_STREQ(e.what(), "subject_id: the subject is not blocked");
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(PrivacyTest, UnknownOrMalformedSubjectsArePreciseErrors) {
  LiveSubject("someone@example.com");
  std::string before = Snapshot();
  const std::string unknown = "7d1a54ba-0000-4000-8000-000000000001";
  EXPECT_EQ(CatchError([&] { Block(unknown); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(CatchError([&] { Unblock(unknown); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(CatchError([&] { Revoke(unknown); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(CatchError([&] { Open(unknown, v1::ACCESS); }).code(), ErrorCode::kNotFound);
  Error bad = CatchError([&] { Block("not-a-uuid"); });
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad.what(), HasSubstr("subject_id"));
  EXPECT_THAT(bad.what(), ::testing::Not(HasSubstr("not-a-uuid")));
  EXPECT_EQ(CatchError([&] { Open(unknown, v1::PRIVACY_REQUEST_KIND_UNSPECIFIED); }).code(),
            ErrorCode::kInvalidArgument);
  v1::GetPrivacyRequestRequest g;
  g.set_request_id(unknown);
  EXPECT_EQ(CatchError([&] { ops_->GetRequest(privacy_, g); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(Snapshot(), before);
}

// Art. 21 p. 1-2: a rectification request blocks at once; the correction records old and
// new values in the personal side table only, lifts the block the request set, closes it.
TEST_F(PrivacyTest, RectifyRecordsChangesPrivatelyAndLiftsItsOwnBlock) {
  std::string id = LiveSubject("rectify@example.com");
  v1::PrivacyRequest req = Open(id, v1::RECTIFY);
  EXPECT_TRUE(req.blocked_by_request());
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::SUBJECT_BLOCKED);
  // Received Friday 27 Nov 13:00 MSK: 7 working days, 8 Dec a holiday, end on Wed 9 Dec.
  EXPECT_EQ(req.due_time().seconds(),
            ToUnixMicros(ParseTimestamp("2026-12-09T21:00:00Z")) / 1000000);

  v1::RectifySubjectRequest r;
  r.set_subject_id(id);
  r.set_request_id(req.id());
  r.add_update_fields("surname");
  r.add_update_fields("given_name");
  r.set_surname("Əliyev");
  r.set_given_name("Əli");  // unchanged: not reported
  auto resp = ops_->RectifySubject(privacy_, r);
  EXPECT_THAT(resp.changed_fields(), ::testing::ElementsAre("surname"));
  EXPECT_TRUE(resp.unblocked());
  EXPECT_EQ(resp.request().status(), v1::DONE);
  EXPECT_EQ(resp.request().handled_by(), "privacy-officer");
  EXPECT_TRUE(Check(id, "", v1::EMAIL).allowed());
  EXPECT_EQ(db_->Scalar("SELECT surname FROM subjects"), "Əliyev");
  EXPECT_EQ(db_->Scalar("SELECT p.data::text FROM event_personal p JOIN events e"
                        " ON e.id = p.event_id WHERE e.type = 'subject.rectified'"),
            R"({"new": {"surname": "Əliyev"}, "old": {"surname": "Məmmədov"}})");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE details::text LIKE '%Əliyev%'"
                        " OR details::text LIKE '%Məmmədov%'"),
            "0");
}

TEST_F(PrivacyTest, RectifyKeepsABlockItDidNotSet) {
  std::string id = LiveSubject("keep@example.com");
  Block(id);
  v1::PrivacyRequest req = Open(id, v1::RECTIFY);
  EXPECT_FALSE(req.blocked_by_request());
  v1::RectifySubjectRequest r;
  r.set_subject_id(id);  // no request id: the open rectification is the one answered
  r.add_update_fields("locale");
  r.set_locale("ru");
  auto resp = ops_->RectifySubject(privacy_, r);
  EXPECT_FALSE(resp.unblocked());
  EXPECT_EQ(resp.request().id(), req.id());
  EXPECT_EQ(resp.request().status(), v1::DONE);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::SUBJECT_BLOCKED);
}

TEST_F(PrivacyTest, RectifyingADestroyedSubjectIsRefusedAndChangesNothing) {
  std::string id = LiveSubject("gone@example.com");
  db_->Exec("UPDATE subjects SET state = 'destroyed'");
  std::string before = Snapshot();
  v1::RectifySubjectRequest r;
  r.set_subject_id(id);
  r.add_update_fields("surname");
  r.set_surname("X");
  Error e = CatchError([&] { ops_->RectifySubject(privacy_, r); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("destroyed"));
  EXPECT_EQ(CatchError([&] { Block(id); }).code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(CatchError([&] { Revoke(id); }).code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(CatchError([&] { Open(id, v1::RECTIFY); }).code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(PrivacyTest, RectifyRejectsBadFields) {
  std::string id = LiveSubject("badfields@example.com");
  std::string before = Snapshot();
  auto code = [&](std::function<void(v1::RectifySubjectRequest&)> spoil) {
    v1::RectifySubjectRequest r;
    r.set_subject_id(id);
    r.add_update_fields("surname");
    r.set_surname("Ok");
    spoil(r);
    return CatchError([&] { ops_->RectifySubject(privacy_, r); });
  };
  EXPECT_EQ(code([](auto& r) { r.clear_update_fields(); }).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.add_update_fields("email"); }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.add_update_fields("surname"); }).code(),
            ErrorCode::kInvalidArgument);
  Error ctrl = code([](auto& r) { r.set_surname("A\nB"); });
  EXPECT_EQ(ctrl.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(ctrl.what(), HasSubstr("surname"));
  EXPECT_EQ(code([](auto& r) {
              r.add_update_fields("locale");
              r.set_locale("not a tag");
            }).code(),
            ErrorCode::kInvalidArgument);
  // A request id of another kind is refused.
  v1::PrivacyRequest access = Open(id, v1::ACCESS);
  before = Snapshot();
  EXPECT_EQ(code([&](auto& r) { r.set_request_id(access.id()); }).code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_EQ(Snapshot(), before);
}

// L1: a revocation stops every dispatch at once and schedules destruction 30 days later.
TEST_F(PrivacyTest, RevokeDeniesAtOnceAndGivesTheDestructionDate_L1) {
  std::string id = LiveSubject("revoke@example.com");
  auto resp = Revoke(id);
  EXPECT_TRUE(resp.changed());
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::CONSENT_REVOKED);
  EXPECT_EQ(Check(id, "", v1::EMAIL, "service").reason(), v1::CONSENT_REVOKED);
  // Received Fri 27 Nov 13:00 MSK; 30 calendar days: the end of 27 Dec, Moscow time.
  EXPECT_EQ(resp.destruction_due_time().seconds(),
            ToUnixMicros(ParseTimestamp("2026-12-27T21:00:00Z")) / 1000000);
  EXPECT_EQ(resp.request().kind(), v1::REVOKE);
  EXPECT_EQ(resp.request().status(), v1::OPEN);
  EXPECT_EQ(db_->Scalar("SELECT kind || ':' || granted || ':' || actor FROM consents"
                        " ORDER BY id DESC LIMIT 1"),
            "1:false:privacy-officer");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'consent.withdrawn'"), "1");
  // Again: nothing new, the same schedule.
  auto again = Revoke(id);
  EXPECT_FALSE(again.changed());
  EXPECT_EQ(again.request().id(), resp.request().id());
  EXPECT_EQ(Count("privacy_requests"), 1);
}

// §3 deadlines with a controllable clock: the scheduled destruction runs when the clock
// passes the due time, not before, and only once.
TEST_F(PrivacyTest, ScheduledDestructionRunsWhenTheClockPassesTheDueTimeNotBefore) {
  std::string id = LiveSubject("scheduled@example.com");
  auto resp = Revoke(id);
  Timestamp due = FromUnixMicros(resp.destruction_due_time().seconds() * 1000000);
  clock_.Set(due - std::chrono::hours(24 * 29));
  job_->RunOnce();
  clock_.Set(due - std::chrono::seconds(1));
  auto r = job_->RunOnce();
  EXPECT_EQ(r.destroyed, 0);
  EXPECT_TRUE(destroyer_.calls.empty());
  EXPECT_EQ(Get(resp.request().id()).status(), v1::OPEN);

  clock_.Set(due + std::chrono::seconds(1));
  r = job_->RunOnce();
  EXPECT_EQ(r.destroyed, 1);
  ASSERT_EQ(destroyer_.calls.size(), 1u);
  EXPECT_EQ(destroyer_.calls[0].subject_id, id);
  EXPECT_THAT(destroyer_.calls[0].reason, HasSubstr("revoked"));
  EXPECT_EQ(destroyer_.calls[0].performed_by, "herald privacy job");
  auto closed = Get(resp.request().id());
  EXPECT_EQ(closed.status(), v1::DONE);
  EXPECT_THAT(closed.details_json(), HasSubstr("\"destruction_record_id\": \"rec-1\""));
  job_->RunOnce();
  EXPECT_EQ(destroyer_.calls.size(), 1u);  // never twice
}

TEST_F(PrivacyTest, AFailedDestructionStaysOpenAndIsReportedOverdue) {
  std::string id = LiveSubject("stuck@example.com");
  auto resp = Revoke(id);
  destroyer_.fail = true;
  clock_.Set(FromUnixMicros(resp.destruction_due_time().seconds() * 1000000) +
             std::chrono::hours(1));
  auto r = job_->RunOnce();
  EXPECT_EQ(r.failed, 1);
  EXPECT_EQ(r.overdue, 1);
  EXPECT_EQ(OverdueGauge("revoke"), 1);
  EXPECT_EQ(Get(resp.request().id()).status(), v1::OPEN);
  EXPECT_TRUE(Get(resp.request().id()).overdue());
  destroyer_.fail = false;
  r = job_->RunOnce();
  EXPECT_EQ(r.destroyed, 1);
  EXPECT_EQ(OverdueGauge("revoke"), 0);
}

TEST_F(PrivacyTest, ConsentGivenAgainCancelsTheScheduledDestruction) {
  std::string id = LiveSubject("again@example.com");
  auto resp = Revoke(id);
  clock_.Advance(std::chrono::hours(1));
  Consent(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);  // a new legal basis
  clock_.Set(FromUnixMicros(resp.destruction_due_time().seconds() * 1000000) +
             std::chrono::seconds(1));
  auto r = job_->RunOnce();
  EXPECT_EQ(r.closed, 1);
  EXPECT_TRUE(destroyer_.calls.empty());
  EXPECT_EQ(Get(resp.request().id()).status(), v1::REJECTED);
}

// Inbound e-mail markers (recorded by the mail hook as events) become exactly one request
// each: refusal -> stop processing, revocation -> revoke (applied), rectify -> blocked.
TEST_F(PrivacyTest, IntakeTurnsEachMarkerEventIntoExactlyOneRequest) {
  std::string refuser = LiveSubject("refuse@example.com");
  std::string revoker = LiveSubject("revoker@example.com");
  std::string rectifier = LiveSubject("rectifier@example.com");
  std::string gone = LiveSubject("gone2@example.com");
  AppendMarker(refuser, "refuse_marketing", 11);
  AppendMarker(revoker, "revoke_consent", 12);
  AppendMarker(rectifier, "rectify", 13);
  AppendMarker(std::nullopt, "refuse_marketing", 14);  // an address with no known subject
  AppendMarker(refuser, "sing_a_song", 15);
  db_->Exec("UPDATE subjects SET state = 'destroyed' WHERE id = '" + gone + "'");
  AppendMarker(gone, "rectify", 16);

  auto first = intake_->RunOnce();
  EXPECT_EQ(first.opened, 4);
  EXPECT_EQ(first.skipped, 2);
  auto second = intake_->RunOnce();
  EXPECT_EQ(second.opened + second.skipped, 0);
  EXPECT_EQ(Count("privacy_requests"), 6);
  EXPECT_EQ(db_->Scalar("SELECT count(DISTINCT origin_event_id) FROM privacy_requests"), "6");

  auto kind_of = [&](const std::string& subject) {
    return db_->Scalar(
        "SELECT kind || ':' || status || ':' || source FROM privacy_requests"
        " WHERE subject_id = '" +
        subject + "' ORDER BY origin_event_id LIMIT 1");
  };
  EXPECT_EQ(kind_of(refuser), "stop_processing:open:5");
  EXPECT_EQ(kind_of(revoker), "revoke:open:5");
  EXPECT_EQ(kind_of(rectifier), "rectify:open:5");
  EXPECT_EQ(kind_of(gone), "rectify:rejected:5");
  EXPECT_EQ(Check(revoker, "", v1::EMAIL).reason(), v1::CONSENT_REVOKED);
  EXPECT_EQ(Check(rectifier, "", v1::EMAIL).reason(), v1::SUBJECT_BLOCKED);
  EXPECT_TRUE(Check(refuser, "", v1::EMAIL).allowed());  // the mail hook suppresses, not us
  EXPECT_EQ(db_->Scalar("SELECT status FROM privacy_requests WHERE subject_id IS NULL"), "open");
  EXPECT_EQ(db_->Scalar("SELECT details->>'inbound_mail_id' FROM privacy_requests"
                        " WHERE subject_id = '" +
                        revoker + "'"),
            "12");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM privacy_requests WHERE status = 'rejected'"), "2");
}

TEST_F(PrivacyTest, OverdueRequestsAreListedFirstFlaggedAndCounted) {
  std::string a = LiveSubject("a@example.com");
  std::string b = LiveSubject("b@example.com");
  v1::PrivacyRequest access = Open(a, v1::ACCESS);         // 10 working days
  v1::PrivacyRequest stop = Open(b, v1::STOP_PROCESSING);  // 10 working days
  v1::PrivacyRequest revoke = Revoke(b).request();         // 30 days
  clock_.Set(FromUnixMicros(access.due_time().seconds() * 1000000) + std::chrono::minutes(1));
  auto r = job_->RunOnce();
  EXPECT_EQ(r.overdue, 2);
  EXPECT_EQ(OverdueGauge("access"), 1);
  EXPECT_EQ(OverdueGauge("stop_processing"), 1);
  EXPECT_EQ(OverdueGauge("revoke"), 0);

  v1::ListPrivacyRequestsRequest list;
  list.set_page_size(2);
  auto page = ops_->ListRequests(privacy_, list);
  ASSERT_EQ(page.requests_size(), 2);
  EXPECT_TRUE(page.requests(0).overdue());
  EXPECT_TRUE(page.requests(1).overdue());
  ASSERT_FALSE(page.next_page_token().empty());
  list.set_page_token(page.next_page_token());
  auto rest = ops_->ListRequests(privacy_, list);
  ASSERT_EQ(rest.requests_size(), 1);
  EXPECT_EQ(rest.requests(0).id(), revoke.id());
  EXPECT_FALSE(rest.requests(0).overdue());
  EXPECT_TRUE(rest.next_page_token().empty());

  v1::CompletePrivacyRequestRequest done;
  done.set_request_id(access.id());
  done.set_status(v1::DONE);
  done.set_note("answered by letter");
  EXPECT_EQ(ops_->CompleteRequest(privacy_, done).request().status(), v1::DONE);
  EXPECT_EQ(CatchError([&] { ops_->CompleteRequest(privacy_, done); }).code(),
            ErrorCode::kFailedPrecondition);
  job_->RunOnce();
  EXPECT_EQ(OverdueGauge("access"), 0);
  list.clear_page_token();
  list.set_page_token("zz");
  EXPECT_EQ(CatchError([&] { ops_->ListRequests(privacy_, list); }).code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(PrivacyTest, ClosingARectificationRequestLiftsTheBlockItSet) {
  std::string id = LiveSubject("close@example.com");
  v1::PrivacyRequest req = Open(id, v1::RECTIFY);
  v1::CompletePrivacyRequestRequest c;
  c.set_request_id(req.id());
  c.set_status(v1::REJECTED);
  c.set_note("data found accurate");
  ops_->CompleteRequest(privacy_, c);
  EXPECT_TRUE(Check(id, "", v1::EMAIL).allowed());
}

TEST_F(PrivacyTest, OpenRequestIsIdempotentPerKey) {
  std::string id = LiveSubject("idem@example.com");
  v1::OpenPrivacyRequestRequest r;
  r.set_subject_id(id);
  r.set_kind(v1::ACCESS);
  r.set_idempotency_key("access-1");
  auto first = ops_->OpenRequest(privacy_, r).request();
  auto second = ops_->OpenRequest(privacy_, r).request();
  EXPECT_EQ(first.id(), second.id());
  EXPECT_EQ(Count("privacy_requests"), 1);
  r.set_kind(v1::STOP_PROCESSING);
  EXPECT_EQ(CatchError([&] { ops_->OpenRequest(privacy_, r); }).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Count("privacy_requests"), 1);
}

}  // namespace
}  // namespace herald::privacy
