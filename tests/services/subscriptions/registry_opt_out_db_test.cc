// OptOut by subject on a real PostgreSQL: one statement per call (B3's round trips), and
// everything the separate statements did still holds: the idempotent answer, the refusals
// rolling the call back, the event and the preference it writes.
#include <gmock/gmock.h>

#include <mutex>

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

}  // namespace
}  // namespace herald::subscriptions
