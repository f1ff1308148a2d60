// MergeSubjects on a real PostgreSQL: the stricter state wins (M1-M3), the merged subject is
// gone and points at the survivor (M4), and a merge is one idempotent, deadlock-free
// transaction with precise refusals (M5).
#include <gmock/gmock.h>

#include <thread>

#include "common/proto_time.h"
#include "tests/services/subscriptions/registry_fixture.h"
#include "tests/support/eventually.h"

namespace herald::subscriptions {
namespace {

using ::testing::HasSubstr;

class MergeTest : public RegistryTest {
 protected:
  v1::MergeSubjectsResponse Merge(const std::string& survivor, const std::string& merged,
                                  const std::string& key = "") {
    return registry_->MergeSubjects(crm_, MergeRequest(survivor, merged, key));
  }

  static v1::MergeSubjectsRequest MergeRequest(const std::string& survivor,
                                               const std::string& merged,
                                               const std::string& key = "") {
    v1::MergeSubjectsRequest r;
    r.set_idempotency_key(key);
    r.set_survivor_id(survivor);
    r.set_merged_id(merged);
    r.mutable_proof()->set_source(v1::CRM);
    r.mutable_proof()->set_form_id("creatio-contact-merge");
    return r;
  }

  void ConsentAt(const std::string& subject_id, v1::ConsentKind kind, v1::Channel channel,
                 bool granted, const std::string& occurred_at) {
    v1::RecordConsentRequest r;
    r.set_subject_id(subject_id);
    r.set_kind(kind);
    r.set_channel(channel);
    r.set_granted(granted);
    r.mutable_proof()->set_source(v1::WEB_FORM);
    r.mutable_proof()->set_form_id("landing-9");
    r.mutable_proof()->set_document_version("consent-v4");
    r.mutable_proof()->set_ip("203.0.113.9");
    SetTimestamp(r.mutable_proof()->mutable_occurred_at(), occurred_at);
    registry_->RecordConsent(crm_, r);
  }

  void Subscribe(const std::string& subject_id, const std::string& topic, v1::Channel channel) {
    v1::SetPreferencesRequest r;
    r.set_subject_id(subject_id);
    auto* c = r.add_changes();
    c->set_topic(topic);
    c->set_channel(channel);
    c->set_subscribed(true);
    r.mutable_proof()->set_source(v1::WEB_FORM);
    registry_->SetPreferences(crm_, r);
  }

  std::vector<std::string> EventTypes(const std::string& subject_id) {
    v1::ListSubjectEventsRequest r;
    r.set_subject_id(subject_id);
    r.set_page_size(500);
    std::vector<std::string> out;
    auto resp = registry_->ListSubjectEvents(crm_, r);
    for (const auto& e : resp.events()) out.push_back(e.type());
    return out;
  }

