// PrivacyService, the domain entry point of the privacy RPCs, on a real PostgreSQL with a
// manual clock: an erasure that answers a tracked request checks it before anything is
// erased and closes it in the same transaction; the erasure RPCs' own input checks.
#include <nlohmann/json.hpp>
#include <set>

#include "common/proto_time.h"
#include "services/privacy/privacy_service.h"
#include "tests/services/privacy/erasure_fixture.h"

namespace herald::privacy {
namespace {

using ::testing::HasSubstr;

class PrivacyServiceTest : public ErasureTest {
 protected:
  void SetUp() override {
    ErasureTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    deadlines_ = std::make_unique<DeadlinePolicy>(PrivacyConfig{});
    service_ = std::make_unique<PrivacyService>(*pool_, clock_, *hasher_, *deadlines_, settings_);
    service_->operations().SetRegistry(registry_.get());
  }

  std::string OpenRequest(const std::string& subject_id, v1::PrivacyRequestKind kind) {
    v1::OpenPrivacyRequestRequest r;
    r.set_subject_id(subject_id);
    r.set_kind(kind);
    return service_->OpenPrivacyRequest(officer_, r).request().id();
  }
  v1::PrivacyRequest Request(const std::string& id) {
    v1::GetPrivacyRequestRequest r;
    r.set_request_id(id);
    return service_->GetPrivacyRequest(officer_, r).request();
  }
  v1::DestroySubjectResponse Destroy(const std::string& subject_id, const std::string& request_id,
                                     const std::string& key = "") {
    v1::DestroySubjectRequest r;
    r.set_subject_id(subject_id);
    r.set_reason("consent revoked");
    r.set_request_id(request_id);
    r.set_idempotency_key(key);
    return service_->DestroySubject(officer_, r);
  }
  v1::DepersonalizeSubjectResponse Depersonalize(const std::string& subject_id,
                                                 const std::string& request_id) {
    v1::DepersonalizeSubjectRequest r;
    r.set_subject_id(subject_id);
    r.set_reason("purpose achieved");
    r.set_request_id(request_id);
    return service_->DepersonalizeSubject(officer_, r);
  }

  // Nothing of the subject was erased and no record written.
  void ExpectUntouched(const std::string& subject_id) {
    EXPECT_EQ(db_->Scalar("SELECT state FROM subjects WHERE id = '" + subject_id + "'"), "active");
    EXPECT_EQ(Int("SELECT count(*) FROM addresses WHERE subject_id = '" + subject_id + "'"), 1);
    EXPECT_EQ(Count("destruction_records"), 0);
  }

