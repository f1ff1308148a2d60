// Inbound SMS keywords on a real PostgreSQL: the gate's keyword-reply fact (DESIGN "One
// exception"), STOP/START/HELP through the registry (STANDARDS S1-S2), idempotent re-posts,
// no number in clear, and delivery receipts.
#include <gmock/gmock.h>

#include "services/inbound/sms/inbound_sms_service.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::inbound::sms {
namespace {

class InboundSmsTest : public subscriptions::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (!db_) return;
    service_ = std::make_unique<InboundSmsService>(*pool_, clock_, *hasher_, *gate_, topics_,
                                                   *registry_, KeywordMatcher(), InboundOptions());
  }

  InboundResult Post(const std::string& id, const std::string& from, const std::string& text,
                     const std::string& provider = "twilio-ru") {
    return service_->HandleInbound(provider, {id, from, text});
  }

  int64_t InboundId(const std::string& provider_message_id) {
    return std::stoll(db_->Scalar("SELECT id FROM inbound_sms WHERE provider_message_id = '" +
                                  provider_message_id + "'"));
  }

  // The gate for one SMS to `number`, optionally as a reply to an inbound keyword.
  DenyReason Gate(const std::string& number, std::optional<int64_t> reply_to,
                  const std::string& topic = "service") {
    auto conn = pool_->Acquire();
    pqxx::work txn(conn->raw());
    subscriptions::GateRequest g;
    g.address = number;
    g.channel = Channel::kSms;
    g.topic = topics_.Find(topic);
    g.reply_to_inbound = reply_to;
    g.now = clock_.Now();
    return gate_->Decide(*conn, txn, {g})[0].reason;
  }

  int64_t Replies() { return Count("messages WHERE reply_to_inbound IS NOT NULL"); }

  std::unique_ptr<InboundSmsService> service_;
};

constexpr char kNumber[] = "+994501234567";

TEST_F(InboundSmsTest, KeywordReplyFactAllowsTheSenderWithin24Hours) {
  Post("SM-1", kNumber, "STOP");
  int64_t inbound = InboundId("SM-1");
  EXPECT_EQ(Gate(kNumber, inbound), DenyReason::kNone);
  clock_.Advance(std::chrono::hours(23) + std::chrono::minutes(59));
  EXPECT_EQ(Gate(kNumber, inbound), DenyReason::kNone);
  clock_.Advance(std::chrono::minutes(2));  // past 24 hours
  EXPECT_EQ(Gate(kNumber, inbound), DenyReason::kNoConsent);
}

TEST_F(InboundSmsTest, KeywordReplyFactIsOnlyForTheNumberThatSentIt) {
  Post("SM-1", kNumber, "STOP");
  Post("SM-2", "+994507654321", "HELP");
  int64_t inbound = InboundId("SM-1");
  EXPECT_EQ(Gate("+994507654321", inbound), DenyReason::kNoConsent);
  // A message that is not a reply, to the number just stopped: denied as ever, even with
  // full consent on record.
  std::string id = NewSubject("", "+994501112233");
  ConsentAll(id);
  Post("SM-3", "+994501112233", "STOP");
  EXPECT_EQ(Gate("+994501112233", std::nullopt, "product_news"), DenyReason::kAddressSuppressed);
  EXPECT_EQ(Gate("+994501112233", InboundId("SM-3"), "product_news"), DenyReason::kNone);
  // Another inbound's id does not make a message to this number a reply.
  EXPECT_EQ(Gate("+994501112233", inbound, "product_news"), DenyReason::kAddressSuppressed);
  EXPECT_EQ(Gate(kNumber, std::nullopt), DenyReason::kNoConsent);
}

TEST_F(InboundSmsTest, KeywordReplyStillRefusedForABlockedOwner) {
  std::string id = NewSubject("", kNumber);
  ConsentAll(id);
  db_->Exec("UPDATE subjects SET blocked = true WHERE id = '" + id + "'");
  auto r = Post("SM-1", kNumber, "STOP");
  EXPECT_EQ(r.outcome, "stopped");
  EXPECT_EQ(Gate(kNumber, InboundId("SM-1")), DenyReason::kSubjectBlocked);
  EXPECT_EQ(db_->Scalar("SELECT status FROM messages"), "suppressed");
}

