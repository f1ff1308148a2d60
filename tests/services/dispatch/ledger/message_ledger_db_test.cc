// The message ledger on a real PostgreSQL: every status transition is recorded, and a report
// that settles a message while its worker still holds it does not strand the worker's
// completion.
#include <gmock/gmock.h>

#include "services/dispatch/ledger/message_ledger.h"
#include "services/dispatch/message_service.h"
#include "services/dispatch/outbox/outbox.h"
#include "tests/services/subscriptions/registry_fixture.h"
#include "tests/support/eventually.h"
#include "tests/support/outbox.h"

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

  // Under the lease of the claim that holds the message now.
  Outcome Finished(const std::string& id, DeliveryOutcome outcome, int code) {
    return {id,
            1,
            "relay",
            clock_.Now(),
            clock_.Now(),
            {outcome, code, "", "", "", "", std::nullopt, false},
            "",
            0,
            ::herald::testing::LeaseToken(*db_, id),
            {}};
  }

  // The end of attempt `attempt`; `not_attempted`: it never reached the provider.
  Outcome Ended(const std::string& id, int attempt, DeliveryOutcome outcome, int code,
                bool not_attempted = false) {
    Outcome o = Finished(id, outcome, code);
    o.attempt = attempt;
    o.result.not_attempted = not_attempted;
    if (not_attempted) o.result.detail = "circuit open";
    return o;
  }

  // The message's history rows as stored (not the history GetMessage shows).
  std::string StoredHistory(const std::string& id) {
    return db_->Scalar(
        "SELECT coalesce(string_agg(status, ',' ORDER BY id), '') FROM message_history"
        " WHERE message_id = '" +
        id + "'");
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

// The routine path writes no history rows: the claim and the completion are on the attempt
// row, and GetMessage shows them where they happened.
TEST_F(MessageLedgerTest, TheRoutinePathIsRecordedOnTheAttemptRow) {
  std::string id = Queue("once@example.com", "k-once");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  clock_.Advance(std::chrono::seconds(1));
  outbox_->Complete({Finished(id, DeliveryOutcome::kSent, 250)});
  EXPECT_EQ(StoredHistory(id), "queued");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM message_attempts WHERE message_id = '" + id +
                        "' AND claimed_seq IS NOT NULL AND sent_seq IS NOT NULL"),
            "1");
  auto m = Get(id);
  EXPECT_EQ(m.status(), v1::SENT);
  EXPECT_THAT(Statuses(m), ElementsAre(v1::QUEUED, v1::SENDING, v1::SENT));
  EXPECT_EQ(m.history(1).note(), "");
  EXPECT_EQ(m.history(2).note(), "SENT 250");
  // Each transition keeps its own time: the claim's, then the completion's a second later.
  EXPECT_EQ(m.history(0).time().seconds(), m.history(1).time().seconds());
  EXPECT_EQ(m.history(2).time().seconds(), m.history(1).time().seconds() + 1);
}

// A retry is not the routine path: each attempt's claim is on its attempt row, the retry a
// history row, and the history reads in the order it happened.
TEST_F(MessageLedgerTest, ARetriedMessageShowsEachAttempt) {
  std::string id = Queue("retried@example.com", "k-retried");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  outbox_->Complete({Ended(id, 1, DeliveryOutcome::kRetry, 451)});
  clock_.Advance(std::chrono::hours(1));
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  outbox_->Complete({Ended(id, 2, DeliveryOutcome::kSent, 250)});
  EXPECT_EQ(StoredHistory(id), "queued,retrying");
  auto m = Get(id);
  EXPECT_EQ(m.status(), v1::SENT);
  EXPECT_THAT(Statuses(m),
              ElementsAre(v1::QUEUED, v1::SENDING, v1::RETRYING, v1::SENDING, v1::SENT));
  EXPECT_EQ(m.history(2).note(), "RETRY 451");
  ASSERT_EQ(m.attempt_log_size(), 2);
  EXPECT_EQ(m.attempt_log(0).outcome(), "RETRY");
  EXPECT_EQ(m.attempt_log(1).outcome(), "SENT");
}

// An attempt that never reached a provider has no attempt row: its claim becomes a history
// row in the place it happened, before the retry it ended in.
TEST_F(MessageLedgerTest, AnAttemptThatNeverReachedAProviderIsAHistoryRow) {
  std::string id = Queue("refused@example.com", "k-refused");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  // A report noted while the message is held lands between the claim and the completion.
  InTransaction([&](db::Connection& c, pqxx::work& t) {
    ledger::NoteReport(c, t, id, "delayed", clock_.Now());
    return 0;
  });
  outbox_->Complete({Ended(id, 1, DeliveryOutcome::kRetry, 0, /*not_attempted=*/true)});
  EXPECT_EQ(StoredHistory(id), "queued,sending,sending,retrying");
  auto m = Get(id);
  EXPECT_THAT(Statuses(m), ElementsAre(v1::QUEUED, v1::SENDING, v1::SENDING, v1::RETRYING));
  EXPECT_EQ(m.history(1).note(), "");
  EXPECT_EQ(m.history(2).note(), "delayed");
  EXPECT_EQ(m.history(3).note(), "circuit open; not attempted");
  EXPECT_EQ(m.attempt_log_size(), 0);
}

