// PrivacyService's domain on a real PostgreSQL with a manual clock: block/unblock (L2),
// rectify, revoke and its scheduled destruction (L1, §3 deadlines), intake of inbound-mail
// requests, the overdue report. Bad input gets a precise error and changes nothing.
#include <gmock/gmock.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "common/proto_time.h"
#include "services/privacy/deadlines.h"
#include "services/privacy/privacy_job.h"
#include "services/privacy/privacy_operations.h"
#include "services/privacy/request_confirmation.h"
#include "services/privacy/request_intake.h"
#include "services/privacy/request_store.h"
#include "services/subscriptions/event_log.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::privacy {
namespace {

using subscriptions::RegistryTest;
using ::testing::HasSubstr;

// Records every call; answers a record id and closes the revocation as the real erasure
// does, or throws when told to.
class RecordingDestroyer : public SubjectDestroyer {
 public:
  std::string DestroyScheduled(const std::string& request_id, const std::string& subject_id,
                               const std::string& reason,
                               const std::string& performed_by) override {
    calls.push_back({subject_id, reason, performed_by, request_id});
    if (fail) throw FailedPrecondition("subject_id: cannot destroy now");
    std::string record_id = "rec-" + std::to_string(calls.size());
    auto conn = pool->Acquire();
    pqxx::work txn(conn->raw());
    CloseAsDestroyed(*conn, txn, request_id, record_id, performed_by, clock->Now());
    txn.commit();
    return record_id;
  }
  struct Call {
    std::string subject_id, reason, performed_by, request_id;
  };
  std::vector<Call> calls;
  bool fail = false;
  db::Pool* pool = nullptr;
  const Clock* clock = nullptr;
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
    ops_->SetRegistry(registry_.get());
    intake_ = std::make_unique<RequestIntake>(*pool_, clock_, *ops_);
    intake_->SetConfirmationMailer(&mailer_);
    confirmation_ = std::make_unique<RequestConfirmation>(*pool_, clock_, tokens_, *ops_,
                                                          std::chrono::hours(24 * 30));
    confirmation_->SetRegistry(registry_.get());
    destroyer_.pool = pool_.get();
    destroyer_.clock = &clock_;
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
  // As the mail hook records a marker: `address` is the From: (personal side table), and
  // `dmarc` says our MTA recorded an aligned DMARC pass for it.
  void AppendMarker(const std::optional<std::string>& subject_id, const std::string& request,
                    int64_t mail_id, const std::string& address = "", bool dmarc = false) {
    auto conn = pool_->Acquire();
    pqxx::work txn(conn->raw());
    std::optional<std::string> key;
    if (!subject_id) key = std::string("\x01\x02\x03", 3);
    nlohmann::json details = {
        {"request", request}, {"source", "email"}, {"inbound_mail_id", mail_id}};
    if (dmarc) details["sender_verified"] = "dmarc";
    subscriptions::AppendEvent(
        *conn, txn,
        {subject_id, key, subscriptions::EventType::kPrivacyRequestReceived, "inbound-mail",
         v1::EMAIL_REPLY, clock_.Now(), clock_.Now(), details,
         address.empty() ? nlohmann::json::object() : nlohmann::json{{"address", address}}});
    txn.commit();
  }
  // The request the intake opened for a subject's marker.
  v1::PrivacyRequest RequestOf(const std::string& subject_id) {
    return Get(db_->Scalar("SELECT id FROM privacy_requests WHERE subject_id = '" + subject_id +
                           "' ORDER BY origin_event_id DESC LIMIT 1"));
  }
  // The token of the link in the confirmation e-mail queued for a request.
  std::string TokenOf(const v1::PrivacyRequest& r) {
    std::string url = db_->Scalar(
        "SELECT m.variables->>'confirm_url' FROM messages m JOIN privacy_requests p"
        " ON p.details->>'confirmation_message_id' = m.id::text WHERE p.id = '" +
        r.id() + "'");
    auto at = url.find("/c/");
    EXPECT_NE(at, std::string::npos) << url;
    return at == std::string::npos ? "" : url.substr(at + 3);
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
  ConfirmationTokens tokens_{crypto::KeyRing::Parse("k1:" + std::string(64, 'a'))};
  ConfirmationMailer mailer_{tokens_, "https://herald.test/"};
  std::unique_ptr<RequestConfirmation> confirmation_;
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

  auto refused = [&](const std::function<void()>& f) {
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

// L7: a subject corrects an e-mail address and a phone number. The registry's address rows
// change; the old addresses' suppressions stay where they are (keyed hashes); the change is on
// the trail with old and new values in the personal side table only.
TEST_F(PrivacyTest, L7_RectifyingAddressesKeepsTheOldSuppressionsAndRecordsTheChange) {
  std::string id = NewSubject("old.box@example.com", "+994501234567");
  ConsentAll(id);
  OptOutAddress("old.box@example.com", v1::ALL_MARKETING);
  v1::PrivacyRequest req = Open(id, v1::RECTIFY);
  int64_t suppressions = Count("suppressions");
  std::string suppressed_keys =
      db_->Scalar("SELECT string_agg(encode(address_key, 'hex'), ',') FROM suppressions");

  v1::RectifySubjectRequest r;
  r.set_subject_id(id);
  r.set_request_id(req.id());
  r.add_update_fields("email");
  r.set_old_email("Old.Box@EXAMPLE.com");  // matched as the registry matches addresses
  r.set_email("New.Box@Пример.рф");
  r.add_update_fields("phone");
  r.set_old_phone("+994 50 123 45 67");
  r.set_phone("+994501234599");
  auto resp = ops_->RectifySubject(privacy_, r);
  EXPECT_THAT(resp.changed_fields(), ::testing::ElementsAre("email", "phone"));
  EXPECT_TRUE(resp.unblocked());
  EXPECT_EQ(resp.request().status(), v1::DONE);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(value, ',' ORDER BY kind) FROM addresses"
                        " WHERE subject_id = '" +
                        id + "'"),
            "New.Box@xn--e1afmkfd.xn--p1ai,+994501234599");
  // The old address's suppression stays in place, untouched; the new one has none.
  EXPECT_EQ(Count("suppressions"), suppressions);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(encode(address_key, 'hex'), ',') FROM suppressions"
                        " WHERE lifted_at IS NULL"),
            suppressed_keys);
  EXPECT_EQ(Check("", "old.box@example.com", v1::EMAIL, "webinars").reason(),
            v1::ADDRESS_SUPPRESSED);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "webinars").allowed());
  EXPECT_EQ(Check(id, "", v1::EMAIL, "webinars").address(), "New.Box@xn--e1afmkfd.xn--p1ai");
  EXPECT_EQ(Check(id, "", v1::SMS, "webinars").address(), "+994501234599");
  // Recorded: which fields in the trail, the values only in the personal side table.
  EXPECT_EQ(db_->Scalar("SELECT details->>'fields' FROM events WHERE type = 'subject.rectified'"),
            R"(["email", "phone"])");
  EXPECT_EQ(db_->Scalar("SELECT p.data::text FROM event_personal p JOIN events e"
                        " ON e.id = p.event_id WHERE e.type = 'subject.rectified'"),
            R"({"new": {"email": "New.Box@xn--e1afmkfd.xn--p1ai", "phone": "+994501234599"},)"
            R"( "old": {"email": "old.box@example.com", "phone": "+994501234567"}})");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE details::text ILIKE '%box%'"
                        " OR details::text LIKE '%1234567%' OR details::text LIKE '%1234599%'"),
            "0");
}