TEST_F(InboundSmsTest, S1_S2_StopStartStopWithOneConfirmationEach) {
  std::string id = NewSubject("", kNumber);
  ConsentAll(id);
  EXPECT_TRUE(Check(id, "", v1::SMS).allowed());

  auto stop = Post("SM-1", kNumber, " stop ");
  EXPECT_EQ(stop.outcome, "stopped");
  EXPECT_FALSE(stop.reply_message_id.empty());
  EXPECT_EQ(Check(id, "", v1::SMS).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_TRUE(Check(id, "", v1::CALL).allowed());  // only SMS marketing stops
  EXPECT_EQ(db_->Scalar("SELECT status FROM messages WHERE id = '" + stop.reply_message_id + "'"),
            "queued");
  EXPECT_EQ(db_->Scalar("SELECT reason || ':' || source FROM suppressions"), "2:4");

  auto again = Post("SM-2", kNumber, "СТОП");  // a repeat: nothing more, no reply
  EXPECT_EQ(again.outcome, "already_stopped");
  EXPECT_TRUE(again.reply_message_id.empty());
  EXPECT_EQ(Replies(), 1);

  clock_.Advance(std::chrono::minutes(5));
  auto start = Post("SM-3", kNumber, "Start");
  EXPECT_EQ(start.outcome, "started");
  EXPECT_FALSE(start.reply_message_id.empty());
  EXPECT_TRUE(Check(id, "", v1::SMS).allowed());
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM consents WHERE source = 4 AND granted"), "1");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM suppressions WHERE lifted_at IS NULL"), "0");

  clock_.Advance(std::chrono::minutes(5));
  auto stop2 = Post("SM-4", kNumber, "DAYAN");
  EXPECT_EQ(stop2.outcome, "stopped");
  EXPECT_EQ(Check(id, "", v1::SMS).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Replies(), 3);
  // Replies in the subject's language (az).
  EXPECT_THAT(
      db_->Scalar("SELECT text_template FROM messages WHERE id = '" + stop2.reply_message_id + "'"),
      ::testing::HasSubstr("START"));
}

TEST_F(InboundSmsTest, S2_StartWithoutAnSmsOptOutChangesNothing) {
  std::string id = NewSubject("", kNumber);
  ConsentAll(id, {v1::EMAIL});
  int64_t consents = Count("consents");
  auto r = Post("SM-1", kNumber, "YES");
  EXPECT_EQ(r.outcome, "not_stopped");
  EXPECT_TRUE(r.reply_message_id.empty());
  EXPECT_EQ(Count("consents"), consents);
  EXPECT_EQ(Check(id, "", v1::SMS).reason(), v1::NO_CONSENT);
  // An opt-out by link is not an SMS opt-out either.
  OptOutAddress(kNumber, v1::CHANNEL, v1::SMS);
  EXPECT_EQ(Post("SM-2", kNumber, "START").outcome, "not_stopped");
  EXPECT_EQ(Replies(), 0);
}

TEST_F(InboundSmsTest, S2_AStartBeingProcessedCountsSoARacingStartConfirmsNothing) {
  std::string id = NewSubject("", kNumber);
  ConsentAll(id);
  Post("SM-1", kNumber, "STOP");
  clock_.Advance(std::chrono::minutes(1));
  // Another START from the number was recorded as re-enabling but has not lifted the stop
  // yet (its effects are still running on another replica).
  db_->Exec(
      "INSERT INTO inbound_sms (provider, provider_message_id, key_id, address_key,"
      " keyword_class, outcome, received_at, event_id)"
      " SELECT 'twilio-ru', 'SM-racing', key_id, address_key, 'start', 'started',"
      " '2026-11-27T10:00:30Z', event_id FROM inbound_sms WHERE provider_message_id = 'SM-1'");
  auto r = Post("SM-2", kNumber, "START");
  EXPECT_EQ(r.outcome, "not_stopped");
  EXPECT_TRUE(r.reply_message_id.empty());
  EXPECT_EQ(Replies(), 1);
}

TEST_F(InboundSmsTest, S1_UnknownNumberStopIsHonouredAndConfirmed) {
  auto r = Post("SM-1", "+79161234567", "STOP");
  EXPECT_EQ(r.outcome, "stopped");
  EXPECT_EQ(Replies(), 1);
  EXPECT_EQ(Check("", "+79161234567", v1::SMS).reason(), v1::ADDRESS_SUPPRESSED);
  // A bare number's START lifts its SMS stop directly (no subject to record consent for).
  auto s = Post("SM-2", "+79161234567", "start");
  EXPECT_EQ(s.outcome, "started");
  EXPECT_EQ(Check("", "+79161234567", v1::SMS).reason(), v1::NO_CONSENT);
  // Russian reply for +7.
  EXPECT_THAT(
      db_->Scalar("SELECT text_template FROM messages WHERE id = '" + r.reply_message_id + "'"),
      ::testing::HasSubstr("отписались"));
}