  Caller officer_{"privacy-officer", "req-p", /*privacy_scope=*/true};
  std::unique_ptr<DeadlinePolicy> deadlines_;
  std::unique_ptr<PrivacyService> service_;
};

TEST_F(PrivacyServiceTest, AnErasureAnsweringARequestAboutAnotherSubjectErasesNothing) {
  std::string id = NewSubject("target@example.com");
  std::string other = NewSubject("other@example.com");
  std::string request = OpenRequest(other, v1::DESTROY);

  auto e = CatchError([&] { Destroy(id, request); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("another subject"));
  e = CatchError([&] { Depersonalize(id, request); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  ExpectUntouched(id);
  EXPECT_EQ(Request(request).status(), v1::OPEN);
}

TEST_F(PrivacyServiceTest, AnErasureAnsweringAClosedRequestErasesNothing) {
  std::string id = NewSubject("target@example.com");
  std::string request = OpenRequest(id, v1::DESTROY);
  v1::CompletePrivacyRequestRequest done;
  done.set_request_id(request);
  done.set_status(v1::REJECTED);
  service_->CompletePrivacyRequest(officer_, done);

  auto e = CatchError([&] { Destroy(id, request); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("not open"));
  ExpectUntouched(id);
  EXPECT_EQ(Request(request).status(), v1::REJECTED);
}

TEST_F(PrivacyServiceTest, AnErasureAnswersOnlyTheKindsItCanAnswer) {
  std::string id = NewSubject("target@example.com");
  std::string access = OpenRequest(id, v1::ACCESS);
  std::string stop = OpenRequest(id, v1::STOP_PROCESSING);

  auto e = CatchError([&] { Destroy(id, access); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("revoke or destroy"));
  e = CatchError([&] { Depersonalize(id, access); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  // Stopping processing is answered by depersonalizing, not by destroying.
  e = CatchError([&] { Destroy(id, stop); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  ExpectUntouched(id);
  EXPECT_EQ(Request(access).status(), v1::OPEN);
  EXPECT_EQ(Request(stop).status(), v1::OPEN);

  Depersonalize(id, stop);
  auto closed = Request(stop);
  EXPECT_EQ(closed.status(), v1::DONE);
  EXPECT_THAT(closed.details_json(), HasSubstr("subject depersonalized"));
}

TEST_F(PrivacyServiceTest, AnErasureClosesTheRequestItAnswersAtTheErasuresTime) {
  std::string id = NewSubject("target@example.com");
  std::string request = OpenRequest(id, v1::REVOKE);
  clock_.Advance(std::chrono::hours(2));

  auto done = Destroy(id, request, "destroy-1");
  auto closed = Request(request);
  EXPECT_EQ(closed.status(), v1::DONE);
  EXPECT_EQ(closed.handled_by(), "privacy-officer");
  EXPECT_EQ(closed.handled_time().seconds(), done.destroyed_time().seconds());
  EXPECT_EQ(nlohmann::json::parse(closed.details_json())["note"], "subject destroyed");
  EXPECT_EQ(db_->Scalar("SELECT state FROM subjects WHERE id = '" + id + "'"), "destroyed");
  // A retry with the same key is answered from the first call, not refused for the request
  // it closed.
  auto again = Destroy(id, request, "destroy-1");
  EXPECT_EQ(again.destruction_record_id(), done.destruction_record_id());
  EXPECT_EQ(Count("destruction_records"), 1);
}

TEST_F(PrivacyServiceTest, AnUnknownRequestIsNotFoundAndAMalformedOneInvalid) {
  std::string id = NewSubject("target@example.com");
  auto e = CatchError([&] { Destroy(id, "11111111-2222-4333-8444-555555555555"); });
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  e = CatchError([&] { Destroy(id, "not-a-uuid"); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  ExpectUntouched(id);
}

TEST_F(PrivacyServiceTest, ExportSaysWhenItWasPreparedAndNamesEveryKind) {
  std::string id = NewSubject("reader@example.com", "+994501112233", "crm-reader");
  Grant(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, "198.51.100.7", "ExportUA/1");
  Grant(id, v1::MARKETING, v1::EMAIL, "198.51.100.7", "ExportUA/1");
  Grant(id, v1::MARKETING, v1::SMS, "198.51.100.7", "ExportUA/1");
  Grant(id, v1::CROSS_BORDER, v1::CHANNEL_UNSPECIFIED, "198.51.100.7", "ExportUA/1");
  // A message to the subject's phone number under another CRM contact's id (a shared number).
  std::string sharer = NewSubject("", "+994501112233", "crm-sharer");
  ASSERT_NE(sharer, id);
  ConsentAll(sharer);
  std::string shared = SendAndSettle(sharer, v1::SMS, "shared", "ok");
  v1::ExportSubjectDataRequest r;
  r.set_subject_id(id);
  auto out = service_->ExportSubjectData(officer_, r);
  auto data = nlohmann::json::parse(out.json());
  EXPECT_EQ(ToIso8601(FromProtoTimestamp(out.generated_time()).value()),
            data["generated_at"].get<std::string>());
  std::set<std::string> address_kinds, consent_kinds;
  for (const auto& a : data["addresses"]) address_kinds.insert(a["kind"].get<std::string>());
  for (const auto& c : data["consents"]) consent_kinds.insert(c["kind"].get<std::string>());
  EXPECT_EQ(address_kinds, (std::set<std::string>{"email", "phone"}));
  EXPECT_EQ(consent_kinds, (std::set<std::string>{"processing", "marketing", "cross_border"}));
  ASSERT_EQ(data["messages"].size(), 1u);
  EXPECT_EQ(data["messages"][0]["id"], shared);
}

TEST_F(PrivacyServiceTest, DestructionRecordRangesMustBeValidTimes) {
  v1::ListDestructionRecordsRequest r;
  r.mutable_since()->set_seconds(-1);
  auto e = CatchError([&] { service_->ListDestructionRecords(officer_, r); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.what(), HasSubstr("since"));
}

}  // namespace
}  // namespace herald::privacy
