// The outbox on a real PostgreSQL: Send asks the gate at once, and every claim — first
// attempt, retry or reclaimed lease — asks it again in the transaction that moves the
// message to SENDING.
#include <gmock/gmock.h>

#include "services/dispatch/message_service.h"
#include "services/dispatch/outbox/outbox.h"
#include "tests/services/subscriptions/registry_fixture.h"
#include "tests/support/eventually.h"
#include "tests/support/outbox.h"

namespace herald::dispatch {
namespace {

using ::testing::HasSubstr;

class OutboxTest : public subscriptions::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    messages_ = std::make_unique<MessageService>(*pool_, clock_, topics_, *gate_);
    RetryPolicy retry;
    retry.max_attempts = 3;
    outbox_ = std::make_unique<Outbox>(
        *pool_, clock_, *gate_, topics_,
        [this](Channel ch, bool foreign_ok) -> std::optional<ProviderChoice> {
          if (foreign_ok && foreign_first_) return ProviderChoice{"abroad", "US"};
          if (!domestic_available_) return std::nullopt;
          return ProviderChoice{ch == Channel::kEmail ? "relay" : "sms-ru", "RU",
                                !domestic_out_for_now_};
        },
        retry);
  }

  v1::SendResponse SendTo(const std::string& subject_id, const std::string& address,
                          const std::string& key, v1::Channel channel = v1::EMAIL) {
    v1::SendRequest r;
    r.set_idempotency_key(key);
    r.mutable_recipient()->set_subject_id(subject_id);
    r.mutable_recipient()->set_address(address);
    r.set_channel(channel);
    r.set_topic("special_offers");
    if (channel == v1::EMAIL) r.mutable_content()->set_subject("Hello {{given_name}}");
    r.mutable_content()->set_text("Offer for {{given_name}}: {{code}}");
    (*r.mutable_variables())["code"] = "X1";
    return messages_->Send(crm_, r);
  }

  std::string Status(const std::string& id) {
    return db_->Scalar(
        "SELECT status || coalesce('/' || deny_reason, '') FROM messages WHERE id = '" + id + "'");
  }

  std::unique_ptr<MessageService> messages_;
  std::unique_ptr<Outbox> outbox_;
  bool foreign_first_ = false;
  bool domestic_available_ = true;     // a domestic provider is configured
  bool domestic_out_for_now_ = false;  // ...but its circuit is open
};

TEST_F(OutboxTest, AllowedMessageIsQueuedThenClaimedAsSending) {
  std::string id = NewSubject("buyer@example.com");
  ConsentAll(id);
  auto sent = SendTo(id, "", "k1");
  EXPECT_EQ(sent.status(), v1::QUEUED);
  auto claimed = outbox_->Claim("w1", 10, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].id, sent.message_id());
  EXPECT_EQ(claimed[0].address, "buyer@example.com");
  EXPECT_EQ(claimed[0].provider, "relay");
  EXPECT_EQ(claimed[0].attempt, 1);
  EXPECT_EQ(claimed[0].variables.at("given_name"), "Əli");
  EXPECT_EQ(claimed[0].variables.at("code"), "X1");
  EXPECT_EQ(Status(sent.message_id()), "sending");
  // Nothing more is due: a second claim takes nothing.
  EXPECT_TRUE(outbox_->Claim("w2", 10, std::chrono::seconds(60)).empty());
  outbox_->Complete({{sent.message_id(),
                      1,
                      "relay",
                      clock_.Now(),
                      clock_.Now(),
                      {DeliveryOutcome::kSent, 250, "2.0.0", "", "ok", "Q123", std::nullopt, false},
                      "",
                      0,
                      ::herald::testing::LeaseToken(*db_, sent.message_id()),
                      {}}});
  EXPECT_EQ(Status(sent.message_id()), "sent");
  v1::GetMessageRequest g;
  g.set_message_id(sent.message_id());
  auto m = messages_->GetMessage(crm_, g);
  ASSERT_EQ(m.history_size(), 3);
  EXPECT_EQ(m.history(0).status(), v1::QUEUED);
  EXPECT_EQ(m.history(1).status(), v1::SENDING);
  EXPECT_EQ(m.history(2).status(), v1::SENT);
  ASSERT_EQ(m.attempt_log_size(), 1);
  EXPECT_EQ(m.attempt_log(0).provider_message_id(), "Q123");
}

