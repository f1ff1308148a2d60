// OptOut by subject and by bare address, and SetPreferences, on a real PostgreSQL: one
// statement per call (B3's round trips), and everything the separate statements did still
// holds: the idempotent answer, the refusals rolling the call back, the event and the
// preference or suppression it writes, the CRM mark, the suppression ring.
#include <gmock/gmock.h>

#include <mutex>

#include "common/crypto/hash.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::subscriptions {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class OptOutTest : public RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (!db_) return;
    // The same registry on a pool that records every statement its connections run.
    counted_pool_ = std::make_unique<db::Pool>(db_->dsn(), 2, std::chrono::seconds(10),
                                               [this](const char* name, std::chrono::nanoseconds) {
                                                 std::lock_guard<std::mutex> lock(mu_);
                                                 statements_.push_back(name);
                                               });
    counted_ =
        std::make_unique<SubscriptionRegistry>(*counted_pool_, clock_, topics_, *hasher_, *gate_);
  }

  std::vector<std::string> TakeStatements() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(statements_, {});
  }

  static v1::OptOutRequest AllMarketing(const std::string& subject_id, const std::string& key) {
    v1::OptOutRequest r;
    r.set_subject_id(subject_id);
    r.set_scope(v1::ALL_MARKETING);
    r.set_idempotency_key(key);
    r.mutable_proof()->set_source(v1::CRM);
    return r;
  }

  static v1::OptOutRequest ByAddress(const std::string& address, const std::string& key) {
    v1::OptOutRequest r;
    r.set_address(address);
    r.set_scope(v1::ALL_MARKETING);
    r.set_idempotency_key(key);
    r.mutable_proof()->set_source(v1::LINK);
    return r;
  }

  std::unique_ptr<db::Pool> counted_pool_;
  std::unique_ptr<SubscriptionRegistry> counted_;
  std::mutex mu_;
  std::vector<std::string> statements_;
};

TEST_F(OptOutTest, AnOptOutBySubjectIsOneStatementAndSoIsItsRepeat) {
  std::string id = NewSubject("one-trip@example.com");
  ConsentAll(id);
  TakeStatements();

  auto first = counted_->OptOut(crm_, AllMarketing(id, "unsubscribe-1"));
  EXPECT_TRUE(first.changed());
  EXPECT_THAT(TakeStatements(), ElementsAre("opt_out.subject"));
  EXPECT_EQ(Check(id, "one-trip@example.com", v1::EMAIL).reason(), v1::UNSUBSCRIBED_ALL);

  // The repeat gets the first call's answer (changed), not a fresh one, and writes nothing.
  int64_t events = Count("events");
  auto repeat = counted_->OptOut(crm_, AllMarketing(id, "unsubscribe-1"));
  EXPECT_TRUE(repeat.changed());
  EXPECT_THAT(TakeStatements(), ElementsAre("opt_out.subject"));
  EXPECT_EQ(Count("events"), events);

  // Positive control: the same opt-out under a new key finds nothing left to change.
  EXPECT_FALSE(counted_->OptOut(crm_, AllMarketing(id, "unsubscribe-2")).changed());
  EXPECT_EQ(Count("events"), events);
}

TEST_F(OptOutTest, TheSameKeyWithAnotherRequestIsAlreadyExists) {
  std::string id = NewSubject("key-reuse@example.com");
  ConsentAll(id);
  counted_->OptOut(crm_, AllMarketing(id, "k"));
  auto other = AllMarketing(id, "k");
  other.set_scope(v1::CHANNEL);
  other.set_channel(v1::SMS);
  auto err = CatchError([&] { counted_->OptOut(crm_, other); });
  EXPECT_EQ(err.code(), ErrorCode::kAlreadyExists);
  EXPECT_THAT(err.what(), HasSubstr("idempotency_key"));
}