// L7: a bad address correction gets a precise status naming the field (never the value) and
// changes nothing: not an address, no old address, not the subject's, another subject's.
TEST_F(PrivacyTest, L7_BadAddressRectificationIsRefusedAndChangesNothing) {
  std::string id = NewSubject("mine@example.com", "+994501230001");
  NewSubject("theirs@example.com", "+994501230002");
  {
    v1::UpsertSubjectRequest more;  // the subject's second e-mail address
    more.set_external_id("");
    more.add_emails("mine@example.com");
    more.add_emails("mine.too@example.com");
    registry_->UpsertSubject(crm_, more);
  }
  std::string before = Snapshot();
  std::string addresses =
      db_->Scalar("SELECT string_agg(subject_id || ':' || value, ',' ORDER BY id) FROM addresses");
  auto refused = [&](const std::function<void(v1::RectifySubjectRequest&)>& spoil) {
    v1::RectifySubjectRequest r;
    r.set_subject_id(id);
    r.add_update_fields("email");
    r.set_old_email("mine@example.com");
    r.set_email("fixed@example.com");
    spoil(r);
    return CatchError([&] { ops_->RectifySubject(privacy_, r); });
  };
  Error bad = refused([](auto& r) { r.set_email("not-an-address@"); });
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad.what(), HasSubstr("email"));
  EXPECT_THAT(bad.what(), ::testing::Not(HasSubstr("not-an-address")));
  Error bad_phone = refused([](auto& r) {
    r.clear_update_fields();
    r.add_update_fields("phone");
    r.set_old_phone("+994501230001");
    r.set_phone("12");
  });
  EXPECT_EQ(bad_phone.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad_phone.what(), HasSubstr("phone"));
  Error no_old = refused([](auto& r) { r.clear_old_email(); });
  EXPECT_EQ(no_old.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(no_old.what(), HasSubstr("old_email"));
  Error stray_old = refused([](auto& r) {
    r.clear_update_fields();
    r.add_update_fields("locale");
    r.set_locale("ru");
  });
  EXPECT_EQ(stray_old.code(), ErrorCode::kInvalidArgument);
  Error not_mine = refused([](auto& r) { r.set_old_email("theirs@example.com"); });
  EXPECT_EQ(not_mine.code(), ErrorCode::kNotFound);
  EXPECT_THAT(not_mine.what(), HasSubstr("old_email"));
  EXPECT_THAT(not_mine.what(), ::testing::Not(HasSubstr("theirs")));
  Error taken = refused([](auto& r) { r.set_email("Theirs@Example.com"); });
  EXPECT_EQ(taken.code(), ErrorCode::kAlreadyExists);
  EXPECT_THAT(taken.what(), HasSubstr("email: the address belongs to another subject"));
  EXPECT_THAT(taken.what(), ::testing::Not(HasSubstr("theirs")));
  Error taken_phone = refused([](auto& r) {
    r.clear_update_fields();
    r.add_update_fields("phone");
    r.set_old_phone("+994501230001");
    r.set_phone("+994501230002");
  });
  EXPECT_EQ(taken_phone.code(), ErrorCode::kAlreadyExists);
  Error own = refused([](auto& r) { r.set_email("mine.too@example.com"); });
  EXPECT_EQ(own.code(), ErrorCode::kFailedPrecondition);
  // Together with a valid name change: the whole call changes nothing.
  Error mixed = refused([](auto& r) {
    r.add_update_fields("surname");
    r.set_surname("Changed");
    r.set_email("theirs@example.com");
  });
  EXPECT_EQ(mixed.code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(
      db_->Scalar("SELECT string_agg(subject_id || ':' || value, ',' ORDER BY id) FROM addresses"),
      addresses);
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
  auto code = [&](const std::function<void(v1::RectifySubjectRequest&)>& spoil) {
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

// C10: a linked subject's card in Creatio holds the same data: revoking puts "destroy the
// contact in the CRM" on the officer's due list, due with the destruction, naming the
// contact; once, however often the revocation is repeated. An unlinked subject gets none.
TEST_F(PrivacyTest, RevokingALinkedSubjectPutsTheCrmContactOnTheDueList) {
  const std::string contact = "3b0f5a3e-8d1c-4f6a-9b2e-7c4d5e6f7a8b";
  std::string id = NewSubject("linked@example.com", "", contact);
  ConsentAll(id);
  auto resp = Revoke(id);
  Revoke(id);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM privacy_requests WHERE kind = 'crm_destroy'"
                        " AND status = 'open' AND subject_id = '" +
                        id + "'"),
            "1");
  EXPECT_EQ(db_->Scalar("SELECT details->>'crm_contact_id' FROM privacy_requests"
                        " WHERE kind = 'crm_destroy'"),
            contact);
  EXPECT_EQ(db_->Scalar("SELECT due_at = (SELECT due_at FROM privacy_requests WHERE kind ="
                        " 'revoke') FROM privacy_requests WHERE kind = 'crm_destroy'"),
            "t");
  v1::ListPrivacyRequestsRequest list;
  auto open = ops_->ListRequests(privacy_, list);
  bool listed = false;
  for (const auto& r : open.requests()) listed = listed || r.kind() == v1::CRM_DESTROY;
  EXPECT_TRUE(listed);

  std::string unlinked = LiveSubject("unlinked@example.com");
  Revoke(unlinked);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM privacy_requests WHERE kind = 'crm_destroy'"
                        " AND subject_id = '" +
                        unlinked + "'"),
            "0");
  // Nobody may open one by hand: it is Herald's own reminder.
  v1::OpenPrivacyRequestRequest by_hand;
  by_hand.set_kind(v1::CRM_DESTROY);
  by_hand.set_subject_id(unlinked);
  EXPECT_THROW(ops_->OpenRequest(privacy_, by_hand), Error);
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
// each: refusal -> stop processing, revocation -> revoke (applied once confirmed), rectify
// -> blocked once confirmed (SEC-5).
TEST_F(PrivacyTest, IntakeTurnsEachMarkerEventIntoExactlyOneRequest) {
  std::string refuser = LiveSubject("refuse@example.com");
  std::string revoker = LiveSubject("revoker@example.com");
  std::string rectifier = LiveSubject("rectifier@example.com");
  std::string gone = LiveSubject("gone2@example.com");
  AppendMarker(refuser, "refuse_marketing", 11, "refuse@example.com");
  AppendMarker(revoker, "revoke_consent", 12, "revoker@example.com");
  AppendMarker(rectifier, "rectify", 13, "rectifier@example.com");
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
  // SEC-5: neither step before the link in the confirmation e-mail is followed ...
  EXPECT_TRUE(Check(revoker, "", v1::EMAIL, "service").allowed());
  EXPECT_TRUE(Check(rectifier, "", v1::EMAIL, "service").allowed());
  EXPECT_EQ(RequestOf(refuser).confirmation(), v1::CONFIRMATION_NOT_NEEDED);
  confirmation_->Confirm(TokenOf(RequestOf(revoker)));
  confirmation_->Confirm(TokenOf(RequestOf(rectifier)));
  // ... and both once it is.
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

// L8: a STOP_PROCESSING request opened through the API stops all marketing to the subject
// at once, as the e-mail refusal marker does, and is tracked with its legal due date; service
// notices still go. A repeat with the same key does nothing twice.
TEST_F(PrivacyTest, L8_ApiStopProcessingStopsAllMarketingAtOnceWithItsDueDate) {
  std::string id = LiveSubject("stop@example.com");
  std::string other = LiveSubject("other@example.com");
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "webinars").allowed());
  Timestamp received = clock_.Now() - std::chrono::hours(2);
  v1::OpenPrivacyRequestRequest r;
  r.set_subject_id(id);
  r.set_kind(v1::STOP_PROCESSING);
  r.set_source(v1::CRM);  // an API client
  r.set_idempotency_key("stop-1");
  SetTimestamp(r.mutable_received_time(), received);
  v1::PrivacyRequest req = ops_->OpenRequest(privacy_, r).request();
  EXPECT_EQ(req.status(), v1::OPEN);
  EXPECT_EQ(FromProtoTimestamp(req.due_time()),
            policy_->DueAt(RequestKind::kStopProcessing, received));
  EXPECT_EQ(nlohmann::json::parse(req.details_json()).value("marketing_stopped", false), true);
  for (auto channel : {v1::EMAIL, v1::SMS, v1::CALL}) {
    EXPECT_FALSE(Check(id, "", channel, "webinars").allowed()) << channel;
    EXPECT_FALSE(Check(id, "", channel, "product_news").allowed()) << channel;
  }
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "billing").allowed());
  EXPECT_TRUE(Check(other, "", v1::EMAIL, "webinars").allowed());
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'opt_out' AND subject_id = '" +
                        id + "' AND source = " + std::to_string(v1::CRM)),
            "1");
  std::string snapshot = Snapshot();
  EXPECT_EQ(ops_->OpenRequest(privacy_, r).request().id(), req.id());
  EXPECT_EQ(Snapshot(), snapshot);
}