TEST_F(OutboxTest, RefusedRecipientIsAnsweredSuppressedAtOnce) {
  std::string id = NewSubject("cold@example.com");
  auto sent = SendTo(id, "", "k-cold");
  EXPECT_EQ(sent.status(), v1::SUPPRESSED);
  EXPECT_EQ(sent.deny_reason(), v1::NO_CONSENT);
  EXPECT_TRUE(outbox_->Claim("w1", 10, std::chrono::seconds(60)).empty());
}

TEST_F(OutboxTest, OptOutAfterQueueingIsHonouredByTheClaim) {
  std::string id = NewSubject("late@example.com");
  ConsentAll(id);
  auto sent = SendTo(id, "", "k-late");
  ASSERT_EQ(sent.status(), v1::QUEUED);
  auto resp = OptOutSubject(id, v1::TOPIC, v1::EMAIL, "special_offers");
  EXPECT_EQ(resp.in_flight_messages(), 0);  // queued is not in flight
  EXPECT_TRUE(outbox_->Claim("w1", 10, std::chrono::seconds(60)).empty());
  EXPECT_EQ(Status(sent.message_id()), "suppressed/10");  // UNSUBSCRIBED_TOPIC
}

TEST_F(OutboxTest, OptOutCountsMessagesAlreadySending) {
  std::string id = NewSubject("inflight@example.com");
  ConsentAll(id);
  SendTo(id, "", "k-a");
  SendTo(id, "", "k-b");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 2u);
  EXPECT_EQ(OptOutSubject(id, v1::ALL_MARKETING).in_flight_messages(), 2);
  EXPECT_EQ(OptOutAddress("INFLIGHT@example.com", v1::ALL_MARKETING).in_flight_messages(), 2);
}

TEST_F(OutboxTest, RetryRunsTheGateAgain) {
  std::string id = NewSubject("retry@example.com");
  ConsentAll(id);
  auto sent = SendTo(id, "", "k-retry");
  auto claimed = outbox_->Claim("w1", 10, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  outbox_->Complete({{sent.message_id(),
                      1,
                      "relay",
                      clock_.Now(),
                      clock_.Now(),
                      {DeliveryOutcome::kRetry, 451, "4.3.0", "", "later", "", std::nullopt, false},
                      "",
                      0,
                      ::herald::testing::LeaseToken(*db_, sent.message_id()),
                      {claimed[0].subject_id, claimed[0].channel, claimed[0].match_key}}});
  EXPECT_EQ(Status(sent.message_id()), "retrying");
  EXPECT_TRUE(outbox_->Claim("w1", 10, std::chrono::seconds(60)).empty());  // not due yet
  OptOutAddress("retry@example.com", v1::CHANNEL, v1::EMAIL);
  clock_.Advance(std::chrono::hours(2));
  EXPECT_TRUE(outbox_->Claim("w1", 10, std::chrono::seconds(60)).empty());
  EXPECT_EQ(Status(sent.message_id()), "suppressed/5");  // ADDRESS_SUPPRESSED
}

TEST_F(OutboxTest, ExpiredLeaseIsReclaimedAndDecidedAgain) {
  std::string a = NewSubject("crash-a@example.com");
  std::string b = NewSubject("crash-b@example.com");
  ConsentAll(a);
  ConsentAll(b);
  auto ma = SendTo(a, "", "k-ca");
  auto mb = SendTo(b, "", "k-cb");
  // Leases run out by PostgreSQL's clock: the dead worker's lasts a second.
  auto dead = outbox_->Claim("dead-worker", 10, std::chrono::seconds(1));
  ASSERT_EQ(dead.size(), 2u);
  OptOutSubject(b, v1::ALL_MARKETING);
  std::vector<ClaimedMessage> again;
  ASSERT_TRUE(::herald::testing::Eventually([&] {
    again = outbox_->Claim("w2", 10, std::chrono::seconds(60));
    return !again.empty();
  }));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, ma.message_id());
  EXPECT_EQ(again[0].attempt, 2);
  EXPECT_EQ(Status(mb.message_id()), "suppressed/8");  // UNSUBSCRIBED_ALL
  EXPECT_EQ(db_->Scalar("SELECT note FROM message_history WHERE message_id = '" + ma.message_id() +
                        "' ORDER BY id DESC LIMIT 1"),
            "lease expired; reclaimed");
  // The dead worker's late completion of attempt 1 changes nothing.
  outbox_->Complete({{ma.message_id(),
                      1,
                      "relay",
                      clock_.Now(),
                      clock_.Now(),
                      {DeliveryOutcome::kSent, 250, "", "", "", "", std::nullopt, false},
                      "",
                      0,
                      dead[0].id == ma.message_id() ? dead[0].lease_token : dead[1].lease_token,
                      {}}});
  EXPECT_EQ(Status(ma.message_id()), "sending");
}