TEST_F(OptOutTest, ARefusedOptOutLeavesNoClaimBehind) {
  auto missing = CatchError(
      [&] { counted_->OptOut(crm_, AllMarketing("00000000-0000-4000-8000-000000000000", "k")); });
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.what(), HasSubstr("subject_id"));
  EXPECT_EQ(Count("idempotency_keys"), 0);

  // The key is free: a different request may use it.
  std::string id = NewSubject("after-refusal@example.com");
  ConsentAll(id);
  EXPECT_TRUE(counted_->OptOut(crm_, AllMarketing(id, "k")).changed());
}

TEST_F(OptOutTest, TheInFlightCountAndTheEventMatchTheSeparateStatements) {
  std::string id = NewSubject("in-flight@example.com", "+994501234567");
  ConsentAll(id);
  auto r = AllMarketing(id, "");
  r.set_scope(v1::TOPIC);
  r.set_topic("webinars");
  r.set_channel(v1::SMS);
  r.mutable_proof()->set_ip("192.0.2.7");
  auto resp = counted_->OptOut(crm_, r);
  EXPECT_TRUE(resp.changed());
  EXPECT_EQ(resp.in_flight_messages(), 0);
  EXPECT_EQ(db_->Scalar("SELECT details->>'topic' || '/' || (details->>'channel') FROM events "
                        "WHERE type = 'opt_out' AND subject_id = '" +
                        id + "'"),
            "webinars/SMS");
  EXPECT_EQ(db_->Scalar("SELECT data->>'ip' FROM event_personal p JOIN events e "
                        "ON e.id = p.event_id WHERE e.type = 'opt_out'"),
            "192.0.2.7");
  EXPECT_EQ(Check(id, "+994501234567", v1::SMS, "webinars").reason(), v1::UNSUBSCRIBED_TOPIC);
  EXPECT_TRUE(Check(id, "+994501234567", v1::SMS, "product_news").allowed());
}

