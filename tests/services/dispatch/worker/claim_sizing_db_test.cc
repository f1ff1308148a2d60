// FAULT-10 (tests/fault_matrix/README.md): a worker's claim is sized by the tokens its rate
// limits can give within the lease. A message claimed beyond them would wait for its token
// until its lease was nearly over and be handed back unsent (or, without the margin, be sent
// after another worker could have reclaimed it): it must not be claimed at all, and stays
// queued, untouched, for a later claim.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/crypto/key_ring.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "common/grpc/caller.h"
#include "services/dispatch/campaign_service.h"
#include "services/dispatch/message_service.h"
#include "services/dispatch/outbox/outbox.h"
#include "services/dispatch/providers/provider_registry.h"
#include "services/dispatch/worker/dispatch_worker.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/registry.h"
#include "tests/support/test_database.h"

namespace herald::dispatch {
namespace {

// A relay that takes every message at once and remembers which.
class AcceptingRelay final : public EmailTransport {
 public:
  DeliveryResult Send(const EmailMessage& message) override {
    std::lock_guard lock(mu_);
    ids_.push_back(message.message_id);
    DeliveryResult r;
    r.outcome = DeliveryOutcome::kSent;
    r.code = 250;
    return r;
  }
  size_t count() const {
    std::lock_guard lock(mu_);
    return ids_.size();
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> ids_;
};

class ClaimSizingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = herald::testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    pool_ = std::make_unique<db::Pool>(db_->dsn(), 10, std::chrono::seconds(10));
    hasher_ = std::make_unique<crypto::SuppressionHasher>(crypto::KeyRing::Parse(
        "k1:1111111111111111111111111111111111111111111111111111111111111111"));
    gate_ = std::make_unique<subscriptions::EligibilityGate>(*hasher_, "RU",
                                                             std::vector<std::string>{"RU"});
    registry_ = std::make_unique<subscriptions::SubscriptionRegistry>(*pool_, system_, topics_,
                                                                      *hasher_, *gate_);
  }

  // A subject with one e-mail address and consent to processing and to e-mail marketing.
  std::string ConsentedSubject(const std::string& email) {
    v1::UpsertSubjectRequest u;
    u.set_surname("Məmmədov");
    u.set_given_name("Əli");
    u.set_locale("az");
    u.add_emails(email);
    std::string id = registry_->UpsertSubject(crm_, u).subject().id();
    for (auto [kind, channel] : {std::pair{v1::PROCESSING, v1::CHANNEL_UNSPECIFIED},
                                 std::pair{v1::MARKETING, v1::EMAIL}}) {
      v1::RecordConsentRequest r;
      r.set_subject_id(id);
      r.set_kind(kind);
      r.set_channel(channel);
      r.set_granted(true);
      r.mutable_proof()->set_source(v1::WEB_FORM);
      r.mutable_proof()->set_form_id("signup");
      r.mutable_proof()->set_document_version("policy-2025-09");
      registry_->RecordConsent(crm_, r);
    }
    return id;
  }

  // A relay limited to `rate` a second with `burst`; a worker of one thread and one lane with
  // a lease of `lease` (its margin is half of it: sends may start in the first half).
  void Build(double rate, double burst, std::chrono::seconds lease) {
    auto relay = std::make_unique<AcceptingRelay>();
    relay_ = relay.get();
    providers_ = std::make_unique<ProviderRegistry>(std::vector<ProviderConfig>{},
                                                    std::vector<std::string>{"RU"}, system_);
    ProviderConfig config;
    config.name = "relay";
    config.kind = "smtp";
    config.country = "RU";
    config.rate_per_second = rate;
    config.burst = burst;
    providers_->AddEmail(config, std::move(relay));
    outbox_ = std::make_unique<Outbox>(
        *pool_, system_, *gate_, topics_,
        [this](Channel ch, bool foreign_ok) { return providers_->Pick(ch, foreign_ok); },
        RetryPolicy{});
    campaigns_ = std::make_unique<CampaignService>(*pool_, system_, topics_, *gate_);
    messages_ = std::make_unique<MessageService>(*pool_, system_, topics_, *gate_);
    WorkerOptions o;
    o.threads = 1;
    o.batch_size = 100;
    o.send_concurrency = 1;
    o.lease = lease;
    o.from_address = "billing@herald.test";
    o.name = "sizing";
    worker_ = std::make_unique<DispatchWorker>(*outbox_, *providers_, *campaigns_, *registry_,
                                               system_, o);
  }