  std::string Merged(const std::string& id) {
    return db_->Scalar(
        "SELECT state || ':' || coalesce(merged_into::text, '') FROM subjects"
        " WHERE id = '" +
        id + "'");
  }
};

TEST_F(MergeTest, M1_TheMergedSubjectsOptOutWinsOverTheSurvivorsConsent) {
  std::string survivor = NewSubject("keep@example.com");
  std::string merged = NewSubject("dup@example.com");
  ConsentAll(survivor);
  ConsentAll(merged);
  // The survivor refused e-mail, then opted in to one topic again: narrower, and newer than
  // its own refusal, but not than the duplicate's refusal of all marketing.
  OptOutSubject(survivor, v1::CHANNEL, v1::EMAIL);
  Subscribe(survivor, "webinars", v1::EMAIL);
  OptOutSubject(merged, v1::ALL_MARKETING);
  ASSERT_TRUE(Check(survivor, "", v1::EMAIL, "webinars").allowed());  // positive control

  auto resp = Merge(survivor, merged);
  EXPECT_TRUE(resp.changed());
  EXPECT_EQ(resp.opt_outs_carried(), 1);
  EXPECT_EQ(Check(survivor, "", v1::EMAIL).reason(), v1::UNSUBSCRIBED_ALL);
  EXPECT_EQ(Check(survivor, "", v1::EMAIL, "webinars").reason(), v1::UNSUBSCRIBED_ALL);
  EXPECT_EQ(Check(survivor, "dup@example.com", v1::EMAIL).reason(), v1::UNSUBSCRIBED_ALL);
  EXPECT_EQ(Check("", "dup@example.com", v1::EMAIL).reason(), v1::UNSUBSCRIBED_ALL);
}

TEST_F(MergeTest, M1_TheSurvivorsOptOutSurvivesTheMergedSubjectsConsent) {
  std::string survivor = NewSubject("keep@example.com", "+994500000011");
  std::string merged = NewSubject("dup@example.com", "+994500000012");
  Consent(survivor, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  Consent(survivor, v1::MARKETING, v1::SMS);
  OptOutSubject(survivor, v1::CHANNEL, v1::SMS);
  ConsentAll(merged);

  Merge(survivor, merged);
  EXPECT_EQ(Check(survivor, "", v1::SMS).reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_EQ(Check(survivor, "+994500000012", v1::SMS, "webinars").reason(),
            v1::UNSUBSCRIBED_CHANNEL);
  // The duplicate's e-mail consent came with its proof, so e-mail is now allowed.
  EXPECT_TRUE(Check(survivor, "", v1::EMAIL).allowed());
}

TEST_F(MergeTest, M1_SuppressionsOfMovedAddressesStillDeny) {
  std::string survivor = NewSubject("keep@example.com");
  std::string merged = NewSubject("dup@example.com", "+994500000013");
  // The survivor and the duplicate both hold both@ (CRM duplicates): it is not moved twice.
  db_->Exec(
      "INSERT INTO addresses (subject_id, kind, value, match_key, added_at) SELECT id, 1,"
      " 'both@example.com', 'both@example.com', now() FROM subjects WHERE id IN ('" +
      survivor + "', '" + merged + "')");
  ConsentAll(survivor);
  ConsentAll(merged);
  ASSERT_EQ(Check(survivor, "dup@example.com", v1::EMAIL).reason(), v1::NO_CONSENT);  // not its
  OptOutAddress("dup@example.com", v1::ALL_MARKETING);
  OptOutAddress("+994500000013", v1::CHANNEL, v1::SMS, "", v1::SMS_STOP);

  auto resp = Merge(survivor, merged);
  EXPECT_EQ(resp.addresses_moved(), 2);  // dup@ and the phone; both@ was the survivor's already
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM addresses WHERE subject_id = '" + merged + "'"), "0");
  EXPECT_EQ(Check(survivor, "dup@example.com", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check(survivor, "", v1::SMS).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_TRUE(Check(survivor, "keep@example.com", v1::EMAIL).allowed());
  EXPECT_EQ(Count("suppressions WHERE lifted_at IS NULL"), 2);
}

TEST_F(MergeTest, M2_ConsentRecordsAreCopiedWithTheirProofAndTimeOfTheAct) {
  std::string survivor = NewSubject("keep@example.com");
  std::string merged = NewSubject("dup@example.com");
  ConsentAt(merged, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, true, "2026-11-20T08:00:00Z");
  ConsentAt(merged, v1::MARKETING, v1::EMAIL, true, "2026-11-20T08:00:00Z");

  auto resp = Merge(survivor, merged);
  EXPECT_EQ(resp.consents_copied(), 2);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(DISTINCT form_id || '/' || document_version || '/' ||"
                        " to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), ',')"
                        " FROM consents WHERE subject_id = '" +
                        survivor + "'"),
            "landing-9/consent-v4/2026-11-20 08:00");
  // The copies keep their events, and with them the IP and user agent of the act.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM consents c JOIN consents o ON o.event_id ="
                        " c.event_id AND o.subject_id = '" +
                        merged + "' WHERE c.subject_id = '" + survivor + "'"),
            "2");
  EXPECT_TRUE(Check(survivor, "", v1::EMAIL).allowed());
}

TEST_F(MergeTest, M2_TheNewestActDecidesSoAnOlderGrantNeverOverridesAWithdrawal) {
  std::string a = NewSubject("a@example.com");
  std::string b = NewSubject("b@example.com");
  for (const auto& id : {a, b}) {
    ConsentAt(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, true, "2026-11-01T08:00:00Z");
  }
  ConsentAt(a, v1::MARKETING, v1::EMAIL, true, "2026-11-25T08:00:00Z");
  ConsentAt(b, v1::MARKETING, v1::EMAIL, false, "2026-11-26T08:00:00Z");  // newer withdrawal
  Merge(a, b);
  EXPECT_EQ(Check(a, "", v1::EMAIL).reason(), v1::NO_CONSENT);

  std::string c = NewSubject("c@example.com");
  std::string d = NewSubject("d@example.com");
  for (const auto& id : {c, d}) {
    ConsentAt(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, true, "2026-11-01T08:00:00Z");
  }
  ConsentAt(c, v1::MARKETING, v1::EMAIL, false, "2026-11-26T08:00:00Z");  // the survivor's
  ConsentAt(d, v1::MARKETING, v1::EMAIL, true, "2026-11-25T08:00:00Z");   // older grant
  Merge(c, d);
  EXPECT_EQ(Check(c, "", v1::EMAIL).reason(), v1::NO_CONSENT);
  EXPECT_EQ(Check(c, "d@example.com", v1::EMAIL).reason(), v1::NO_CONSENT);

  // Positive control: a newer grant on the duplicate is the newest act, and decides.
  std::string e = NewSubject("e@example.com");
  std::string f = NewSubject("f@example.com");
  for (const auto& id : {e, f}) {
    ConsentAt(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, true, "2026-11-01T08:00:00Z");
  }
  ConsentAt(e, v1::MARKETING, v1::EMAIL, false, "2026-11-25T08:00:00Z");
  ConsentAt(f, v1::MARKETING, v1::EMAIL, true, "2026-11-26T08:00:00Z");
  Merge(e, f);
  EXPECT_TRUE(Check(e, "", v1::EMAIL).allowed());
}

TEST_F(MergeTest, M3_ABlockOfEitherHoldsForTheSurvivor) {
  std::string survivor = NewSubject("keep@example.com");
  std::string merged = NewSubject("dup@example.com");
  ConsentAll(survivor);
  ConsentAll(merged);
  db_->Exec("UPDATE subjects SET blocked = true WHERE id = '" + merged + "'");
  auto resp = Merge(survivor, merged);
  EXPECT_TRUE(resp.blocked());
  EXPECT_EQ(Check(survivor, "", v1::EMAIL).reason(), v1::SUBJECT_BLOCKED);
  EXPECT_EQ(db_->Scalar("SELECT blocked FROM subjects WHERE id = '" + survivor + "'"), "t");
}

TEST_F(MergeTest, M3_ARevocationOfEitherHoldsForTheSurvivor) {
  std::string survivor = NewSubject("keep@example.com");
  std::string merged = NewSubject("dup@example.com");
  ConsentAll(survivor);  // granted at 10:00, after the duplicate's revocation
  ConsentAt(merged, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, false, "2026-11-27T09:00:00Z");
  ASSERT_TRUE(Check(survivor, "", v1::EMAIL).allowed());

  auto resp = Merge(survivor, merged);
  EXPECT_TRUE(resp.revoked());
  EXPECT_FALSE(resp.blocked());
  EXPECT_EQ(Check(survivor, "", v1::EMAIL).reason(), v1::CONSENT_REVOKED);
  // Written to the trail as a withdrawal at the merge, so the derived state follows it...
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM consents c JOIN events e ON e.id = c.event_id"
                        " WHERE c.subject_id = '" +
                        survivor + "' AND NOT c.granted AND e.type = 'subject.merged'"),
            "1");
  // ...and a consent given after the merge is a new legal basis, as for any revocation.
  clock_.Set(clock_.Now() + std::chrono::minutes(1));
  Consent(survivor, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  EXPECT_TRUE(Check(survivor, "", v1::EMAIL).allowed());
}

TEST_F(MergeTest, M4_TheMergedSubjectIsGoneAndPointsAtTheSurvivor) {
  std::string survivor = NewSubject("keep@example.com", "", "ext-keep");
  std::string merged = NewSubject("dup@example.com", "", "ext-dup");
  ConsentAll(survivor);
  ConsentAll(merged);
  Merge(survivor, merged);
  EXPECT_EQ(Merged(merged), "merged:" + survivor);
  EXPECT_EQ(db_->Scalar("SELECT surname || given_name FROM subjects WHERE id = '" + merged + "'"),
            "");

  v1::GetSubjectRequest get;
  get.set_subject_id(merged);
  Error e = CatchError([&] { registry_->GetSubject(crm_, get); });
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_THAT(e.what(), HasSubstr("merged into " + survivor));
  v1::GetPreferencesRequest prefs;
  prefs.set_subject_id(merged);
  EXPECT_EQ(CatchError([&] { registry_->GetPreferences(crm_, prefs); }).code(),
            ErrorCode::kNotFound);
  // A change is refused with the survivor's id, and writes nothing.
  int64_t events = Count("events");
  Error set = CatchError([&] { Subscribe(merged, "webinars", v1::EMAIL); });
  EXPECT_EQ(set.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(set.what(), HasSubstr("merged into " + survivor));
  EXPECT_EQ(Count("events"), events);

  // The duplicate's external id leads to the survivor.
  v1::FindSubjectsRequest find;
  find.set_external_id("ext-dup");
  auto found = registry_->FindSubjects(crm_, find);
  ASSERT_EQ(found.subjects_size(), 1);
  EXPECT_EQ(found.subjects(0).id(), survivor);
  v1::UpsertSubjectRequest upsert;
  upsert.set_external_id("ext-dup");
  upsert.add_emails("late@example.com");
  auto upserted = registry_->UpsertSubject(crm_, upsert);
  EXPECT_EQ(upserted.subject().id(), survivor);
  EXPECT_FALSE(upserted.created());
  EXPECT_EQ(upserted.subject().external_id(), "ext-keep");

  // The gate never decides on the duplicate's stale facts.
  auto d = Check(merged, "dup@example.com", v1::EMAIL);
  EXPECT_EQ(d.reason(), v1::SUBJECT_DESTROYED);
  EXPECT_EQ(d.decided_by(), v1::SUBJECT);
  EXPECT_THAT(d.explanation(), HasSubstr("merged"));
  EXPECT_FALSE(Check(merged, "", v1::EMAIL).allowed());  // it has no address left
  EXPECT_TRUE(Check(survivor, "dup@example.com", v1::EMAIL).allowed());

  // Changes other than opt-outs are refused, naming the survivor.
  v1::RecordConsentRequest consent;
  consent.set_subject_id(merged);
  consent.set_kind(v1::MARKETING);
  consent.set_channel(v1::SMS);
  consent.set_granted(false);
  consent.mutable_proof()->set_source(v1::CRM);
  e = CatchError([&] { registry_->RecordConsent(crm_, consent); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr(survivor));
}

TEST_F(MergeTest, M4_AnOptOutForTheMergedSubjectAppliesToTheSurvivor) {
  std::string survivor = NewSubject("keep@example.com");
  std::string merged = NewSubject("dup@example.com");
  ConsentAll(survivor);
  Merge(survivor, merged);
  ASSERT_TRUE(Check(survivor, "", v1::EMAIL).allowed());
  // An unsubscribe link in a message sent to the duplicate before the merge.
  EXPECT_TRUE(OptOutSubject(merged, v1::CHANNEL, v1::EMAIL).changed());
  EXPECT_EQ(Check(survivor, "", v1::EMAIL).reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_EQ(db_->Scalar("SELECT subject_id FROM events WHERE type = 'opt_out'"), survivor);
}

TEST_F(MergeTest, M4_TheMergeIsAnEventOnBothSubjects) {
  std::string survivor = NewSubject("keep@example.com");
  std::string merged = NewSubject("dup@example.com");
  Merge(survivor, merged);
  EXPECT_THAT(EventTypes(survivor), ::testing::Contains("subject.merged"));
  EXPECT_THAT(EventTypes(merged), ::testing::Contains("subject.merged"));
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'subject.merged'"
                        " AND details->>'survivor_id' = '" +
                        survivor + "' AND details->>'merged_id' = '" + merged + "'"),
            "2");
  // The duplicate's personal values are filed under the survivor, so destroying the
  // survivor destroys them too.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM event_personal WHERE subject_id = '" + merged + "'"),
            "0");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM event_personal p JOIN events e ON e.id ="
                        " p.event_id WHERE e.subject_id = '" +
                        merged + "' AND p.subject_id = '" + survivor + "'"),
            "2");  // subject.created and address.added
}