// A worker that died mid-send wrote nothing but its claim on the message: GetMessage still
// shows SENDING. Once the lease has run out and another worker reclaims the message, the
// abandoned claim is a history row of its own, and the dead worker's late completion adds
// only its attempt row.
TEST_F(MessageLedgerTest, AMessageStuckInSendingShowsSending) {
  std::string id = Queue("stuck@example.com", "k-stuck");
  auto dead = outbox_->Claim("dead", 10, std::chrono::seconds(1));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(StoredHistory(id), "queued");
  auto stuck = Get(id);
  EXPECT_EQ(stuck.status(), v1::SENDING);
  EXPECT_THAT(Statuses(stuck), ElementsAre(v1::QUEUED, v1::SENDING));

  // The lease runs out by PostgreSQL's clock.
  ASSERT_TRUE(::herald::testing::Eventually(
      [&] { return !outbox_->Claim("w2", 10, std::chrono::seconds(60)).empty(); }));
  EXPECT_EQ(StoredHistory(id), "queued,sending,sending");
  Outcome late = Ended(id, 1, DeliveryOutcome::kSent, 250);  // the dead worker's
  late.lease_token = dead[0].lease_token;
  outbox_->Complete({late});
  outbox_->Complete({Ended(id, 2, DeliveryOutcome::kSent, 250)});
  auto m = Get(id);
  EXPECT_EQ(m.status(), v1::SENT);
  EXPECT_THAT(Statuses(m), ElementsAre(v1::QUEUED, v1::SENDING, v1::SENDING, v1::SENT));
  EXPECT_EQ(m.history(1).note(), "");
  EXPECT_EQ(m.history(2).note(), "lease expired; reclaimed");
  EXPECT_EQ(m.attempt_log_size(), 2);
}

// During a rolling upgrade an older release may complete a claim this one kept on the
// message; it records its own outcome as a history row and leaves the claim there. The
// history still shows the claim once, in its place, and the next claim writes it out.
TEST_F(MessageLedgerTest, AClaimAnOlderReleaseLeftOnTheMessageIsShownOnce) {
  std::string id = Queue("upgrade@example.com", "k-upgrade");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  // What the older release's retrying completion writes (it knows no lease columns).
  db_->Exec(
      "UPDATE messages SET status = 'retrying', next_attempt_at = updated_at,"
      " lease_owner = NULL, lease_expires_at = NULL WHERE id = '" +
      id + "'");
  db_->Exec(
      "INSERT INTO message_history (message_id, status, note, at)"
      " SELECT id, 'retrying', 'RETRY 451', updated_at FROM messages WHERE id = '" +
      id + "'");
  EXPECT_THAT(Statuses(Get(id)), ElementsAre(v1::QUEUED, v1::SENDING, v1::RETRYING));
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  EXPECT_EQ(StoredHistory(id), "queued,sending,retrying");
  outbox_->Complete({Ended(id, 2, DeliveryOutcome::kSent, 250)});
  EXPECT_THAT(Statuses(Get(id)),
              ElementsAre(v1::QUEUED, v1::SENDING, v1::RETRYING, v1::SENDING, v1::SENT));
}

// Erasure empties the notes of the routine path like those of history rows.
TEST_F(MessageLedgerTest, ErasureEmptiesTheNotesOnAttemptRows) {
  std::string id = Queue("noted@example.com", "k-noted");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  outbox_->Complete({Finished(id, DeliveryOutcome::kSent, 250)});
  auto scrubbed = InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::ScrubForErasure(c, t, {subject_, {}, {}}, clock_.Now());
  });
  EXPECT_EQ(scrubbed.messages, 1);
  auto m = Get(id);
  EXPECT_THAT(Statuses(m), ElementsAre(v1::QUEUED, v1::SENDING, v1::SENT));
  EXPECT_EQ(m.history(2).note(), "");
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
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(1)).size(), 1u);
  InTransaction([&](db::Connection& c, pqxx::work& t) {
    return ledger::ApplyBounce(c, t, id, "bounced", clock_.Now());
  });
  // The lease (a second) runs out by PostgreSQL's clock.
  ASSERT_TRUE(::herald::testing::Eventually([&] {
    return InTransaction([&](db::Connection& c, pqxx::work& t) {
             return ledger::ScrubForErasure(c, t, {subject_, {}, {}}, clock_.Now());
           }).messages == 1;
  }));
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
