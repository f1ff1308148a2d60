// RecordCallOutcome on a real PostgreSQL (CALL-1..CALL-9 in docs/requirements.md): each
// outcome's effect, checked through the gate as a dispatch would meet it, the consent and
// trail records it leaves, and the refusals that change nothing.
#include <gmock/gmock.h>

#include <nlohmann/json.hpp>

#include "common/proto_time.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::subscriptions {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPhone[] = "+79161234567";
constexpr char kPhoneAsDialled[] = "8 (916) 123-45-67";  // the same number, national form
constexpr char kOtherPhone[] = "+79169876543";
constexpr char kAgent[] = "agent-0042";
constexpr char kRecording[] = "pbx:rec/2026-11-27/000123";

class CallOutcomeTest : public RegistryTest {
 protected:
  static v1::RecordCallOutcomeRequest Call(const std::string& subject_id, v1::CallOutcome outcome,
                                           const std::string& phone = kPhone) {
    v1::RecordCallOutcomeRequest r;
    r.set_subject_id(subject_id);
    r.set_phone(phone);
    r.set_outcome(outcome);
    r.set_agent(kAgent);
    if (outcome == v1::CONSENT_GIVEN) {
      r.set_recording_reference(kRecording);
      r.set_document_version("calls-2026-01");
    }
    return r;
  }

  v1::RecordCallOutcomeResponse Record(const v1::RecordCallOutcomeRequest& r) {
    return registry_->RecordCallOutcome(crm_, r);
  }

  // A subject with an e-mail address and kPhone, consented to processing and to marketing on
  // `channels`.
  std::string Consented(std::initializer_list<v1::Channel> channels = {v1::EMAIL, v1::SMS,
                                                                       v1::CALL}) {
    std::string id = NewSubject("caller-" + std::to_string(++subjects_) + "@example.com", kPhone);
    ConsentAll(id, channels);
    return id;
  }

  // Every table a call outcome may write, as one comparable string.
  std::string State() {
    std::string out;
    for (const char* t : {"events", "event_personal", "suppressions", "consents", "preferences",
                          "addresses", "idempotency_keys"}) {
      out += std::string(t) + "=" + std::to_string(Count(t)) + " ";
    }
    return out + "channels=" +
           db_->Scalar(
               "SELECT string_agg(marketing_channels::text, ',' "
               "ORDER BY id) FROM subjects");
  }

  v1::SubjectEvent LastEvent(const std::string& subject_id) {
    v1::ListSubjectEventsRequest r;
    r.set_subject_id(subject_id);
    r.set_page_size(500);
    auto events = registry_->ListSubjectEvents(crm_, r).events();
    EXPECT_FALSE(events.empty());
    v1::SubjectEvent newest;
    for (const auto& e : events) {
      if (e.id() > newest.id()) newest = e;
    }
    return newest;
  }

  int subjects_ = 0;
};

// CALL-1: an answered call is one event in the subject's trail, by the agent, and nothing else.
TEST_F(CallOutcomeTest, CALL1_AnAnsweredCallIsOnlyAnEventInTheTrail) {
  std::string id = Consented();
  int64_t suppressions = Count("suppressions"), consents = Count("consents");
  int64_t preferences = Count("preferences"), events = Count("events");

  auto resp = Record(Call(id, v1::ANSWERED, kPhoneAsDialled));
  EXPECT_FALSE(resp.changed());
  EXPECT_GT(resp.event_id(), 0);
  EXPECT_EQ(Count("events"), events + 1);
  EXPECT_EQ(Count("suppressions"), suppressions);
  EXPECT_EQ(Count("consents"), consents);
  EXPECT_EQ(Count("preferences"), preferences);
  EXPECT_TRUE(Check(id, kPhone, v1::CALL).allowed());

  v1::SubjectEvent e = LastEvent(id);
  EXPECT_EQ(e.id(), resp.event_id());
  EXPECT_EQ(e.type(), "call.answered");
  EXPECT_EQ(e.actor(), kAgent);
  EXPECT_EQ(e.source(), v1::PHONE_CALL);
  auto details = nlohmann::json::parse(e.details_json());
  EXPECT_EQ(details["outcome"], "ANSWERED");
  EXPECT_EQ(details["recorded_by"], crm_.client_id);
  // The number called, normalised, is a personal value: in the side table only.
  EXPECT_THAT(e.details_json(), Not(HasSubstr("9161234567")));
  EXPECT_EQ(nlohmann::json::parse(e.personal_json())["phone"], kPhone);
}