TEST_F(OptOutTest, AnOptOutByAddressIsOneStatementAndSoIsItsRepeat) {
  std::string id = NewSubject("bare@example.com");
  ConsentAll(id);
  ASSERT_TRUE(Check(id, "bare@example.com", v1::EMAIL).allowed());
  TakeStatements();

  auto first = counted_->OptOut(crm_, ByAddress("Bare@Example.com", "stop-1"));
  EXPECT_TRUE(first.changed());
  EXPECT_EQ(first.in_flight_messages(), 0);
  EXPECT_THAT(TakeStatements(), ElementsAre("opt_out.address"));
  EXPECT_EQ(Check(id, "bare@example.com", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(db_->Scalar("SELECT key_id || '/' || reason || '/' || channel FROM suppressions"),
            "k2/1/0");  // the newest key, UNSUBSCRIBED, every channel
  EXPECT_EQ(db_->Scalar("SELECT e.details->>'kind' || '/' || (p.data->>'address') FROM events e"
                        " JOIN event_personal p ON p.event_id = e.id"
                        " WHERE e.type = 'suppression.added' AND e.subject_id IS NULL"),
            "email/Bare@example.com");  // the address as given, its domain in lower case

  // The repeat gets the first call's answer and writes nothing.
  int64_t events = Count("events");
  auto repeat = counted_->OptOut(crm_, ByAddress("Bare@Example.com", "stop-1"));
  EXPECT_TRUE(repeat.changed());
  EXPECT_THAT(TakeStatements(), ElementsAre("opt_out.address"));
  EXPECT_EQ(Count("events"), events);
  EXPECT_EQ(Count("suppressions"), 1);

  // Under a new key the suppression already covers it: nothing changes.
  EXPECT_FALSE(counted_->OptOut(crm_, ByAddress("bare@example.com", "stop-2")).changed());
  EXPECT_EQ(Count("events"), events);
  EXPECT_EQ(Count("suppressions"), 1);
}

TEST_F(OptOutTest, AnAddressKeyReusedWithAnotherRequestIsAlreadyExistsAndWritesNothing) {
  counted_->OptOut(crm_, ByAddress("first@example.com", "k"));
  int64_t events = Count("events");
  auto err = CatchError([&] { counted_->OptOut(crm_, ByAddress("second@example.com", "k")); });
  EXPECT_EQ(err.code(), ErrorCode::kAlreadyExists);
  EXPECT_THAT(err.what(), HasSubstr("idempotency_key"));
  EXPECT_EQ(Count("events"), events);
  EXPECT_EQ(Count("suppressions"), 1);
  // A bad address is refused before anything is claimed.
  auto bad = CatchError([&] { counted_->OptOut(crm_, ByAddress("not an address", "k2")); });
  EXPECT_EQ(bad.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(std::stoll(db_->Scalar("SELECT count(*) FROM idempotency_keys WHERE key = 'k2'")), 0);
}

TEST_F(OptOutTest, AnAddressOptOutMarksTheAddresssLinkedOwnersForTheCrm) {
  std::string linked = NewSubject("owned@example.com", "", "6f1c2d3e-1111-4222-8333-944455556666");
  std::string other =
      NewSubject("elsewhere@example.com", "", "7a1c2d3e-1111-4222-8333-944455556666");
  db_->Exec("DELETE FROM crm_outbox");
  EXPECT_TRUE(counted_->OptOut(crm_, ByAddress("OWNED@example.com", "")).changed());
  EXPECT_EQ(db_->Scalar("SELECT string_agg(subject_id::text, ',') FROM crm_outbox"), linked);
  EXPECT_NE(linked, other);
}

TEST_F(OptOutTest, ASuppressionUnderTheOlderKeyAlreadyCoversTheAddress) {
  // Written while "k1" was the newest key: the ring still matches it.
  auto hashes = hasher_->All("email", "ring@example.com");
  ASSERT_EQ(hashes.size(), 2u);
  const auto& older = hashes[0].key_id == "k1" ? hashes[0] : hashes[1];
  ASSERT_EQ(older.key_id, "k1");
  db_->Exec(
      "WITH e AS (INSERT INTO events (type, actor, source, occurred_at, recorded_at, details)"
      " VALUES ('suppression_added', 'test', 1, now(), now(), '{}') RETURNING id)"
      " INSERT INTO suppressions (key_id, address_key, channel, topic, reason, source,"
      " created_at, event_id) SELECT 'k1', decode('" +
      crypto::ToHex(older.hash) + "', 'hex'), 0, '', 1, 1, now(), id FROM e");
  EXPECT_FALSE(counted_->OptOut(crm_, ByAddress("ring@example.com", "")).changed());
  EXPECT_EQ(Count("suppressions"), 1);
  // Positive control: another address is not covered by it.
  EXPECT_TRUE(counted_->OptOut(crm_, ByAddress("other-ring@example.com", "")).changed());
  EXPECT_EQ(Count("suppressions"), 2);
}

v1::SetPreferencesRequest Changes(
    const std::string& subject_id, const std::string& key,
    std::initializer_list<std::tuple<const char*, v1::Channel, bool>> changes) {
  v1::SetPreferencesRequest r;
  r.set_subject_id(subject_id);
  r.set_idempotency_key(key);
  for (const auto& [topic, channel, subscribed] : changes) {
    auto* c = r.add_changes();
    c->set_topic(topic);
    c->set_channel(channel);
    c->set_subscribed(subscribed);
  }
  r.mutable_proof()->set_source(v1::WEB_FORM);
  r.mutable_proof()->set_form_id("preference-center");
  r.mutable_proof()->set_ip("192.0.2.9");
  return r;
}

bool Subscribed(const v1::SetPreferencesResponse& resp, const std::string& topic,
                v1::Channel channel) {
  for (const auto& p : resp.preferences()) {
    if (p.topic() == topic && p.channel() == channel) return p.subscribed();
  }
  ADD_FAILURE() << "no preference for " << topic;
  return false;
}

TEST_F(OptOutTest, SetPreferencesIsOneStatementAndSoIsItsRepeat) {
  std::string id = NewSubject("prefs@example.com", "+994501234568");
  ConsentAll(id);
  TakeStatements();
  int64_t events = Count("events");

  // Two changes that change something and one that does not (subscribed already: no event).
  auto r = Changes(
      id, "prefs-1",
      {{"webinars", v1::EMAIL, false}, {"webinars", v1::SMS, false}, {"webinars", v1::CALL, true}});
  auto first = counted_->SetPreferences(crm_, r);
  EXPECT_THAT(TakeStatements(), ElementsAre("preferences.set"));
  EXPECT_FALSE(Subscribed(first, "webinars", v1::EMAIL));
  EXPECT_FALSE(Subscribed(first, "webinars", v1::SMS));
  EXPECT_TRUE(Subscribed(first, "webinars", v1::CALL));
  EXPECT_EQ(Count("events"), events + 2);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(e.details->>'channel' || '/' ||"
                        " (e.details->>'form_id') || '/' || (p.data->>'ip'), ',' ORDER BY e.id)"
                        " FROM events e JOIN event_personal p ON p.event_id = e.id"
                        " WHERE e.type = 'preference.changed'"),
            "EMAIL/preference-center/192.0.2.9,SMS/preference-center/192.0.2.9");
  EXPECT_EQ(Check(id, "prefs@example.com", v1::EMAIL, "webinars").reason(), v1::UNSUBSCRIBED_TOPIC);

  // The repeat answers from the rows as they are, writing nothing.
  auto repeat = counted_->SetPreferences(crm_, r);
  EXPECT_THAT(TakeStatements(), ElementsAre("preferences.set"));
  EXPECT_EQ(repeat.SerializeAsString(), first.SerializeAsString());
  EXPECT_EQ(Count("events"), events + 2);

  // A later change sees the earlier ones: subscribing again writes its event.
  auto again = counted_->SetPreferences(crm_, Changes(id, "", {{"webinars", v1::EMAIL, true}}));
  EXPECT_TRUE(Subscribed(again, "webinars", v1::EMAIL));
  EXPECT_EQ(Count("events"), events + 3);
}

TEST_F(OptOutTest, SetPreferencesRefusalsRollTheWholeCallBack) {
  std::string id = NewSubject("prefs-refused@example.com");
  ConsentAll(id, {v1::EMAIL});
  int64_t events = Count("events");
  // The second change subscribes on a channel without consent: neither is applied, the
  // message names it, and the key is free again.
  auto refused = CatchError([&] {
    counted_->SetPreferences(
        crm_, Changes(id, "k", {{"webinars", v1::EMAIL, false}, {"webinars", v1::SMS, true}}));
  });
  EXPECT_EQ(refused.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(refused.what(), HasSubstr("changes[1]: no marketing consent"));
  EXPECT_EQ(Count("events"), events);
  EXPECT_EQ(Count("preferences"), 0);
  EXPECT_EQ(Count("idempotency_keys"), 0);

  auto missing = CatchError([&] {
    counted_->SetPreferences(crm_, Changes("00000000-0000-4000-8000-000000000000", "k",
                                           {{"webinars", v1::EMAIL, false}}));
  });
  EXPECT_EQ(missing.code(), ErrorCode::kNotFound);
  EXPECT_THAT(missing.what(), HasSubstr("subject_id"));

  // Positive control: the key was left free.
  counted_->SetPreferences(crm_, Changes(id, "k", {{"webinars", v1::EMAIL, false}}));
  EXPECT_EQ(Count("events"), events + 1);
  auto reused = CatchError([&] {
    counted_->SetPreferences(crm_, Changes(id, "k", {{"webinars", v1::EMAIL, true}}));
  });
  EXPECT_EQ(reused.code(), ErrorCode::kAlreadyExists);
}

}  // namespace
}  // namespace herald::subscriptions
