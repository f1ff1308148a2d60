// What a recipient's link decides and changes, on a real database (STANDARDS E2, E3): the
// topic it acts on, who it may change, idempotent one-click, undo, the preference center's
// save and unsubscribe-all, and the proof every change records.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/validation/address.h"
#include "services/subscriptions/recipient_links.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::subscriptions {
namespace {

constexpr char kMessageId[] = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
constexpr auto kLifetime = std::chrono::hours(24 * 30);

class RecipientLinksTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (!registry_) return;  // no database: the fixture skipped
    links_ = std::make_unique<RecipientLinks>(signer_, *registry_, topics_, clock_, kLifetime);
  }

  std::string SubjectToken(const std::string& subject_id, const std::string& topic,
                           v1::Channel channel = v1::EMAIL) {
    crypto::LinkClaims c;
    c.subject_id = subject_id;
    c.topic = topic;
    c.channel = channel;
    c.message_id = kMessageId;
    c.issued_at = clock_.Now();
    return signer_.Sign(c);
  }

  std::string AddressToken(const std::string& email, const std::string& topic) {
    auto normalized = std::get<validation::NormalizedAddress>(validation::NormalizeEmail(email));
    crypto::LinkClaims c;
    c.address_key = hasher_->Current("email", normalized.match_key).hash;
    c.topic = topic;
    c.channel = v1::EMAIL;
    c.issued_at = clock_.Now();
    return signer_.Sign(c);
  }

  OpenedLink OpenOrFail(const std::string& token) {
    auto link = links_->Open(token);
    EXPECT_TRUE(link.has_value());
    return link ? *link : OpenedLink{};
  }

  bool Subscribed(const std::string& subject_id, v1::Channel channel, const std::string& topic) {
    v1::GetPreferencesRequest g;
    g.set_subject_id(subject_id);
    const auto prefs = registry_->GetPreferences(crm_, g);
    for (const auto& p : prefs.preferences()) {
      if (p.channel() == channel && p.topic() == topic) return p.subscribed();
    }
    ADD_FAILURE() << "no preference " << topic;
    return false;
  }

  const LinkVisitor visitor_{"203.0.113.7",
                             "Mail\x01"
                             "Client/1.0"};
  crypto::LinkSigner signer_{crypto::KeyRing::Parse(kKeys)};
  std::unique_ptr<RecipientLinks> links_;
};

TEST_F(RecipientLinksTest, OpensOnlyGenuineTokensAndDecidesTheTopic) {
  std::string id = NewSubject("ayla@example.org");
  EXPECT_FALSE(links_->Open("not-a-token"));
  std::string token = SubjectToken(id, "webinars");
  std::string tampered = token;
  tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(links_->Open(tampered));
  EXPECT_FALSE(links_->Open(token.substr(0, token.size() - 2)));

  OpenedLink link = OpenOrFail(token);
  EXPECT_EQ(link.topic, "webinars");
  EXPECT_TRUE(link.for_subject());
  EXPECT_TRUE(link.manages_preferences());
  // Not marketing, unknown now, or empty: the link acts on all marketing.
  EXPECT_EQ(OpenOrFail(SubjectToken(id, "billing")).topic, "");
  EXPECT_EQ(OpenOrFail(SubjectToken(id, "retired_topic")).topic, "");
  EXPECT_EQ(OpenOrFail(SubjectToken(id, "")).topic, "");
  EXPECT_EQ(links_->SubjectLocale(link), "az");
}

TEST_F(RecipientLinksTest, OldTokensStillUnsubscribeButManageNothing) {
  std::string id = NewSubject("old@example.org");
  ConsentAll(id);
  std::string token = SubjectToken(id, "product_news");
  clock_.Advance(kLifetime + std::chrono::seconds(1));
  OpenedLink link = OpenOrFail(token);
  EXPECT_TRUE(link.expired);
  EXPECT_FALSE(link.manages_preferences());
  EXPECT_TRUE(links_->Unsubscribe(link, visitor_));
  EXPECT_EQ(Check(id, "", v1::EMAIL, "product_news").reason(), v1::UNSUBSCRIBED_TOPIC);
  Error e = CatchError([&] { links_->Preferences(link); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  e = CatchError(
      [&] { links_->ChangePreferences(link, PreferenceAction::kUnsubscribeAll, {}, visitor_); });
  EXPECT_EQ(e.code(), ErrorCode::kFailedPrecondition);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "events").allowed());
  // E8: what the old link's own page has just done may be undone; whether this is that page,
  // in its session and window, is the pages' check (RecipientPages), not the link's.
  EXPECT_EQ(links_->Undo(link, visitor_, {"product_news"}, clock_.Now()), UndoOutcome::kUndone);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "product_news").allowed());
}

