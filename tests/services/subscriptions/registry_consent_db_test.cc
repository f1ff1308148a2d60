// Consents, preferences, opt-outs and the event trail on a real PostgreSQL.
#include <gmock/gmock.h>

#include <random>
#include <thread>

#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::subscriptions {
namespace {

using ::testing::HasSubstr;

TEST_F(RegistryTest, ConsentsAreAppendOnlyRecordsWithProof) {
  std::string id = NewSubject("proof@example.com");
  v1::RecordConsentRequest r;
  r.set_subject_id(id);
  r.set_kind(v1::MARKETING);
  r.set_channel(v1::EMAIL);
  r.set_granted(true);
  r.mutable_proof()->set_source(v1::WEB_FORM);
  r.mutable_proof()->set_form_id("landing-7");
  r.mutable_proof()->set_document_version("consent-v3");
  r.mutable_proof()->set_ip("203.0.113.5");
  r.mutable_proof()->set_user_agent("Mozilla/5.0");
  auto c = registry_->RecordConsent(crm_, r).consent();
  EXPECT_FALSE(c.id().empty());
  EXPECT_EQ(c.actor(), "crm-test");
  EXPECT_EQ(db_->Scalar("SELECT form_id || '/' || document_version FROM consents"),
            "landing-7/consent-v3");
  // IP and user agent live in the personal side table, not in the consent or event rows.
  EXPECT_EQ(db_->Scalar("SELECT data->>'ip' FROM event_personal p JOIN events e ON"
                        " e.id = p.event_id WHERE e.type = 'consent.granted'"),
            "203.0.113.5");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE details::text LIKE '%203.0.113%'"), "0");
  r.set_granted(false);
  registry_->RecordConsent(crm_, r);
  EXPECT_EQ(Count("consents"), 2);  // the withdrawal is a record too
  EXPECT_THROW(db_->Exec("UPDATE consents SET granted = true"), std::exception);
}

// A replay answers what the first call answered. A proof without its own time takes the
// first call's, so an hour later the replay must still say that time, not its own.
TEST_F(RegistryTest, AReplayedConsentAnswersTheFirstCallsTimeOfTheAct) {
  std::string id = NewSubject("replay@example.com");
  v1::RecordConsentRequest r;
  r.set_idempotency_key("form-submission-1");
  r.set_subject_id(id);
  r.set_kind(v1::PROCESSING);
  r.set_granted(true);
  r.mutable_proof()->set_source(v1::WEB_FORM);
  r.mutable_proof()->set_document_version("consent-v3");
  auto first = registry_->RecordConsent(crm_, r);
  clock_.Set(clock_.Now() + std::chrono::hours(1));
  auto replay = registry_->RecordConsent(crm_, r);
  EXPECT_EQ(replay.SerializeAsString(), first.SerializeAsString())
      << first.DebugString() << " vs " << replay.DebugString();
  EXPECT_EQ(replay.consent().proof().occurred_at().seconds(),
            ToUnixMicros(ParseTimestamp("2026-11-27T10:00:00Z")) / 1000000);
  EXPECT_EQ(Count("consents"), 1);
}

TEST_F(RegistryTest, NewestConsentByOccurrenceDecidesEvenWhenRecordedLate) {
  std::string id = NewSubject("late@example.com");
  Consent(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  Consent(id, v1::MARKETING, v1::EMAIL, /*granted=*/false);
  // A backfilled grant from last year must not override today's withdrawal.
  v1::RecordConsentRequest old;
  old.set_subject_id(id);
  old.set_kind(v1::MARKETING);
  old.set_channel(v1::EMAIL);
  old.set_granted(true);
  old.mutable_proof()->set_source(v1::IMPORT);
  old.mutable_proof()->set_document_version("v1");
  old.mutable_proof()->mutable_occurred_at()->set_seconds(1735689600);  // 2025-01-01
  registry_->RecordConsent(crm_, old);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::NO_CONSENT);
}

TEST_F(RegistryTest, RecordConsentRejectsBadInput) {
  std::string id = NewSubject("rc@example.com");
  auto code = [&](const std::function<void(v1::RecordConsentRequest&)>& spoil) {
    v1::RecordConsentRequest r;
    r.set_subject_id(id);
    r.set_kind(v1::MARKETING);
    r.set_channel(v1::SMS);
    r.set_granted(true);
    r.mutable_proof()->set_source(v1::WEB_FORM);
    r.mutable_proof()->set_document_version("v1");
    spoil(r);
    return CatchError([&] { registry_->RecordConsent(crm_, r); }).code();
  };
  EXPECT_EQ(code([](auto& r) { r.set_kind(v1::CONSENT_KIND_UNSPECIFIED); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_channel(v1::CHANNEL_UNSPECIFIED); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.mutable_proof()->clear_document_version(); }),
            ErrorCode::kInvalidArgument);  // S3: a grant needs its document version
  EXPECT_EQ(code([](auto& r) { r.mutable_proof()->set_source(v1::SOURCE_UNSPECIFIED); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.mutable_proof()->set_ip("999.1.1.1"); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) {
              r.mutable_proof()->mutable_occurred_at()->set_seconds(4102444800);  // 2100
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_subject_id("22222222-2222-2222-2222-222222222222"); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(Count("consents"), 0);
}

TEST_F(RegistryTest, SubscribingWithoutChannelConsentIsFailedPrecondition) {
  std::string id = NewSubject("pre@example.com", "+79161234500");
  Consent(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  Consent(id, v1::MARKETING, v1::EMAIL);
  v1::SetPreferencesRequest r;
  r.set_subject_id(id);
  auto* ok = r.add_changes();
  ok->set_topic("events");
  ok->set_channel(v1::EMAIL);
  ok->set_subscribed(false);
  auto* bad = r.add_changes();
  bad->set_topic("events");
  bad->set_channel(v1::SMS);
  bad->set_subscribed(true);
  r.mutable_proof()->set_source(v1::LINK);
  auto err = CatchError([&] { registry_->SetPreferences(crm_, r); });
  EXPECT_EQ(err.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(err.what(), HasSubstr("changes[1]"));
  EXPECT_EQ(Count("preferences"), 0);  // the valid change was not applied either
}

TEST_F(RegistryTest, PreferencesReportEveryTopicAndChannel) {
  std::string id = NewSubject("grid@example.com");
  ConsentAll(id, {v1::EMAIL});
  OptOutSubject(id, v1::TOPIC, v1::EMAIL, "special_offers");
  v1::GetPreferencesRequest g;
  g.set_subject_id(id);
  auto prefs = registry_->GetPreferences(crm_, g).preferences();
  EXPECT_EQ(prefs.size(), 4 * 3);  // 3 built-in marketing topics + webinars, 3 channels
  for (const auto& p : prefs) {
    SCOPED_TRACE(p.topic() + "/" + v1::Channel_Name(p.channel()));
    EXPECT_EQ(p.subscribed(), !(p.topic() == "special_offers" && p.channel() == v1::EMAIL));
    EXPECT_EQ(p.channel_consent(), p.channel() == v1::EMAIL);
    EXPECT_NE(p.topic(), "service");
  }
}

TEST_F(RegistryTest, SetPreferencesRejectsUnknownTopicChannelAndService) {
  std::string id = NewSubject("unknown@example.com");
  ConsentAll(id);
  for (auto [topic, channel, field] :
       std::vector<std::tuple<std::string, v1::Channel, std::string>>{
           {"no_such_topic", v1::EMAIL, "changes[0].topic"},
           {"events", v1::CHANNEL_UNSPECIFIED, "changes[0].channel"},
           {"service", v1::EMAIL, "changes[0].topic"}}) {
    v1::SetPreferencesRequest r;
    r.set_subject_id(id);
    auto* c = r.add_changes();
    c->set_topic(topic);
    c->set_channel(channel);
    r.mutable_proof()->set_source(v1::CRM);
    auto err = CatchError([&] { registry_->SetPreferences(crm_, r); });
    EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(err.what(), HasSubstr(field));
  }
}

TEST_F(RegistryTest, OptOutRejectsBadInput) {
  std::string id = NewSubject("oo@example.com");
  auto code = [&](const std::function<void(v1::OptOutRequest&)>& spoil) {
    v1::OptOutRequest r;
    r.set_subject_id(id);
    r.set_scope(v1::TOPIC);
    r.set_topic("events");
    r.mutable_proof()->set_source(v1::CRM);
    spoil(r);
    return CatchError([&] { registry_->OptOut(crm_, r); }).code();
  };
  EXPECT_EQ(code([](auto& r) { r.set_scope(v1::OPT_OUT_SCOPE_UNSPECIFIED); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_topic("nope"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_scope(v1::CHANNEL); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_address("bad address"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) {
              r.set_address("+79161234567");
              r.set_channel(v1::EMAIL);
            }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.clear_subject_id(); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_subject_id("33333333-3333-3333-3333-333333333333"); }),
            ErrorCode::kNotFound);
  EXPECT_EQ(Count("preferences"), 0);
  EXPECT_EQ(Count("suppressions"), 0);
}

TEST_F(RegistryTest, ListSubjectEventsPaginatesTheTrail) {
  std::string id = NewSubject("trail@example.com", "+79161230000");
  ConsentAll(id);
  OptOutSubject(id, v1::ALL_MARKETING);
  v1::ListSubjectEventsRequest r;
  r.set_subject_id(id);
  r.set_page_size(3);
  std::vector<std::string> types;
  while (true) {
    auto resp = registry_->ListSubjectEvents(crm_, r);
    for (const auto& e : resp.events()) {
      types.push_back(e.type());
      EXPECT_EQ(e.actor(), "crm-test");
    }
    if (resp.next_page_token().empty()) break;
    r.set_page_token(resp.next_page_token());
  }
  // created, 2 addresses, processing + 3 marketing consents, opt-out
  ASSERT_EQ(types.size(), 8u);
  EXPECT_EQ(types.front(), "subject.created");
  EXPECT_EQ(types.back(), "opt_out");
}

// One statement answers both "does the subject exist" and "is it blocked": an unknown subject
// is NOT_FOUND for every caller, a caller that may read blocked subjects included.
TEST_F(RegistryTest, ListSubjectEventsOfAnUnknownSubjectIsNotFoundForEveryCaller) {
  v1::ListSubjectEventsRequest r;
  r.set_subject_id("33333333-3333-3333-3333-333333333333");
  Caller privacy{"privacy-test", "req-2", true};
  EXPECT_EQ(CatchError([&] { registry_->ListSubjectEvents(crm_, r); }).code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(CatchError([&] { registry_->ListSubjectEvents(privacy, r); }).code(),
            ErrorCode::kNotFound);
  r.set_subject_id(NewSubject("known@example.com"));
  EXPECT_GT(registry_->ListSubjectEvents(privacy, r).events_size(), 0);
}

// 8 threads opt one subject in and out of one topic at random. Afterwards the state equals
// what the latest event says, and the events alternate: exactly one per actual change.
TEST_F(RegistryTest, ConcurrentOptInOutKeepsOneEventPerChange) {
  std::string id = NewSubject("race@example.com");
  ConsentAll(id);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(1234 + t);
      for (int i = 0; i < 25; ++i) {
        try {
          if (rng() % 2) {
            OptOutSubject(id, v1::TOPIC, v1::EMAIL, "events");
          } else {
            v1::SetPreferencesRequest r;
            r.set_subject_id(id);
            auto* c = r.add_changes();
            c->set_topic("events");
            c->set_channel(v1::EMAIL);
            c->set_subscribed(true);
            r.mutable_proof()->set_source(v1::LINK);
            registry_->SetPreferences(crm_, r);
          }
        } catch (const std::exception&) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  pqxx::connection conn(db_->dsn());
  pqxx::read_transaction txn(conn);
  auto rows = txn.exec(
      "SELECT type, coalesce((details->>'subscribed')::bool, false) FROM events"
      " WHERE subject_id = '" +
      id + "' AND type IN ('preference.changed', 'opt_out') ORDER BY id");
  ASSERT_GT(rows.size(), 1u);
  bool previous = true;  // subscribed before any change
  for (const auto& row : rows) {
    bool value = row[1].as<bool>();
    EXPECT_NE(value, previous) << "an event that changed nothing";
    previous = value;
  }
  bool latest = rows[rows.size() - 1][1].as<bool>();
  EXPECT_EQ(Check(id, "", v1::EMAIL, "events").allowed(), latest);
}

}  // namespace
}  // namespace herald::subscriptions
