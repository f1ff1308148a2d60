// InboundMailService on a real PostgreSQL: several owners of one address, destroyed owners,
// concurrent replays of one message, and time from the injected clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "services/inbound/mail/inbound_mail_service.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::inbound {
namespace {

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/tests/data/inbound_mail/" + name,
                   std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class InboundMailDbTest : public subscriptions::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (!registry_) return;
    service_ = std::make_unique<InboundMailService>(*pool_, clock_, *registry_, *hasher_);
  }
  std::unique_ptr<InboundMailService> service_;
};

// DESIGN: the refusal marker stops all marketing of every subject owning the address; when
// several live subjects share it, each of them.
TEST_F(InboundMailDbTest, RefusalReachesEveryLiveOwnerOfTheAddress) {
  std::string a = NewSubject("anna@example.net", "+79161234567", "ext-a");
  std::string b = NewSubject("Anna@Example.NET", "+79161234568", "ext-b");
  std::string gone = NewSubject("anna@example.net", "", "ext-gone");
  ConsentAll(a);
  ConsentAll(b);
  db_->Exec("UPDATE subjects SET state = 'destroyed' WHERE id = '" + gone + "'");
  auto r = service_->Process(Fixture("revoke_en_lowercase.eml"));
  EXPECT_EQ(r.outcome, MailOutcome::kRevocationApplied);
  for (const auto& [id, phone] : {std::pair{a, "+79161234567"}, std::pair{b, "+79161234568"}}) {
    EXPECT_EQ(Check(id, "", v1::SMS).reason(), v1::UNSUBSCRIBED_ALL);
    EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
    EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE subject_id = '" + id +
                          "' AND type = 'privacy_request_received'"
                          " AND details->>'request' = 'revoke_consent'"),
              "1");
  }
  // The destroyed subject is left alone. SEC-5: the From: is not authenticated, so the
  // address is suppressed for marketing only (UNSUBSCRIBED, reason 1): REVOKED would also
  // stop the e-mail that asks its owner to confirm.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE subject_id = '" + gone +
                        "'"
                        " AND type IN ('opt_out', 'privacy_request_received')"),
            "0");
  EXPECT_EQ(db_->Scalar("SELECT reason FROM suppressions"), "1");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE details ? 'sender_verified'"), "0");
  // Time is the injected clock's.
  EXPECT_EQ(db_->Scalar("SELECT received_at = '2026-11-27T10:00:00Z' FROM inbound_mail"), "t");
}

// SEC-5: only an aligned DMARC pass in the topmost Authentication-Results of our own MTA's
// authserv-id marks the request events as verified (and suppresses as REVOKED at once); the
// same header from any other authserv-id counts for nothing.
TEST_F(InboundMailDbTest, OnlyOurMtasDmarcPassVerifiesTheSender_SEC5) {
  service_->SetTrustedAuthservIds({"mx.herald.test"});
  std::string owner = NewSubject("anna@example.net");
  ConsentAll(owner);
  std::string raw = Fixture("revoke_en_lowercase.eml");
  auto with = [&](const std::string& authserv_id, const std::string& id) {
    std::string mail = raw;
    const std::string old_id = "en-revoke-9@mail.example.net";
    mail.replace(mail.find(old_id), old_id.size(), id + "@mail.example.net");
    return "Authentication-Results: " + authserv_id +
           "; spf=pass smtp.mailfrom=example.net;\r\n dmarc=pass header.from=example.net\r\n" +
           mail;
  };
  EXPECT_EQ(service_->Process(with("attacker.example", "forged")).outcome,
            MailOutcome::kRevocationApplied);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE details ? 'sender_verified'"), "0");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM suppressions WHERE reason = 5"), "0");
  // Positive control: our MTA's verdict.
  EXPECT_EQ(service_->Process(with("mx.herald.test", "genuine")).outcome,
            MailOutcome::kRevocationApplied);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'privacy_request_received'"
                        " AND details->>'sender_verified' = 'dmarc'"),
            "1");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM suppressions WHERE reason = 5"), "1");
}

TEST_F(InboundMailDbTest, ConcurrentReplaysAreProcessedOnce) {
  NewSubject("ivan.petrov@example.ru");
  std::string raw = Fixture("refuse_ru_koi8r_base64.eml");
  std::atomic<int> applied{0}, duplicates{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&] {
      auto r = service_->Process(raw);
      (r.outcome == MailOutcome::kDuplicate ? duplicates : applied)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(applied.load(), 1);
  EXPECT_EQ(duplicates.load(), 5);
  EXPECT_EQ(Count("inbound_mail"), 1);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'privacy_request_received'"),
            "1");
}

TEST_F(InboundMailDbTest, MessageWithoutMessageIdIsDedupedByItsBytes) {
  std::string raw = "From: x@example.com\r\nSubject: Updating personal data\r\n\r\nhi\r\n";
  EXPECT_EQ(service_->Process(raw).outcome, MailOutcome::kRectificationRecorded);
  EXPECT_EQ(service_->Process(raw).outcome, MailOutcome::kDuplicate);
  EXPECT_EQ(service_->Process(raw + "again\r\n").outcome, MailOutcome::kRectificationRecorded);
  // A rectification suppresses nothing.
  EXPECT_EQ(Count("suppressions"), 0);
}

TEST_F(InboundMailDbTest, MarkerFromAnUnusableSenderIsIgnored) {
  EXPECT_EQ(service_->Process("Subject: Updating personal data\r\n\r\nhi").outcome,
            MailOutcome::kIgnored);
  EXPECT_EQ(service_
                ->Process("From: not an address\r\nSubject: Updating personal data\r\n"
                          "Message-ID: <u2@example.com>\r\n\r\nhi")
                .outcome,
            MailOutcome::kIgnored);
  EXPECT_EQ(Count("events"), 0);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM inbound_mail WHERE kind = 'marker'"), "2");
}

TEST_F(InboundMailDbTest, NotAMessageIsAnInvalidArgumentAndRecordsNothing) {
  auto e = CatchError([&] { service_->Process("\r\n\r\nno headers"); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.what(), ::testing::StartsWith("body:"));
  EXPECT_EQ(Count("inbound_mail"), 0);
}

}  // namespace
}  // namespace herald::inbound