// L8: a bad STOP_PROCESSING request is refused precisely and stops nothing.
TEST_F(PrivacyTest, L8_BadStopProcessingRequestStopsNothing) {
  std::string id = LiveSubject("stop-bad@example.com");
  std::string snapshot = Snapshot();
  v1::OpenPrivacyRequestRequest r;
  r.set_subject_id(id);
  r.set_kind(v1::STOP_PROCESSING);
  SetTimestamp(r.mutable_received_time(), clock_.Now() + std::chrono::hours(1));
  auto future = CatchError([&] { ops_->OpenRequest(privacy_, r); });
  EXPECT_EQ(future.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(future.what(), ::testing::HasSubstr("received_time"));
  r.clear_received_time();
  r.set_subject_id("6f1c2a52-0000-4000-8000-000000000001");
  EXPECT_EQ(CatchError([&] { ops_->OpenRequest(privacy_, r); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(Snapshot(), snapshot);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "webinars").allowed());
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

// SEC-5: a spoofed revocation marker (no DMARC pass from our MTA, link never followed)
// opens the request with its legal due date and mails the link to the address, but revokes
// nothing and destroys nothing, even long past the due date: the request stays open and
// overdue for the privacy officer.
TEST_F(PrivacyTest, SpoofedRevocationMarkerIsNeverDestroyedUnconfirmed_SEC5) {
  std::string victim = LiveSubject("victim@example.com");
  AppendMarker(victim, "revoke_consent", 21, "victim@example.com");
  EXPECT_EQ(intake_->RunOnce().opened, 1);
  v1::PrivacyRequest req = RequestOf(victim);
  EXPECT_EQ(req.kind(), v1::REVOKE);
  EXPECT_EQ(req.status(), v1::OPEN);
  EXPECT_EQ(req.confirmation(), v1::CONFIRMATION_PENDING);
  EXPECT_FALSE(req.has_confirmed_time());
  EXPECT_TRUE(Check(victim, "", v1::EMAIL, "service").allowed());
  EXPECT_EQ(db_->Scalar("SELECT revoked FROM subjects WHERE id = '" + victim + "'"), "f");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM consents WHERE granted = false"), "0");
  // The confirmation goes to the marker's address only, as a service e-mail in the outbox.
  EXPECT_EQ(db_->Scalar("SELECT client_id || ' ' || address || ' ' || topic || ' ' || status ||"
                        " ' ' || channel || ' ' || subject_id FROM messages"),
            "herald:privacy-confirmation victim@example.com service queued 1 " + victim);
  EXPECT_THAT(TokenOf(req), ::testing::Not(::testing::IsEmpty()));

  clock_.Set(FromUnixMicros(req.due_time().seconds() * 1000000) + std::chrono::hours(24 * 60));
  auto r = job_->RunOnce();
  EXPECT_EQ(r.destroyed + r.closed + r.failed, 0);
  EXPECT_TRUE(destroyer_.calls.empty());
  EXPECT_EQ(r.overdue, 1);
  EXPECT_EQ(OverdueGauge("revoke"), 1);
  v1::PrivacyRequest after = Get(req.id());
  EXPECT_EQ(after.status(), v1::OPEN);
  EXPECT_TRUE(after.overdue());
  EXPECT_EQ(after.confirmation(), v1::CONFIRMATION_PENDING);
  EXPECT_TRUE(Check(victim, "", v1::EMAIL, "service").allowed());
}

// Positive control of the above: the link's GET side changes nothing; its POST revokes, and
// the destruction then runs at the due time, not before.
TEST_F(PrivacyTest, RevocationConfirmedByLinkIsDestroyedAtTheDueTime_SEC5) {
  std::string subject = LiveSubject("genuine@example.com");
  AppendMarker(subject, "revoke_consent", 22, "genuine@example.com");
  intake_->RunOnce();
  v1::PrivacyRequest req = RequestOf(subject);
  std::string token = TokenOf(req);
  auto view = confirmation_->Look(token);
  ASSERT_TRUE(view);
  EXPECT_TRUE(view->pending);
  EXPECT_EQ(view->kind, RequestKind::kRevoke);
  EXPECT_EQ(Get(req.id()).confirmation(), v1::CONFIRMATION_PENDING);  // looking changed nothing

  EXPECT_EQ(Count("suppressions"), 0);
  clock_.Advance(std::chrono::hours(2));
  auto confirmed = confirmation_->Confirm(token);
  EXPECT_TRUE(confirmed.changed);
  EXPECT_EQ(Check(subject, "", v1::EMAIL, "service").reason(), v1::CONSENT_REVOKED);
  // The marker's address is suppressed as REVOKED (5): it outlives the destruction.
  EXPECT_EQ(db_->Scalar("SELECT string_agg(reason::text, ',') FROM suppressions"), "5");
  v1::PrivacyRequest after = Get(req.id());
  EXPECT_EQ(after.confirmation(), v1::CONFIRMED_BY_LINK);
  EXPECT_TRUE(after.has_confirmed_time());
  EXPECT_EQ(after.due_time().seconds(), req.due_time().seconds());  // the legal date stands
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'privacy_request.confirmed'"
                        " AND details->>'method' = 'link'"),
            "1");
  EXPECT_FALSE(confirmation_->Confirm(token).changed);  // a second POST: nothing new

  Timestamp due = FromUnixMicros(req.due_time().seconds() * 1000000);
  clock_.Set(due - std::chrono::seconds(1));
  EXPECT_EQ(job_->RunOnce().destroyed, 0);
  clock_.Set(due + std::chrono::seconds(1));
  EXPECT_EQ(job_->RunOnce().destroyed, 1);
  ASSERT_EQ(destroyer_.calls.size(), 1u);
  EXPECT_EQ(destroyer_.calls[0].subject_id, subject);
}

// A token names one request: it confirms that one and no other; forged, expired and closed
// ones change nothing.
TEST_F(PrivacyTest, ATokenConfirmsOnlyItsOwnRequest_SEC5) {
  std::string a = LiveSubject("first@example.com");
  std::string b = LiveSubject("second@example.com");
  AppendMarker(a, "revoke_consent", 31, "first@example.com");
  AppendMarker(b, "rectify", 32, "second@example.com");
  intake_->RunOnce();
  v1::PrivacyRequest ra = RequestOf(a), rb = RequestOf(b);
  std::string snapshot = Snapshot();
  EXPECT_EQ(CatchError([&] { confirmation_->Confirm("forged-token"); }).code(),
            ErrorCode::kNotFound);
  std::string token_a = TokenOf(ra);
  std::string tampered = token_a;
  tampered[tampered.size() / 2] = tampered[tampered.size() / 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(CatchError([&] { confirmation_->Confirm(tampered); }).code(), ErrorCode::kNotFound);
  // Expired: past the link's lifetime.
  clock_.Advance(std::chrono::hours(24 * 31));
  EXPECT_FALSE(confirmation_->Look(token_a));
  EXPECT_EQ(CatchError([&] { confirmation_->Confirm(token_a); }).code(), ErrorCode::kNotFound);
  EXPECT_EQ(Snapshot(), snapshot);
  clock_.Advance(-std::chrono::hours(24 * 31));

  confirmation_->Confirm(token_a);
  EXPECT_EQ(Get(ra.id()).confirmation(), v1::CONFIRMED_BY_LINK);
  EXPECT_EQ(Get(rb.id()).confirmation(), v1::CONFIRMATION_PENDING);
  EXPECT_TRUE(Check(b, "", v1::EMAIL).allowed());
  // A closed request: its link confirms nothing.
  v1::CompletePrivacyRequestRequest close;
  close.set_request_id(rb.id());
  close.set_status(v1::REJECTED);
  ops_->CompleteRequest(privacy_, close);
  EXPECT_EQ(CatchError([&] { confirmation_->Confirm(TokenOf(rb)); }).code(),
            ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(Check(b, "", v1::EMAIL).allowed());
}

TEST_F(PrivacyTest, RectificationMarkerBlocksOnlyOnceConfirmed_SEC5) {
  std::string id = LiveSubject("wrong@example.com");
  AppendMarker(id, "rectify", 41, "wrong@example.com");
  intake_->RunOnce();
  v1::PrivacyRequest req = RequestOf(id);
  EXPECT_EQ(req.confirmation(), v1::CONFIRMATION_PENDING);
  EXPECT_FALSE(req.blocked_by_request());
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "service").allowed());
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'subject.blocked'"), "0");
  // Positive control: confirmed, blocked from that moment; the rectification lifts it.
  confirmation_->Confirm(TokenOf(req));
  EXPECT_EQ(Check(id, "", v1::EMAIL, "service").reason(), v1::SUBJECT_BLOCKED);
  EXPECT_TRUE(Get(req.id()).blocked_by_request());
  v1::RectifySubjectRequest fix;
  fix.set_subject_id(id);
  fix.add_update_fields("surname");
  fix.set_surname("Aliyeva");
  EXPECT_TRUE(ops_->RectifySubject(privacy_, fix).unblocked());
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "service").allowed());
}