  // `n` service e-mails, each to a consenting subject of its own.
  void Queue(int n) {
    for (int i = 0; i < n; ++i) {
      std::string id = ConsentedSubject("sizing" + std::to_string(i) + "@example.com");
      v1::SendRequest r;
      r.set_idempotency_key("sizing-" + std::to_string(i));
      r.mutable_recipient()->set_subject_id(id);
      r.set_channel(v1::EMAIL);
      r.set_topic("service");
      r.mutable_content()->set_subject("Invoice");
      r.mutable_content()->set_text("Your invoice");
      ASSERT_EQ(messages_->Send(crm_, r).status(), v1::QUEUED);
    }
  }

  int64_t InStatus(const std::string& status) {
    return std::stoll(db_->Scalar("SELECT count(*) FROM messages WHERE status = '" + status + "'"));
  }

  SystemClock system_;
  TopicCatalog topics_{std::vector<TopicConfig>{}};  // the built-in topics
  Caller crm_{"crm-test", "claim-sizing"};
  std::unique_ptr<herald::testing::TestDatabase> db_;
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<crypto::SuppressionHasher> hasher_;
  std::unique_ptr<subscriptions::EligibilityGate> gate_;
  std::unique_ptr<subscriptions::SubscriptionRegistry> registry_;
  AcceptingRelay* relay_ = nullptr;
  std::unique_ptr<ProviderRegistry> providers_;
  std::unique_ptr<Outbox> outbox_;
  std::unique_ptr<CampaignService> campaigns_;
  std::unique_ptr<MessageService> messages_;
  std::unique_ptr<DispatchWorker> worker_;
};

// One message a second, a lease of 4 s: sends may start for 2 s, in which one token is there
// and about two more fall due. A claim of all eight would send two or three and hand the rest
// back when their lease ran short; the claim takes only what can go, and all of it goes.
TEST_F(ClaimSizingTest, ClaimTakesNoMoreThanTheRateLetsGoWithinTheLease) {
  if (IsSkipped() || HasFatalFailure()) return;
  Build(/*rate=*/1, /*burst=*/1, std::chrono::seconds(4));
  Queue(8);
  const int claimed = worker_->RunOnce("sizing-0");
  EXPECT_GE(claimed, 1);
  EXPECT_LE(claimed, 2);  // 1 there now + 1.6 falling due in four fifths of the window
  EXPECT_EQ(relay_->count(), static_cast<size_t>(claimed));
  EXPECT_EQ(InStatus("sent"), claimed);
  // Nothing was handed back for want of a token: the rest was never claimed.
  EXPECT_EQ(InStatus("retrying"), 0);
  EXPECT_EQ(InStatus("queued"), 8 - claimed);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM message_history WHERE note LIKE '%lease nearly%'"),
            "0");
}

// The claim follows the tokens there now: a full bucket of five lets six go (five now, one
// more within the window); the same bucket emptied lets only what falls due meanwhile go.
TEST_F(ClaimSizingTest, ClaimSizeFollowsTheTokensAvailable) {
  if (IsSkipped() || HasFatalFailure()) return;
  Build(/*rate=*/1, /*burst=*/5, std::chrono::seconds(4));
  Queue(12);
  const auto tokens = providers_->TokensWithin("relay", std::chrono::milliseconds(1600));
  ASSERT_TRUE(tokens.has_value());
  EXPECT_NEAR(*tokens, 6.6, 0.1);
  EXPECT_EQ(worker_->RunOnce("sizing-0"), 6);
  EXPECT_EQ(relay_->count(), 6u);
  // Those six took the burst: the next claim gets what falls due within its window.
  const int second = worker_->RunOnce("sizing-0");
  EXPECT_GE(second, 1);
  EXPECT_LE(second, 2);
  EXPECT_EQ(InStatus("retrying"), 0);
  EXPECT_EQ(InStatus("sent"), 6 + second);
  // An unlimited provider sizes nothing.
  EXPECT_FALSE(providers_->TokensWithin("nobody", std::chrono::seconds(1)).has_value());
}

}  // namespace
}  // namespace herald::dispatch