TEST_F(OutboxTest, CrossBorderFallsBackToADomesticProviderOrSuppresses) {
  std::string id = NewSubject("cb@example.com");
  ConsentAll(id);
  foreign_first_ = true;
  auto m1 = SendTo(id, "", "k-cb1");
  auto claimed = outbox_->Claim("w1", 10, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].provider, "relay");  // the domestic one
  domestic_available_ = false;
  auto m2 = SendTo(id, "", "k-cb2");
  EXPECT_TRUE(outbox_->Claim("w1", 10, std::chrono::seconds(60)).empty());
  EXPECT_EQ(Status(m2.message_id()), "suppressed/6");  // CROSS_BORDER_NOT_ALLOWED
  Consent(id, v1::CROSS_BORDER, v1::CHANNEL_UNSPECIFIED);
  auto m3 = SendTo(id, "", "k-cb3");
  claimed = outbox_->Claim("w1", 10, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].provider, "abroad");
}

TEST_F(OutboxTest, GivesUpAfterMaxAttempts) {
  std::string id = NewSubject("flaky@example.com");
  ConsentAll(id);
  auto sent = SendTo(id, "", "k-flaky");
  for (int attempt = 1; attempt <= 3; ++attempt) {
    auto c = outbox_->Claim("w1", 10, std::chrono::seconds(60));
    ASSERT_EQ(c.size(), 1u) << attempt;
    outbox_->Complete({{sent.message_id(),
                        attempt,
                        "relay",
                        clock_.Now(),
                        clock_.Now(),
                        {DeliveryOutcome::kRetry, 421, "", "", "", "", std::nullopt, false},
                        "",
                        0,
                        ::herald::testing::LeaseToken(*db_, sent.message_id()),
                        {}}});
    clock_.Advance(std::chrono::hours(3));
  }
  EXPECT_TRUE(outbox_->Claim("w1", 10, std::chrono::seconds(60)).empty());
  EXPECT_EQ(Status(sent.message_id()), "failed");
  EXPECT_EQ(Count("message_attempts"), 3);
}