// Positive control: a DMARC-aligned pass recorded by our MTA needs no link.
TEST_F(PrivacyTest, MarkersOurMtaAuthenticatedActAtOnce_SEC5) {
  std::string revoker = LiveSubject("dmarc-revoke@example.com");
  std::string rectifier = LiveSubject("dmarc-rectify@example.com");
  AppendMarker(revoker, "revoke_consent", 51, "dmarc-revoke@example.com", /*dmarc=*/true);
  AppendMarker(rectifier, "rectify", 52, "dmarc-rectify@example.com", /*dmarc=*/true);
  EXPECT_EQ(intake_->RunOnce().opened, 2);
  EXPECT_EQ(Check(revoker, "", v1::EMAIL).reason(), v1::CONSENT_REVOKED);
  EXPECT_EQ(Check(rectifier, "", v1::EMAIL).reason(), v1::SUBJECT_BLOCKED);
  v1::PrivacyRequest req = RequestOf(revoker);
  EXPECT_EQ(req.confirmation(), v1::CONFIRMED_BY_DMARC);
  EXPECT_THAT(req.details_json(), HasSubstr("\"sender_verified\": \"dmarc\""));
  EXPECT_EQ(Count("messages"), 0);  // nothing to confirm, nothing mailed
  clock_.Set(FromUnixMicros(req.due_time().seconds() * 1000000) + std::chrono::seconds(1));
  EXPECT_EQ(job_->RunOnce().destroyed, 1);
}

// The privacy officer may confirm instead (a letter, a call): an authenticated revocation
// naming the subject confirms its pending e-mail request.
TEST_F(PrivacyTest, TheOfficersRevocationConfirmsAPendingEmailRequest_SEC5) {
  std::string id = LiveSubject("officer@example.com");
  AppendMarker(id, "revoke_consent", 61, "officer@example.com");
  intake_->RunOnce();
  v1::PrivacyRequest req = RequestOf(id);
  auto resp = Revoke(id);
  EXPECT_EQ(resp.request().id(), req.id());
  EXPECT_EQ(resp.request().confirmation(), v1::CONFIRMED_BY_OPERATOR);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::CONSENT_REVOKED);
  clock_.Set(FromUnixMicros(req.due_time().seconds() * 1000000) + std::chrono::seconds(1));
  EXPECT_EQ(job_->RunOnce().destroyed, 1);
}

}  // namespace
}  // namespace herald::privacy