TEST_F(InboundSmsTest, S2_HelpAnswersAndChangesNothing) {
  std::string id = NewSubject("", kNumber);
  ConsentAll(id);
  int64_t events = Count("events"), consents = Count("consents");
  auto r = Post("SM-1", kNumber, "info");
  EXPECT_EQ(r.outcome, "help");
  EXPECT_FALSE(r.reply_message_id.empty());
  EXPECT_TRUE(Check(id, "", v1::SMS).allowed());
  EXPECT_EQ(Count("consents"), consents);
  EXPECT_EQ(Count("suppressions"), 0);
  EXPECT_EQ(Count("events"), events + 1);  // only the inbound's own record
  auto other = Post("SM-2", kNumber, "STOP PLEASE");
  EXPECT_EQ(other.keyword, KeywordClass::kNone);
  EXPECT_EQ(other.outcome, "ignored");
  EXPECT_TRUE(Check(id, "", v1::SMS).allowed());
  EXPECT_EQ(Replies(), 1);
}

TEST_F(InboundSmsTest, RepostedInboundIsIdempotent) {
  std::string id = NewSubject("", kNumber);
  ConsentAll(id);
  auto first = Post("SM-1", kNumber, "STOP");
  int64_t events = Count("events"), consents = Count("consents");
  auto again = Post("SM-1", kNumber, "STOP");
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.outcome, "stopped");
  EXPECT_EQ(Count("events"), events);
  EXPECT_EQ(Count("consents"), consents);
  EXPECT_EQ(Replies(), 1);
  EXPECT_EQ(Count("inbound_sms"), 1);
  // The same id from another provider is another message.
  Post("SM-1", kNumber, "STOP", "json-az");
  EXPECT_EQ(Count("inbound_sms"), 2);
}

TEST_F(InboundSmsTest, NoNumberInClearOutsideThePersonalSideTable) {
  Post("SM-1", kNumber, "STOP");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM inbound_sms WHERE row_to_json(inbound_sms)::text"
                        " LIKE '%501234567%'"),
            "0");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE details::text LIKE '%501234567%'"), "0");
  EXPECT_EQ(db_->Scalar("SELECT data->>'address' FROM event_personal ep JOIN events e"
                        " ON e.id = ep.event_id WHERE e.type = 'sms.inbound'"),
            kNumber);
}

TEST_F(InboundSmsTest, BadSenderIsInvalidArgumentAndChangesNothing) {
  auto e = CatchError([&] { Post("SM-1", "not a number", "STOP"); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(std::string(e.what()).find("not a number"), std::string::npos);
  EXPECT_EQ(Count("inbound_sms"), 0);
  EXPECT_EQ(Count("events"), 0);
}

TEST_F(InboundSmsTest, ReceiptsUpdateStatusHistory) {
  auto r = Post("SM-1", kNumber, "STOP");
  const std::string& m = r.reply_message_id;
  db_->Exec("UPDATE messages SET status = 'sent' WHERE id = '" + m + "'");
  db_->Exec(
      "INSERT INTO message_attempts (message_id, number, provider, started_at, ended_at,"
      " outcome, provider_message_id) VALUES ('" +
      m +
      "', 1, 'twilio-ru', now(), now(),"
      " 'sent', 'SMout1')");
  EXPECT_EQ(service_->HandleReceipt("twilio-ru", {"SMout1", "sent", false}),
            ReceiptResult::kNotFinal);
  EXPECT_EQ(service_->HandleReceipt("other", {"SMout1", "delivered", true}),
            ReceiptResult::kUnknownMessage);
  EXPECT_EQ(service_->HandleReceipt("twilio-ru", {"nope", "delivered", true}),
            ReceiptResult::kUnknownMessage);
  EXPECT_EQ(service_->HandleReceipt("twilio-ru", {"SMout1", "delivered", true}),
            ReceiptResult::kUpdated);
  EXPECT_EQ(service_->HandleReceipt("twilio-ru", {"SMout1", "delivered", true}),
            ReceiptResult::kUnchanged);
  EXPECT_EQ(db_->Scalar("SELECT status FROM messages WHERE id = '" + m + "'"), "delivered");
  EXPECT_EQ(db_->Scalar("SELECT string_agg(status, ',' ORDER BY id) FROM message_history"
                        " WHERE message_id = '" +
                        m + "'"),
            "queued,delivered");
}

}  // namespace
}  // namespace herald::inbound::sms