TEST_F(MergeTest, M5_AReplayAnswersTheSameAndChangesNothing) {
  std::string survivor = NewSubject("keep@example.com");
  std::string merged = NewSubject("dup@example.com");
  ConsentAll(merged);
  OptOutSubject(merged, v1::ALL_MARKETING);
  auto first = Merge(survivor, merged, "merge-42");
  int64_t events = Count("events"), consents = Count("consents"), prefs = Count("preferences");
  clock_.Set(clock_.Now() + std::chrono::hours(1));
  auto replay = Merge(survivor, merged, "merge-42");
  EXPECT_EQ(replay.SerializeAsString(), first.SerializeAsString());
  // Without a key, a repeat of a merge already done is no error either: nothing changes.
  auto again = Merge(survivor, merged);
  EXPECT_FALSE(again.changed());
  EXPECT_EQ(again.survivor_id(), survivor);
  EXPECT_EQ(again.consents_copied(), 0);
  EXPECT_EQ(Count("events"), events);
  EXPECT_EQ(Count("consents"), consents);
  EXPECT_EQ(Count("preferences"), prefs);
  // The other way round is a different merge, and the duplicate is already gone.
  Error e = CatchError([&] { Merge(merged, survivor); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("survivor_id: the subject was already merged into " + survivor));
}

TEST_F(MergeTest, M5_RefusalsArePreciseAndWriteNothing) {
  std::string a = NewSubject("a@example.com");
  std::string b = NewSubject("b@example.com");
  const std::string unknown = "7b0c1f0e-8a4e-4c53-9a52-2f0e4f7f6a10";
  int64_t events = Count("events");

  Error e = CatchError([&] { Merge(a, a); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.what(), HasSubstr("merged_id: must differ from survivor_id"));
  e = CatchError([&] { Merge("not-a-uuid", b); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.what(), HasSubstr("survivor_id"));
  auto no_proof = MergeRequest(a, b);
  no_proof.clear_proof();
  EXPECT_EQ(CatchError([&] { registry_->MergeSubjects(crm_, no_proof); }).code(),
            ErrorCode::kInvalidArgument);

  e = CatchError([&] { Merge(unknown, b); });
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_THAT(e.what(), HasSubstr("survivor_id: subject not found"));
  e = CatchError([&] { Merge(a, unknown); });
  EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  EXPECT_THAT(e.what(), HasSubstr("merged_id: subject not found"));

  db_->Exec("UPDATE subjects SET state = 'destroyed' WHERE id = '" + b + "'");
  e = CatchError([&] { Merge(a, b); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("merged_id: the subject was destroyed or depersonalized"));
  e = CatchError([&] { Merge(b, a); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("survivor_id: the subject was destroyed or depersonalized"));

  // An open privacy request on the duplicate would be closed unanswered once it is gone.
  std::string c = NewSubject("c@example.com");
  events = Count("events");
  db_->Exec(
      "INSERT INTO privacy_requests (id, kind, subject_id, source, received_at, due_at)"
      " VALUES (gen_random_uuid(), 'revoke', '" +
      c + "', 7, now(), now() + interval '30 days')");
  e = CatchError([&] { Merge(a, c); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(e.what(), HasSubstr("merged_id: the subject has an open privacy request"));
  EXPECT_EQ(Merged(c), "active:");
  EXPECT_EQ(Count("events"), events);
  EXPECT_TRUE(Merge(c, a).changed());  // the other way round keeps the request's subject
}

// Merges of the same pair in opposite directions take the two gate rows in the same order,
// so they queue instead of deadlocking: one wins, the other finds its subject merged. A
// third transaction holds one row until both merges wait, so each has taken what it takes
// first; taking the survivor first would now deadlock.
TEST_F(MergeTest, M5_OppositeMergesOfOnePairNeverDeadlock) {
  std::string x = NewSubject("x@example.com");
  std::string y = NewSubject("y@example.com");
  const std::string high = std::max(x, y), low = std::min(x, y);
  auto waiting = [&] {
    return std::stoi(
        db_->Scalar("SELECT count(*) FROM pg_stat_activity WHERE datname ="
                    " current_database() AND wait_event_type = 'Lock'"));
  };
  pqxx::connection holder_conn(db_->dsn());
  pqxx::work holder(holder_conn);
  holder.exec("SELECT 1 FROM subjects WHERE id = '" + high + "' FOR UPDATE");

  std::optional<Error> errors[2];
  bool changed[2] = {false, false};
  auto run = [&](int i, const std::string& survivor, const std::string& merged) {
    try {
      changed[i] = Merge(survivor, merged).changed();
    } catch (const Error& e) {
      errors[i] = e;
    } catch (const std::exception& e) {  // a deadlock PostgreSQL broke up
      errors[i] = Error(ErrorCode::kInternal, e.what());
    }
  };
  std::thread first(run, 0, high, low);
  ASSERT_EVENTUALLY(waiting() == 1, 10000);
  std::thread second(run, 1, low, high);
  ASSERT_EVENTUALLY(waiting() == 2, 10000);
  holder.commit();
  first.join();
  second.join();

  EXPECT_TRUE(changed[0]);
  ASSERT_TRUE(errors[1].has_value());
  EXPECT_EQ(errors[1]->code(), ErrorCode::kFailedPrecondition) << errors[1]->what();
  EXPECT_THAT(errors[1]->what(), HasSubstr("survivor_id: the subject was already merged"));
  EXPECT_EQ(Merged(low), "merged:" + high);
}

}  // namespace
}  // namespace herald::subscriptions