TEST_F(OutboxTest, SendIsIdempotentAndChecksItsInput) {
  std::string id = NewSubject("idem@example.com");
  ConsentAll(id);
  auto first = SendTo(id, "", "same-key");
  auto again = SendTo(id, "", "same-key");
  EXPECT_EQ(first.message_id(), again.message_id());
  EXPECT_EQ(Count("messages"), 1);
  auto err = CatchError([&] { SendTo(id, "idem@example.com", "same-key"); });
  EXPECT_EQ(err.code(), ErrorCode::kAlreadyExists);

  auto code = [&](const std::function<void(v1::SendRequest&)>& spoil) {
    v1::SendRequest r;
    r.set_idempotency_key("bad");
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(v1::EMAIL);
    r.set_topic("events");
    r.mutable_content()->set_subject("S");
    r.mutable_content()->set_text("T");
    spoil(r);
    return CatchError([&] { messages_->Send(crm_, r); });
  };
  EXPECT_EQ(code([](auto& r) { r.clear_idempotency_key(); }).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_topic("nope"); }).code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_channel(v1::CHANNEL_UNSPECIFIED); }).code(),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.mutable_content()->clear_text(); }).code(),
            ErrorCode::kInvalidArgument);
  auto broken = code([](auto& r) { r.mutable_content()->set_text("Hi {{#x}}"); });
  EXPECT_EQ(broken.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(broken.what(), HasSubstr("content.text"));
  auto unknown = code([](auto& r) { r.mutable_content()->set_text("Hi {{nickname}}"); });
  EXPECT_EQ(unknown.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(unknown.what(), HasSubstr("nickname"));
  EXPECT_EQ(Count("messages"), 1);
}

TEST_F(OutboxTest, SmsRecordsEncodingAndSegments) {
  std::string id = NewSubject("", "+994501234567");
  ConsentAll(id);
  v1::SendRequest r;
  r.set_idempotency_key("sms-1");
  r.mutable_recipient()->set_subject_id(id);
  r.set_channel(v1::SMS);
  r.set_topic("events");
  r.mutable_content()->set_text("Tədbirə dəvət edirik");  // 'ə' forces UCS-2
  auto sent = messages_->Send(crm_, r);
  v1::GetMessageRequest g;
  g.set_message_id(sent.message_id());
  auto m = messages_->GetMessage(crm_, g);
  EXPECT_EQ(m.sms_encoding(), "UCS2");
  EXPECT_EQ(m.sms_segments(), 1);
  EXPECT_EQ(m.address(), "+994501234567");
}

TEST_F(OutboxTest, ADomesticProviderOutForNowMakesMessagesWaitNotSuppressed) {
  std::string id = NewSubject("wait@example.com");
  ConsentAll(id);
  foreign_first_ = true;
  domestic_out_for_now_ = true;
  auto m = SendTo(id, "", "k-wait");
  EXPECT_TRUE(outbox_->Claim("w1", 10, std::chrono::seconds(60)).empty());
  EXPECT_EQ(Status(m.message_id()), "retrying");
  domestic_out_for_now_ = false;
  clock_.Advance(std::chrono::minutes(5));
  auto claimed = outbox_->Claim("w1", 10, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(claimed[0].provider, "relay");
}

TEST_F(OutboxTest, AgeCountsFromTheFirstAttemptNotFromQueueing) {
  std::string id = NewSubject("patient@example.com");
  ConsentAll(id);
  auto m = SendTo(id, "", "k-old");
  clock_.Advance(std::chrono::hours(72));  // queued long before anything tried it
  auto claimed = outbox_->Claim("w1", 10, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  EXPECT_EQ(Status(m.message_id()), "sending");
}

TEST_F(OutboxTest, ProviderTextThatIsNotUtf8IsStoredSafely) {
  std::string id = NewSubject("cp1251@example.com");
  ConsentAll(id);
  auto m = SendTo(id, "", "k-bytes");
  ASSERT_EQ(outbox_->Claim("w1", 10, std::chrono::seconds(60)).size(), 1u);
  std::string detail = "550 \xcd\xe5\xf2 \xf2\xe0\xea\xee\xe3\xee";  // cp1251
  detail.push_back('\0');  // and a NUL: 7 replaced bytes in the second word
  outbox_->Complete({{m.message_id(),
                      1,
                      "relay",
                      clock_.Now(),
                      clock_.Now(),
                      {DeliveryOutcome::kFailed, 550, "5.7.1", "", detail, "", std::nullopt, false},
                      "",
                      0,
                      ::herald::testing::LeaseToken(*db_, m.message_id()),
                      {}}});
  EXPECT_EQ(Status(m.message_id()), "failed");
  EXPECT_EQ(db_->Scalar("SELECT detail FROM message_attempts"), "550 ??? ???????");
}

// Completions are fenced by the claim's lease token.
class OutboxLeaseTest : public OutboxTest {
 protected:
  Outcome Sent(const ClaimedMessage& m) {
    Outcome o = OutcomeOf(m);
    o.started = o.ended = clock_.Now();
    o.result.outcome = DeliveryOutcome::kSent;
    o.result.code = 250;
    return o;
  }
  ClaimedMessage ClaimOne(const std::string& key, std::chrono::seconds lease) {
    std::string id = NewSubject(key + "@example.com");
    ConsentAll(id);
    SendTo(id, "", key);
    auto claimed = outbox_->Claim("w1", 10, lease);
    EXPECT_EQ(claimed.size(), 1u);
    return claimed.empty() ? ClaimedMessage{} : claimed[0];
  }
};

TEST_F(OutboxLeaseTest, EveryClaimHasItsOwnToken) {
  auto a = ClaimOne("tok-a", std::chrono::seconds(60));
  auto b = ClaimOne("tok-b", std::chrono::seconds(60));
  EXPECT_GT(a.lease_token, 0);
  EXPECT_GT(b.lease_token, a.lease_token);
}

TEST_F(OutboxLeaseTest, ACompletionWithAnotherClaimsTokenChangesNothing) {
  auto m = ClaimOne("fence", std::chrono::seconds(60));
  Outcome forged = Sent(m);
  forged.lease_token = m.lease_token + 1000;
  outbox_->Complete({forged});
  EXPECT_EQ(Status(m.id), "sending");
  outbox_->Complete({Sent(m)});
  EXPECT_EQ(Status(m.id), "sent");
}

// A worker that could not record its outcome before its lease ran out (the database was
// away) still records it while nobody reclaimed the message: the message was sent.
TEST_F(OutboxLeaseTest, TheHoldersOutcomeCountsAfterItsLeaseRanOutUntilAReclaim) {
  auto m = ClaimOne("late", std::chrono::seconds(1));
  ASSERT_TRUE(::herald::testing::Eventually([&] {
    return db_->Scalar("SELECT lease_expires_at <= clock_timestamp() FROM messages WHERE id = '" +
                       m.id + "'") == "t";
  }));
  outbox_->Complete({Sent(m)});
  EXPECT_EQ(Status(m.id), "sent");
  EXPECT_TRUE(outbox_->Claim("w2", 10, std::chrono::seconds(60)).empty());
}

// A commit whose result was unknown is recorded again: nothing is written twice.
TEST_F(OutboxLeaseTest, RecordingTheSameOutcomesAgainChangesNothing) {
  auto m = ClaimOne("twice", std::chrono::seconds(60));
  Outcome o = Sent(m);
  outbox_->Complete({o});
  outbox_->Complete({o});
  EXPECT_EQ(Status(m.id), "sent");
  EXPECT_EQ(Count("message_attempts"), 1);
  v1::GetMessageRequest g;
  g.set_message_id(m.id);
  auto got = messages_->GetMessage(crm_, g);
  EXPECT_EQ(got.history_size(), 3);  // queued, sending, sent
  EXPECT_EQ(got.attempt_log_size(), 1);
}

TEST_F(OutboxLeaseTest, AClaimCanLeaveLeasesThatRanOutToTheirWorkers) {
  auto m = ClaimOne("grace", std::chrono::seconds(1));
  ASSERT_TRUE(::herald::testing::Eventually([&] {
    return db_->Scalar("SELECT lease_expires_at <= clock_timestamp() FROM messages WHERE id = '" +
                       m.id + "'") == "t";
  }));
  EXPECT_TRUE(
      outbox_->Claim("w2", 10, std::chrono::seconds(60), /*reclaim_expired=*/false).empty());
  EXPECT_EQ(outbox_->Claim("w2", 10, std::chrono::seconds(60)).size(), 1u);
}

// The process's clock decides nothing about leases: a jump of it, forward or back, neither
// frees a running lease nor holds one that ran out.
TEST_F(OutboxLeaseTest, AJumpOfTheClockNeitherFreesNorHoldsALease) {
  auto running = ClaimOne("jump-run", std::chrono::seconds(60));
  clock_.Advance(std::chrono::hours(2));
  EXPECT_TRUE(outbox_->Claim("w2", 10, std::chrono::seconds(60)).empty());
  EXPECT_EQ(Status(running.id), "sending");
  clock_.Advance(-std::chrono::hours(4));
  auto short_lease = ClaimOne("jump-short", std::chrono::seconds(1));
  std::vector<ClaimedMessage> again;
  ASSERT_TRUE(::herald::testing::Eventually([&] {
    again = outbox_->Claim("w3", 10, std::chrono::seconds(60));
    return !again.empty();
  }));
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, short_lease.id);
  // The steady deadline the worker goes by is a lease from before the claim.
  EXPECT_LE(again[0].lease_deadline, std::chrono::steady_clock::now() + std::chrono::seconds(60));
  EXPECT_GT(again[0].lease_deadline, std::chrono::steady_clock::now() + std::chrono::seconds(50));
}

// A provider that may have the message (no answer after all of it was sent): SENT, the
// attempt recorded as MAYBE_SENT, and never claimed again however much time passes.
TEST_F(OutboxTest, MaybeSentIsSentAndNeverRetried) {
  std::string id = NewSubject("maybe@example.com");
  ConsentAll(id);
  auto m = SendTo(id, "", "k-maybe");
  auto claimed = outbox_->Claim("w1", 10, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  outbox_->Complete({{m.message_id(),
                      1,
                      "relay",
                      clock_.Now(),
                      clock_.Now(),
                      {DeliveryOutcome::kMaybeSent, 0, "", "",
                       "no reply after the whole message was sent, may have been delivered", "",
                       std::nullopt, false},
                      "",
                      0,
                      claimed[0].lease_token,
                      {claimed[0].subject_id, claimed[0].channel, claimed[0].match_key}}});
  EXPECT_EQ(Status(m.message_id()), "sent");
  clock_.Advance(std::chrono::hours(2));
  EXPECT_TRUE(outbox_->Claim("w1", 10, std::chrono::seconds(60)).empty());
  EXPECT_EQ(Status(m.message_id()), "sent");
  v1::GetMessageRequest g;
  g.set_message_id(m.message_id());
  auto got = messages_->GetMessage(crm_, g);
  EXPECT_EQ(got.status(), v1::SENT);
  ASSERT_EQ(got.attempt_log_size(), 1);
  EXPECT_EQ(got.attempt_log(0).outcome(), "MAYBE_SENT");
  EXPECT_THAT(got.attempt_log(0).detail(), HasSubstr("may have been delivered"));
  ASSERT_EQ(got.history_size(), 3);
  EXPECT_EQ(got.history(2).status(), v1::SENT);
  EXPECT_EQ(got.history(2).note(), "MAYBE_SENT 0");
}

}  // namespace
}  // namespace herald::dispatch