// E8: an all-marketing unsubscribe's undo brings back only the topics it turned off, never one
// refused before; and a refusal recorded after the unsubscribe stands.
TEST_F(RecipientLinksTest, E8_UndoRestoresOnlyWhatTheUnsubscribeTurnedOff) {
  std::string id = NewSubject("undo@example.org");
  ConsentAll(id);
  EXPECT_TRUE(links_->Unsubscribe(OpenOrFail(SubjectToken(id, "special_offers")), visitor_));
  clock_.Advance(std::chrono::seconds(5));
  OpenedLink all = OpenOrFail(SubjectToken(id, ""));
  std::vector<std::string> on = links_->SubscribedTopics(all);
  EXPECT_EQ(std::count(on.begin(), on.end(), "special_offers"), 0) << "refused before";
  EXPECT_EQ(std::count(on.begin(), on.end(), "product_news"), 1);
  EXPECT_TRUE(links_->Unsubscribe(all, visitor_));
  const Timestamp unsubscribed = clock_.Now();
  clock_.Advance(std::chrono::seconds(5));
  EXPECT_EQ(links_->Undo(all, visitor_, on, unsubscribed), UndoOutcome::kUndone);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "product_news").allowed());
  EXPECT_FALSE(Check(id, "", v1::EMAIL, "special_offers").allowed())
      << "the earlier refusal stands";
  EXPECT_FALSE(Subscribed(id, v1::EMAIL, "special_offers"));

  // Unsubscribed again, then a refusal elsewhere: the first page's undo is refused.
  on = links_->SubscribedTopics(all);
  EXPECT_TRUE(links_->Unsubscribe(all, visitor_));
  const Timestamp again = clock_.Now();
  clock_.Advance(std::chrono::seconds(5));
  OpenedLink events = OpenOrFail(SubjectToken(id, "events"));
  EXPECT_EQ(links_->Undo(events, visitor_, {"events"}, again), UndoOutcome::kUndone);
  EXPECT_EQ(links_->Undo(all, visitor_, on, again), UndoOutcome::kChangedSince)
      << "the undo above is a change recorded after the unsubscribe";
  EXPECT_FALSE(Check(id, "", v1::EMAIL, "product_news").allowed());
}

