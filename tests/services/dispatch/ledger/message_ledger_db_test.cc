// The message ledger on a real PostgreSQL: every status transition is recorded, and a report
// that settles a message while its worker still holds it does not strand the worker's
// completion.
#include <gmock/gmock.h>

#include "services/dispatch/ledger/message_ledger.h"
#include "services/dispatch/message_service.h"
#include "services/dispatch/outbox/outbox.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::dispatch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

class MessageLedgerTest : public subscriptions::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    messages_ = std::make_unique<MessageService>(*pool_, clock_, topics_, *gate_);
    outbox_ = std::make_unique<Outbox>(
        *pool_, clock_, *gate_, topics_,
        [](Channel ch, bool) -> std::optional<ProviderChoice> {
          return ProviderChoice{ch == Channel::kEmail ? "relay" : "sms-ru", "RU"};
        },
        RetryPolicy{});
  }

  // A queued e-mail to a consenting subject; returns its id.
  std::string Queue(const std::string& email, const std::string& key) {
    subject_ = NewSubject(email);
    ConsentAll(subject_);
    v1::SendRequest r;
    r.set_idempotency_key(key);
    r.mutable_recipient()->set_subject_id(subject_);
    r.set_channel(v1::EMAIL);
    r.set_topic("special_offers");
    r.mutable_content()->set_subject("Hello");
    r.mutable_content()->set_text("Offer");
    auto sent = messages_->Send(crm_, r);
    EXPECT_EQ(sent.status(), v1::QUEUED);
    return sent.message_id();
  }

  template <typename F>
  auto InTransaction(F&& f) {
    auto conn = pool_->Acquire();
    pqxx::work txn(conn->raw());
    auto out = f(*conn, txn);
    txn.commit();
    return out;
  }

  Outcome Finished(const std::string& id, DeliveryOutcome outcome, int code) {
    return {id,           1,
            "relay",      clock_.Now(),
            clock_.Now(), {outcome, code, "", "", "", "", std::nullopt, false},
            "",           0};
  }

  std::string Field(const std::string& id, const std::string& expr) {
    return db_->Scalar("SELECT " + expr + " FROM messages WHERE id = '" + id + "'");
  }

  v1::Message Get(const std::string& id) {
    v1::GetMessageRequest g;
    g.set_message_id(id);
    return messages_->GetMessage(crm_, g);
  }

  static std::vector<v1::MessageStatus> Statuses(const v1::Message& m) {
    std::vector<v1::MessageStatus> out;
    for (const auto& h : m.history()) out.push_back(h.status());
    return out;
  }

  std::unique_ptr<MessageService> messages_;
  std::unique_ptr<Outbox> outbox_;
  std::string subject_;
};

TEST_F(MessageLedgerTest, EveryTransitionOfTheRoutinePathIsRecorded) {
  std::string id = Queue("routine@example.com", "k-routine");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  outbox_->Complete({Finished(id, DeliveryOutcome::kSent, 250)});
  EXPECT_TRUE(InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::ApplyReceipt(c, t, id, MessageStatus::kDelivered, "receipt", clock_.Now());
  }));
  // A repeated receipt finds the message no longer SENT: nothing is written.
  EXPECT_FALSE(InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::ApplyReceipt(c, t, id, MessageStatus::kUndelivered, "late", clock_.Now());
  }));
  auto m = Get(id);
  EXPECT_EQ(m.status(), v1::DELIVERED);
  EXPECT_THAT(Statuses(m), ElementsAre(v1::QUEUED, v1::SENDING, v1::SENT, v1::DELIVERED));
  ASSERT_EQ(m.attempt_log_size(), 1);
  EXPECT_EQ(m.attempt_log(0).outcome(), "SENT");
}