// CALL-2: "do not call" suppresses the number on CALL: the gate refuses calls to it, whoever
// owns it, while SMS to it stays allowed.
TEST_F(CallOutcomeTest, CALL2_DoNotCallSuppressesTheNumberForCallsOnly) {
  std::string id = Consented();
  ASSERT_TRUE(Check(id, kPhone, v1::CALL).allowed());

  auto resp = Record(Call(id, v1::DO_NOT_CALL));
  EXPECT_TRUE(resp.changed());
  EXPECT_TRUE(resp.suppression_added());
  EXPECT_EQ(resp.in_flight_messages(), 0);
  EXPECT_EQ(Check(id, kPhone, v1::CALL).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check("", kPhone, v1::CALL).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_TRUE(Check(id, kPhone, v1::SMS).allowed());
  EXPECT_EQ(LastEvent(id).type(), "call.do_not_call");

  // Said again on a later call: nothing more to change, and still one suppression.
  int64_t suppressions = Count("suppressions");
  auto again = Record(Call(id, v1::DO_NOT_CALL));
  EXPECT_FALSE(again.changed());
  EXPECT_FALSE(again.suppression_added());
  EXPECT_EQ(Count("suppressions"), suppressions);
}

// CALL-3: refusing marketing calls opts the subject out of marketing on CALL; SMS and e-mail
// stay allowed.
TEST_F(CallOutcomeTest, CALL3_RefusedMarketingOptsTheSubjectOutOfCallsOnly) {
  std::string id = Consented();
  auto resp = Record(Call(id, v1::REFUSED_MARKETING));
  EXPECT_TRUE(resp.changed());
  EXPECT_FALSE(resp.suppression_added());
  EXPECT_EQ(Check(id, kPhone, v1::CALL).reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_EQ(Check(id, kPhone, v1::CALL, "special_offers").reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_TRUE(Check(id, kPhone, v1::SMS).allowed());
  EXPECT_TRUE(Check(id, "", v1::EMAIL).allowed());
  // Service notices need no marketing consent, and a marketing refusal does not stop them.
  EXPECT_TRUE(Check(id, kPhone, v1::CALL, "billing").allowed());
  EXPECT_EQ(LastEvent(id).type(), "call.refused_marketing");
  EXPECT_FALSE(Record(Call(id, v1::REFUSED_MARKETING)).changed());
}

// CALL-4: a wrong number is detached from the subject and suppressed for all marketing on SMS
// and CALL, with the number only among the personal values of the trail.
TEST_F(CallOutcomeTest, CALL4_AWrongNumberIsDetachedAndSuppressed) {
  std::string id = Consented();
  v1::UpsertSubjectRequest add;
  add.set_external_id("");
  add.add_phones(kOtherPhone);
  add.add_emails("caller-1@example.com");
  ASSERT_EQ(registry_->UpsertSubject(crm_, add).subject().id(), id);

  auto resp = Record(Call(id, v1::WRONG_NUMBER, kPhoneAsDialled));
  EXPECT_TRUE(resp.changed());
  EXPECT_TRUE(resp.address_detached());
  EXPECT_TRUE(resp.suppression_added());

  v1::GetSubjectRequest get;
  get.set_subject_id(id);
  EXPECT_THAT(registry_->GetSubject(crm_, get).subject().phones(),
              ::testing::ElementsAre(kOtherPhone));
  EXPECT_EQ(Check("", kPhone, v1::SMS).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check("", kPhone, v1::CALL).reason(), v1::ADDRESS_SUPPRESSED);
  // The subject's other number is untouched.
  EXPECT_TRUE(Check(id, kOtherPhone, v1::CALL).allowed());
  EXPECT_EQ(db_->Scalar("SELECT reason || '/' || channel || '/' || topic || '/' || source "
                        "FROM suppressions WHERE lifted_at IS NULL"),
            "1/0//9");  // UNSUBSCRIBED, every channel, all marketing, PHONE_CALL

  v1::SubjectEvent e = LastEvent(id);
  EXPECT_EQ(e.type(), "call.wrong_number");
  EXPECT_EQ(nlohmann::json::parse(e.details_json())["address_detached"], true);
  EXPECT_EQ(nlohmann::json::parse(e.personal_json())["phone"], kPhone);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE details::text LIKE '%9161234567%'"),
            "0");

  // The number is no longer the subject's: a second report of it is refused.
  EXPECT_EQ(CatchError([&] { Record(Call(id, v1::WRONG_NUMBER)); }).code(),
            ErrorCode::kFailedPrecondition);
}

// CALL-4, CALL-5: a recycled number re-consenting: its new owner's consent given on a later
// call lifts the wrong-number suppression, and the new owner may be called.
TEST_F(CallOutcomeTest, CALL4_CALL5_ARecycledNumberReConsentingLiftsTheSuppression) {
  std::string old_owner = Consented();
  Record(Call(old_owner, v1::WRONG_NUMBER));
  std::string new_owner = NewSubject("", kPhone, "crm-new-owner");
  Consent(new_owner, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  EXPECT_EQ(Check(new_owner, kPhone, v1::CALL).reason(), v1::ADDRESS_SUPPRESSED);

  clock_.Advance(std::chrono::hours(24 * 30));
  auto resp = Record(Call(new_owner, v1::CONSENT_GIVEN));
  EXPECT_EQ(resp.suppressions_lifted(), 1);
  EXPECT_TRUE(Check(new_owner, kPhone, v1::CALL).allowed());
}

// CALL-5: a consent given on a call is a marketing consent on CALL, source PHONE_CALL, by the
// agent, proven by the recording: a subject with only processing consent may now be called.
TEST_F(CallOutcomeTest, CALL5_AConsentGivenOnACallAllowsMarketingCalls) {
  std::string id = NewSubject("consent-call@example.com", kPhone);
  Consent(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  ASSERT_EQ(Check(id, kPhone, v1::CALL).reason(), v1::NO_CONSENT);

  auto r = Call(id, v1::CONSENT_GIVEN);
  SetTimestamp(r.mutable_occurred_at(), clock_.Now() - std::chrono::minutes(10));
  auto resp = Record(r);
  EXPECT_TRUE(resp.changed());
  ASSERT_FALSE(resp.consent_id().empty());
  EXPECT_TRUE(Check(id, kPhone, v1::CALL).allowed());
  EXPECT_TRUE(Check(id, kPhone, v1::CALL, "special_offers").allowed());
  // Per channel: SMS was not part of it.
  EXPECT_EQ(Check(id, kPhone, v1::SMS).reason(), v1::NO_CONSENT);

  EXPECT_EQ(db_->Scalar("SELECT kind || '/' || channel || '/' || granted || '/' || source || '/' "
                        "|| actor || '/' || recording_reference || '/' || document_version || "
                        "'/' || (occurred_at = '2026-11-27T09:50:00Z') FROM consents WHERE id = " +
                        resp.consent_id()),
            std::string("2/3/true/9/") + kAgent + "/" + kRecording + "/calls-2026-01/true");
  v1::SubjectEvent e = LastEvent(id);
  EXPECT_EQ(e.type(), "call.consent_given");
  EXPECT_EQ(nlohmann::json::parse(e.details_json())["consent_id"], resp.consent_id());
  EXPECT_EQ(nlohmann::json::parse(e.details_json())["recording_reference"], kRecording);
}

// CALL-5: a later consent with proof lifts the number's own "do not call".
TEST_F(CallOutcomeTest, CALL5_ALaterConsentLiftsTheNumbersDoNotCall) {
  std::string id = Consented();
  Record(Call(id, v1::DO_NOT_CALL));
  ASSERT_EQ(Check(id, kPhone, v1::CALL).reason(), v1::ADDRESS_SUPPRESSED);
  clock_.Advance(std::chrono::hours(1));
  auto resp = Record(Call(id, v1::CONSENT_GIVEN));
  EXPECT_TRUE(resp.changed());
  EXPECT_EQ(resp.suppressions_lifted(), 1);
  EXPECT_TRUE(Check(id, kPhone, v1::CALL).allowed());
}

// CALL-6: the number must be one of the subject's; the refusal names the field, not the value,
// and changes nothing.
TEST_F(CallOutcomeTest, CALL6_ANumberNotTheSubjectsIsRefusedAndChangesNothing) {
  std::string id = Consented();
  NewSubject("", kOtherPhone, "crm-someone-else");
  for (v1::CallOutcome outcome : {v1::ANSWERED, v1::DO_NOT_CALL, v1::REFUSED_MARKETING,
                                  v1::WRONG_NUMBER, v1::CONSENT_GIVEN}) {
    SCOPED_TRACE(v1::CallOutcome_Name(outcome));
    std::string before = State();
    Error err = CatchError([&] { Record(Call(id, outcome, kOtherPhone)); });
    EXPECT_EQ(err.code(), ErrorCode::kFailedPrecondition);
    EXPECT_THAT(err.what(), HasSubstr("phone: not one of the subject's numbers"));
    EXPECT_THAT(err.what(), Not(HasSubstr("9876543")));
    EXPECT_EQ(State(), before);
  }
  EXPECT_TRUE(Check("", kOtherPhone, v1::CALL).reason() != v1::ADDRESS_SUPPRESSED);
  // Positive control: the subject's own number goes through.
  EXPECT_TRUE(Record(Call(id, v1::DO_NOT_CALL)).changed());
}

// CALL-7: requests that cannot be carried out are refused precisely and change nothing.
TEST_F(CallOutcomeTest, CALL7_BadRequestsAreRefusedPreciselyAndChangeNothing) {
  std::string id = Consented();
  std::string merged = NewSubject("", "", "crm-merged");
  std::string destroyed = NewSubject("", kPhone, "crm-destroyed");
  v1::MergeSubjectsRequest merge;
  merge.set_survivor_id(id);
  merge.set_merged_id(merged);
  merge.mutable_proof()->set_source(v1::CRM);
  registry_->MergeSubjects(crm_, merge);
  db_->Exec("UPDATE subjects SET state = 'destroyed' WHERE id = '" + destroyed + "'");

  struct Case {
    std::string name;
    v1::RecordCallOutcomeRequest request;
    ErrorCode code;
    std::string message;
  };
  auto with = [&](v1::CallOutcome outcome, auto change) {
    auto r = Call(id, outcome);
    change(r);
    return r;
  };
  using R = v1::RecordCallOutcomeRequest;
  std::vector<Case> cases = {
      {"unspecified outcome", with(v1::CALL_OUTCOME_UNSPECIFIED, [](R&) {}),
       ErrorCode::kInvalidArgument, "outcome: required"},
      {"unknown outcome", with(v1::ANSWERED, [](R& r) { r.set_outcome(v1::CallOutcome(42)); }),
       ErrorCode::kInvalidArgument, "outcome: required"},
      {"no agent", with(v1::DO_NOT_CALL, [](R& r) { r.clear_agent(); }),
       ErrorCode::kInvalidArgument, "agent: required"},
      {"a name as agent", with(v1::DO_NOT_CALL, [](R& r) { r.set_agent("Ivan Petrov"); }),
       ErrorCode::kInvalidArgument, "agent: the operator's agent id"},
      {"no phone", with(v1::DO_NOT_CALL, [](R& r) { r.clear_phone(); }),
       ErrorCode::kInvalidArgument, "phone: required"},
      {"not a phone", with(v1::DO_NOT_CALL, [](R& r) { r.set_phone("12"); }),
       ErrorCode::kInvalidArgument, "phone: "},
      {"consent without recording",
       with(v1::CONSENT_GIVEN, [](R& r) { r.clear_recording_reference(); }),
       ErrorCode::kInvalidArgument, "recording_reference: required for CONSENT_GIVEN"},
      {"consent without document",
       with(v1::CONSENT_GIVEN, [](R& r) { r.clear_document_version(); }),
       ErrorCode::kInvalidArgument, "document_version: required for CONSENT_GIVEN"},
      {"document without consent",
       with(v1::REFUSED_MARKETING, [](R& r) { r.set_document_version("v1"); }),
       ErrorCode::kInvalidArgument, "document_version: only for CONSENT_GIVEN"},
      {"a call in the future",
       with(v1::ANSWERED,
            [&](R& r) {
              SetTimestamp(r.mutable_occurred_at(), clock_.Now() + std::chrono::hours(1));
            }),
       ErrorCode::kInvalidArgument, "occurred_at: is in the future"},
      {"bad subject id", with(v1::ANSWERED, [](R& r) { r.set_subject_id("crm-1"); }),
       ErrorCode::kInvalidArgument, "subject_id"},
      {"unknown subject",
       with(v1::DO_NOT_CALL,
            [](R& r) { r.set_subject_id("5b0c1f0e-8a4e-4c53-9a52-2f0e4f7f6a10"); }),
       ErrorCode::kNotFound, "subject_id: subject not found"},
      {"unknown subject, answered",
       with(v1::ANSWERED, [](R& r) { r.set_subject_id("5b0c1f0e-8a4e-4c53-9a52-2f0e4f7f6a10"); }),
       ErrorCode::kNotFound, "subject_id: subject not found"},
      {"merged subject", with(v1::DO_NOT_CALL, [&](R& r) { r.set_subject_id(merged); }),
       ErrorCode::kFailedPrecondition, "merged into " + id},
      {"merged subject, answered", with(v1::ANSWERED, [&](R& r) { r.set_subject_id(merged); }),
       ErrorCode::kFailedPrecondition, "merged into " + id},
      {"destroyed subject", with(v1::CONSENT_GIVEN, [&](R& r) { r.set_subject_id(destroyed); }),
       ErrorCode::kFailedPrecondition, "destroyed or depersonalized"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    std::string before = State();
    Error err = CatchError([&] { Record(c.request); });
    EXPECT_EQ(err.code(), c.code);
    EXPECT_THAT(err.what(), HasSubstr(c.message));
    // CALL-9: a refusal names the field and never repeats a number or a name.
    EXPECT_THAT(err.what(), Not(HasSubstr("1234567")));
    EXPECT_THAT(err.what(), Not(HasSubstr("Petrov")));
    EXPECT_EQ(State(), before);
  }
}

// CALL-8: the idempotency key of RecordCallOutcome behaves as every mutating RPC's: a repeat
// answers the first call and writes nothing; the key with another request is ALREADY_EXISTS.
TEST_F(CallOutcomeTest, CALL8_ARepeatWithTheKeyReplaysTheFirstAnswer) {
  std::string id = Consented({v1::EMAIL, v1::SMS});
  Consent(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  auto r = Call(id, v1::CONSENT_GIVEN);
  r.set_idempotency_key("call-7781");
  auto first = Record(r);
  EXPECT_TRUE(first.changed());
  std::string after_first = State();
  auto repeat = Record(r);
  EXPECT_EQ(repeat.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(State(), after_first);

  auto other = Call(id, v1::DO_NOT_CALL);
  other.set_idempotency_key("call-7781");
  EXPECT_EQ(CatchError([&] { Record(other); }).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(State(), after_first);
  // Positive control: a second consent under a new key is a new record, changing no state.
  r.set_idempotency_key("call-7782");
  auto second = Record(r);
  EXPECT_NE(second.consent_id(), first.consent_id());
  EXPECT_FALSE(second.changed());
}

}  // namespace
}  // namespace herald::subscriptions