// E8: a refusal recorded while the undo runs stands too. The opt-out holds the subject's gate
// row, uncommitted, while the undo starts; once the undo waits for that row the opt-out
// commits, and the undo must see it (a check read before the wait would not).
TEST_F(RecipientLinksTest, E8_ARefusalCommittedWhileTheUndoWaitsStands) {
  std::string id = NewSubject("race@example.org");
  ConsentAll(id);
  OpenedLink all = OpenOrFail(SubjectToken(id, ""));
  const std::vector<std::string> on = links_->SubscribedTopics(all);
  ASSERT_FALSE(on.empty());
  EXPECT_TRUE(links_->Unsubscribe(all, visitor_));
  const Timestamp unsubscribed = clock_.Now();
  clock_.Advance(std::chrono::seconds(5));

  auto conn = pool_->Acquire();
  auto refusal = std::make_unique<pqxx::work>(conn->raw());
  v1::OptOutRequest o;
  o.set_subject_id(id);
  o.set_scope(v1::ALL_MARKETING);
  o.mutable_proof()->set_source(v1::CRM);
  registry_->OptOutWithin(*conn, *refusal, crm_, o, clock_.Now());

  auto undo =
      std::async(std::launch::async, [&] { return links_->Undo(all, visitor_, on, unsubscribed); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::stoll(db_->Scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                "current_database() AND wait_event_type = 'Lock'")) == 0 &&
         undo.wait_for(std::chrono::milliseconds(0)) != std::future_status::ready &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_NE(undo.wait_for(std::chrono::milliseconds(0)), std::future_status::ready)
      << "the undo finished while the subject's gate row was held: it took no lock";
  refusal->commit();
  refusal.reset();
  EXPECT_EQ(undo.get(), UndoOutcome::kChangedSince);
  for (const auto& topic : on) {
    EXPECT_FALSE(Subscribed(id, v1::EMAIL, topic)) << topic;
    EXPECT_FALSE(Check(id, "", v1::EMAIL, topic).allowed()) << topic;
  }
}

// The conditional change takes no idempotency key: a repeat would find its own change.
TEST_F(RecipientLinksTest, TheUndosConditionalChangeRefusesAnIdempotencyKey) {
  std::string id = NewSubject("keyed@example.org");
  ConsentAll(id);
  v1::SetPreferencesRequest s;
  s.set_subject_id(id);
  s.set_idempotency_key("undo-1");
  auto* c = s.add_changes();
  c->set_topic("product_news");
  c->set_channel(v1::EMAIL);
  c->set_subscribed(false);
  s.mutable_proof()->set_source(v1::LINK);
  Error e = CatchError([&] { registry_->SetPreferencesUnlessChangedSince(crm_, s, clock_.Now()); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_TRUE(Subscribed(id, v1::EMAIL, "product_news")) << "nothing changed";
}

// An address-only link has no subject a preference could be set on: no undo.
TEST_F(RecipientLinksTest, E8_AddressOnlyLinkHasNoUndo) {
  OpenedLink link = OpenOrFail(AddressToken("nobody@example.org", ""));
  EXPECT_FALSE(link.for_subject());
  EXPECT_EQ(links_->Undo(link, visitor_, {"product_news"}, clock_.Now()), UndoOutcome::kNotAllowed);
}

TEST_F(RecipientLinksTest, OneClickUnsubscribesTheTopicOnTheChannelOnce) {
  std::string id = NewSubject("topic@example.org", "+994501234567");
  ConsentAll(id);
  OpenedLink link = OpenOrFail(SubjectToken(id, "webinars"));
  EXPECT_TRUE(links_->Unsubscribe(link, visitor_));
  EXPECT_FALSE(links_->Unsubscribe(link, visitor_));  // idempotent (E2)
  EXPECT_EQ(Check(id, "", v1::EMAIL, "webinars").reason(), v1::UNSUBSCRIBED_TOPIC);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "product_news").allowed());
  EXPECT_TRUE(Check(id, "", v1::SMS, "webinars").allowed());
}

TEST_F(RecipientLinksTest, AllMarketingLinkUnsubscribesTheChannel) {
  std::string id = NewSubject("channel@example.org", "+994501234568");
  ConsentAll(id);
  EXPECT_TRUE(links_->Unsubscribe(OpenOrFail(SubjectToken(id, "billing")), visitor_));
  EXPECT_EQ(Check(id, "", v1::EMAIL, "product_news").reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_EQ(Check(id, "", v1::EMAIL, "webinars").reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_TRUE(Check(id, "", v1::SMS, "product_news").allowed());
}

TEST_F(RecipientLinksTest, AnUnknownSubjectsRequestIsHonouredWithoutAChange) {
  OpenedLink link = OpenOrFail(SubjectToken("7d1f3c2a-9b8e-4f6d-a5c4-3b2a1f0e9d8c", ""));
  EXPECT_FALSE(links_->Unsubscribe(link, visitor_));
  EXPECT_EQ(links_->SubjectLocale(link), "");
}

TEST_F(RecipientLinksTest, AddressLinkSuppressesTheBareAddress) {
  OpenedLink link = OpenOrFail(AddressToken("Bare@Example.org", ""));
  EXPECT_FALSE(link.for_subject());
  EXPECT_FALSE(link.manages_preferences());
  EXPECT_EQ(links_->SubjectLocale(link), "");
  EXPECT_TRUE(links_->Unsubscribe(link, visitor_));
  EXPECT_FALSE(links_->Unsubscribe(link, visitor_));
  // A subject who later gives this address is still not mailed at it.
  std::string id = NewSubject("bare@example.org");
  ConsentAll(id);
  v1::Decision d = Check(id, "bare@example.org", v1::EMAIL);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(links_->Undo(link, visitor_, {"product_news"}, clock_.Now()), UndoOutcome::kNotAllowed);
}

TEST_F(RecipientLinksTest, UndoSubscribesAgainOnlyWhereThereIsConsent) {
  std::string id = NewSubject("undo@example.org", "+994501234569");
  ConsentAll(id, {v1::EMAIL});
  OpenedLink email = OpenOrFail(SubjectToken(id, "webinars"));
  ASSERT_TRUE(links_->Unsubscribe(email, visitor_));
  EXPECT_EQ(links_->Undo(email, visitor_, {"webinars"}, clock_.Now()), UndoOutcome::kUndone);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "webinars").allowed());

  // An all-marketing link's undo subscribes the topics its unsubscribe turned off again.
  OpenedLink all = OpenOrFail(SubjectToken(id, ""));
  std::vector<std::string> on = links_->SubscribedTopics(all);
  ASSERT_TRUE(links_->Unsubscribe(all, visitor_));
  EXPECT_FALSE(Subscribed(id, v1::EMAIL, "events"));
  EXPECT_EQ(links_->Undo(all, visitor_, on, clock_.Now()), UndoOutcome::kUndone);
  EXPECT_TRUE(Subscribed(id, v1::EMAIL, "events"));
  EXPECT_TRUE(Subscribed(id, v1::EMAIL, "product_news"));

  OpenedLink sms = OpenOrFail(SubjectToken(id, "webinars", v1::SMS));
  EXPECT_EQ(links_->Undo(sms, visitor_, {"webinars"}, clock_.Now()), UndoOutcome::kNoConsent);
}

TEST_F(RecipientLinksTest, SaveChangesOnlyConsentedTogglesAndRecordsTheLinkProof) {
  std::string id = NewSubject("prefs@example.org", "+994501234570");
  ConsentAll(id, {v1::EMAIL});
  OpenedLink link = OpenOrFail(SubjectToken(id, "product_news"));
  auto before = links_->Preferences(link);
  ASSERT_GT(before.preferences_size(), 0);
  // Everything on EMAIL but webinars stays on; SMS has no consent, so "on" there is ignored,
  // and an unknown topic is ignored.
  std::set<PreferenceKey> wanted;
  for (const auto& p : before.preferences()) {
    if (p.channel() == v1::EMAIL && p.topic() != "webinars") {
      wanted.emplace(Channel::kEmail, p.topic());
    }
  }
  wanted.emplace(Channel::kSms, "webinars");
  wanted.emplace(Channel::kEmail, "no_such_topic");
  auto out = links_->ChangePreferences(link, PreferenceAction::kSave, wanted, visitor_);
  EXPECT_EQ(out.changes, 1);
  EXPECT_FALSE(Subscribed(id, v1::EMAIL, "webinars"));
  EXPECT_TRUE(Subscribed(id, v1::EMAIL, "events"));
  EXPECT_EQ(Check(id, "", v1::EMAIL, "webinars").reason(), v1::UNSUBSCRIBED_TOPIC);
  bool reported = false;
  for (const auto& p : out.preferences.preferences()) {
    if (p.channel() == v1::EMAIL && p.topic() == "webinars") reported = !p.subscribed();
  }
  EXPECT_TRUE(reported) << "the outcome carries the preferences after the change";
  // Saving the same toggles again changes nothing.
  EXPECT_EQ(links_->ChangePreferences(link, PreferenceAction::kSave, wanted, visitor_).changes, 0);

  v1::ListSubjectEventsRequest l;
  l.set_subject_id(id);
  auto events = registry_->ListSubjectEvents(crm_, l);
  bool found = false;
  for (const auto& e : events.events()) {
    if (e.source() != v1::LINK) continue;
    found = true;
    auto details = nlohmann::json::parse(e.details_json());
    auto personal = nlohmann::json::parse(e.personal_json());
    EXPECT_EQ(details.value("message_id", ""), kMessageId);
    EXPECT_EQ(details.value("form_id", ""), "recipient-link");
    EXPECT_EQ(personal.value("ip", ""), "203.0.113.7");
    EXPECT_EQ(personal.value("user_agent", ""), "Mail?Client/1.0");  // control byte replaced
  }
  EXPECT_TRUE(found);
}

TEST_F(RecipientLinksTest, UnsubscribeAllOptsOutOfAllMarketing) {
  std::string id = NewSubject("all@example.org", "+994501234571");
  ConsentAll(id);
  OpenedLink link = OpenOrFail(SubjectToken(id, "webinars"));
  auto out = links_->ChangePreferences(link, PreferenceAction::kUnsubscribeAll, {}, visitor_);
  EXPECT_EQ(out.changes, 0);
  for (auto ch : {v1::EMAIL, v1::SMS, v1::CALL}) {
    EXPECT_EQ(Check(id, "", ch, "product_news").reason(), v1::UNSUBSCRIBED_ALL);
  }
}

}  // namespace
}  // namespace herald::subscriptions