// A bounce can arrive before the worker that sent the message has recorded its completion
// (the relay bounced at once, the worker was slow to commit). The bounce is the final word
// on the message; the worker's completion still ends its lease and records its outcome.
TEST_F(MessageLedgerTest, BounceWhileSendingKeepsItsStatusAndTheCompletionEndsTheLease) {
  std::string id = Queue("bounce@example.com", "k-bounce");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  EXPECT_TRUE(InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::ApplyBounce(c, t, id, "delivery status notification: failed 5.1.1",
                               clock_.Now());
  }));
  EXPECT_EQ(Field(id, "status"), "undelivered");

  clock_.Advance(std::chrono::seconds(2));
  outbox_->Complete({Finished(id, DeliveryOutcome::kSent, 250)});

  EXPECT_EQ(Field(id, "status"), "undelivered");
  EXPECT_EQ(Field(id, "coalesce(lease_owner, '') || '/' || coalesce(lease_expires_at::text, '')"),
            "/");
  auto m = Get(id);
  EXPECT_EQ(m.status(), v1::UNDELIVERED);
  EXPECT_THAT(Statuses(m), ElementsAre(v1::QUEUED, v1::SENDING, v1::UNDELIVERED, v1::UNDELIVERED));
  EXPECT_THAT(m.history(2).note(), HasSubstr("5.1.1"));
  EXPECT_THAT(m.history(3).note(), HasSubstr("SENT 250"));
  EXPECT_EQ(m.attempt_log_size(), 1);
  // Nothing is left for a worker, even after the lease would have run out.
  clock_.Advance(std::chrono::minutes(5));
  EXPECT_TRUE(outbox_->Claim("w2", 10, std::chrono::seconds(60)).empty());
}

TEST_F(MessageLedgerTest, BounceWhileSendingIsNotUndoneByARetryingCompletion) {
  std::string id = Queue("retry-bounce@example.com", "k-retry-bounce");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::ApplyBounce(c, t, id, "delivery status notification: failed 5.1.1",
                               clock_.Now());
  });
  outbox_->Complete({Finished(id, DeliveryOutcome::kRetry, 451)});
  EXPECT_EQ(Field(id, "status"), "undelivered");
  EXPECT_EQ(Field(id, "lease_owner IS NULL"), "t");
  EXPECT_THAT(Get(id).history().rbegin()->note(), HasSubstr("RETRY 451"));
  clock_.Advance(std::chrono::hours(2));
  EXPECT_TRUE(outbox_->Claim("w2", 10, std::chrono::seconds(60)).empty());
}

// Erasure leaves a message a worker holds (even one a bounce already settled): the worker
// still reads its recipient to end the attempt. Once it has, the message is scrubbed.
TEST_F(MessageLedgerTest, ErasureScrubsAHeldMessageOnlyAfterItsCompletion) {
  std::string id = Queue("held@example.com", "k-held");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::ApplyBounce(c, t, id, "bounced", clock_.Now());
  });
  ledger::Recipient recipient{subject_, {}, {}};
  auto scrub = [&] {
    return InTransaction([&](db::Connection& c, pqxx::work& t) {
      return ledger::ScrubForErasure(c, t, recipient, clock_.Now());
    });
  };
  EXPECT_EQ(scrub().messages, 0);
  EXPECT_EQ(Field(id, "address"), "held@example.com");
  outbox_->Complete({Finished(id, DeliveryOutcome::kSent, 250)});
  EXPECT_EQ(scrub().messages, 1);
  EXPECT_EQ(Field(id, "address IS NULL AND match_key IS NULL"), "t");
}

// A worker that died leaves its lease behind; once the lease has run out the message is no
// longer held, and its worker's very late completion still ends cleanly.
TEST_F(MessageLedgerTest, ErasureScrubsAHeldMessageOnceItsLeaseRunsOut) {
  std::string id = Queue("dead@example.com", "k-dead");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::ApplyBounce(c, t, id, "bounced", clock_.Now());
  });
  clock_.Advance(std::chrono::seconds(61));
  auto scrubbed = InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::ScrubForErasure(c, t, {subject_, {}, {}}, clock_.Now());
  });
  EXPECT_EQ(scrubbed.messages, 1);
  EXPECT_EQ(Field(id, "address IS NULL AND match_key IS NULL"), "t");
  outbox_->Complete({Finished(id, DeliveryOutcome::kSent, 250)});
  EXPECT_EQ(Field(id, "status || '/' || (lease_owner IS NULL)"), "undelivered/true");
}

TEST_F(MessageLedgerTest, CancellingForErasureRecordsEachCancelledMessage) {
  std::string id = Queue("cancel@example.com", "k-cancel");
  auto n = InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::CancelForErasure(c, t, {subject_, {}, {}}, clock_.Now());
  });
  EXPECT_EQ(n, 1);
  auto m = Get(id);
  EXPECT_EQ(m.status(), v1::CANCELLED);
  EXPECT_THAT(Statuses(m), ElementsAre(v1::QUEUED, v1::CANCELLED));
  EXPECT_EQ(m.history(1).note(), ledger::kErasedNote);
}

}  // namespace
}  // namespace herald::dispatch
