// InboundMailService on a real PostgreSQL: several owners of one address, destroyed owners,
// concurrent replays of one message, and time from the injected clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/crypto/report_tag.h"
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
    service_ = std::make_unique<InboundMailService>(*pool_, clock_, *registry_, *hasher_, tags_);
  }
  // The worker tags with the newest key ("r2"); "r1" is an older key still in the ring.
  crypto::ReportTagger tags_{
      crypto::KeyRing::Parse("r2:" + std::string(64, 'e') + ",r1:" + std::string(64, 'd'))};
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

// --- Bounce and complaint reports (SEC-3, SEC-4) ---

// Three recipients of one campaign whose message ids are consecutive, as the campaign path
// mints them (time-ordered): whoever sees their own id can derive the others'.
class ReportDbTest : public InboundMailDbTest {
 protected:
  static constexpr char kCampaign[] = "0190f5a2-7c3e-7a10-8b2c-0000000000c0";
  static constexpr char kAttackerId[] = "0190f5a2-7c3e-7a10-8b2c-000000000001";
  static constexpr char kVictimId[] = "0190f5a2-7c3e-7a10-8b2c-000000000002";
  static constexpr char kOtherId[] = "0190f5a2-7c3e-7a10-8b2c-000000000003";

  void SetUp() override {
    InboundMailDbTest::SetUp();
    if (!service_) return;
    db_->Exec(std::string("INSERT INTO campaigns (id, client_id, name, topic, channel,"
                          " text_template, status, created_at) VALUES ('") +
              kCampaign + "', 'crm', 'Offers', 'webinars', 1, 'Hello', 'running', now())");
    struct Row {
      const char* id;
      const char* address;
    };
    for (Row r : {Row{kAttackerId, "mallory@example.org"}, Row{kVictimId, "victim@example.com"},
                  Row{kOtherId, "other@example.net"}}) {
      std::string subject = NewSubject(r.address);
      ConsentAll(subject, {v1::EMAIL});
      subjects_[r.id] = subject;
      db_->Exec(std::string("INSERT INTO messages (id, campaign_id, client_id, subject_id,"
                            " address, channel, topic, status, created_at, updated_at) VALUES ('") +
                r.id + "', '" + kCampaign + "', 'crm', '" + subject + "', '" + r.address +
                "', 1, 'webinars', 'sent', now(), now())");
    }
  }

  // The compact id of a message (what a token starts with).
  static std::string Compact(std::string id) {
    std::erase(id, '-');
    return id;
  }

  // An ARF abuse report. original_ids: the returned message's Message-ID and
  // X-Herald-Message-Id; rcpt_to: Original-Rcpt-To.
  static std::string Arf(const std::string& report_id, const std::string& message_id_header,
                         const std::string& herald_id, const std::string& rcpt_to,
                         const std::string& mail_from = "<news@herald.test>") {
    return "From: <abuse@mailbox.example>\r\nTo: <fbl@herald.test>\r\nMessage-ID: <" + report_id +
           "@mailbox.example>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nabuse report\r\n"
           "--b\r\nContent-Type: message/feedback-report\r\n\r\n"
           "Feedback-Type: abuse\r\nVersion: 1\r\nOriginal-Mail-From: " +
           mail_from + "\r\nOriginal-Rcpt-To: <" + rcpt_to +
           ">\r\n\r\n"
           "--b\r\nContent-Type: message/rfc822\r\n\r\n"
           "From: news@herald.test\r\nTo: " +
           rcpt_to + "\r\nMessage-ID: " + message_id_header +
           "\r\nX-Herald-Message-Id: " + herald_id +
           "\r\nSubject: Offers\r\n\r\nHello\r\n--b--\r\n";
  }

  // A DSN, failed 5.1.1. envelope_to: the report's Delivered-To (our VERP return path when
  // genuine); envelope_id: Original-Envelope-Id; original_headers: the returned headers.
  static std::string Dsn(const std::string& report_id, const std::string& envelope_to,
                         const std::string& envelope_id, const std::string& final_recipient,
                         const std::string& original_headers) {
    return "Delivered-To: " + envelope_to +
           "\r\nFrom: MAILER-DAEMON@mx.example.com\r\nTo: " + envelope_to + "\r\nMessage-ID: <" +
           report_id +
           "@mx.example.com>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
           "--b\r\nContent-Type: text/plain\r\n\r\nundeliverable\r\n"
           "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
           "Reporting-MTA: dns; mx.example.com\r\n" +
           (envelope_id.empty() ? "" : "Original-Envelope-Id: " + envelope_id + "\r\n") +
           "\r\nFinal-Recipient: rfc822; " + final_recipient +
           "\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
           "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n" +
           original_headers + "\r\n--b--\r\n";
  }

  // Nothing about the victims moved: no suppression, message still sent with no history,
  // the campaign's complaint count (and so its rate) unchanged.
  void ExpectVictimsUntouched(int64_t complaints) {
    for (const char* id : {kVictimId, kOtherId}) {
      SCOPED_TRACE(id);
      EXPECT_EQ(Check(subjects_[id], "", v1::EMAIL, "webinars").reason(),
                v1::DENY_REASON_UNSPECIFIED);
      EXPECT_EQ(db_->Scalar(std::string("SELECT status FROM messages WHERE id = '") + id + "'"),
                "sent");
      EXPECT_EQ(
          db_->Scalar(std::string("SELECT count(*) FROM message_history WHERE message_id = '") +
                      id + "'"),
          "0");
    }
    EXPECT_EQ(
        db_->Scalar(std::string("SELECT complaints FROM campaigns WHERE id = '") + kCampaign + "'"),
        std::to_string(complaints));
  }

  std::map<std::string, std::string> subjects_;
};

// SEC-3: a complaint about a message we cannot identify used to suppress the report's
// Original-Rcpt-To. An address written in a report never suppresses.
TEST_F(ReportDbTest, ComplaintNamingOnlyAnAddressSuppressesNothing) {
  if (!service_) return;
  auto r =
      service_->Process(Arf("sec3-1", "<unknown-1@elsewhere.example>", "", "victim@example.com"));
  EXPECT_EQ(r.outcome, MailOutcome::kIgnored);
  EXPECT_EQ(Count("suppressions"), 0);
  ExpectVictimsUntouched(0);
  EXPECT_EQ(db_->Scalar("SELECT kind || '/' || outcome || '/' || (herald_message_id IS NULL)"
                        " FROM inbound_mail"),
            "arf/ignored/true");
  // Positive control: the attacker's own genuine message, still naming the victim in
  // Original-Rcpt-To and the returned To:, suppresses the address of that message only.
  std::string own = tags_.Token(kAttackerId);
  r = service_->Process(
      Arf("sec3-2", "<" + own + "@herald.test>", kAttackerId, "victim@example.com"));
  EXPECT_EQ(r.outcome, MailOutcome::kComplaintRecorded);
  EXPECT_EQ(Check(subjects_[kAttackerId], "", v1::EMAIL, "webinars").reason(),
            v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(reason::text, ',') FROM suppressions"), "4");
  EXPECT_EQ(Check(subjects_[kVictimId], "", v1::EMAIL, "webinars").reason(),
            v1::DENY_REASON_UNSPECIFIED);
}

// SEC-4: reports quoting a neighbour's (derivable) message id: bare, in our old
// <id@domain> form, or glued to the attacker's own genuine tag, in every place a token is
// looked for. None changes anything, and the complaint rate does not move.
TEST_F(ReportDbTest, ReportsQuotingAnotherRecipientsIdWithoutItsTagChangeNothing) {
  if (!service_) return;
  std::string victim = kVictimId;
  std::string own_tag = tags_.Token(kAttackerId).substr(33);
  std::string glued = Compact(victim) + "." + own_tag;  // the attacker's tag, the victim's id
  std::string headers_bare = "From: news@herald.test\r\nTo: victim@example.com\r\nMessage-ID: <" +
                             victim + "@herald.test>\r\nX-Herald-Message-Id: " + victim + "\r\n";
  std::string headers_glued = "From: news@herald.test\r\nMessage-ID: <" + glued +
                              "@herald.test>\r\nReturn-Path: <news+" + glued + "@herald.test>\r\n";
  int n = 0;
  for (const std::string& report :
       {Arf("f1", "<" + victim + "@herald.test>", victim, "victim@example.com"),
        Arf("f2", "<" + glued + "@herald.test>", victim, "victim@example.com",
            "<news+" + glued + "@herald.test>"),
        Dsn("f3", "news@herald.test", victim, "victim@example.com", headers_bare),
        Dsn("f4", "news+" + glued + "@herald.test", glued, "victim@example.com", headers_glued),
        Dsn("f5", "news+" + Compact(victim) + ".aaaaaaaaaaaaaaaa@herald.test", "",
            "other@example.net", "From: news@herald.test\r\n")}) {
    SCOPED_TRACE(++n);
    EXPECT_EQ(service_->Process(report).outcome, MailOutcome::kIgnored);
  }
  EXPECT_EQ(Count("suppressions"), 0);
  ExpectVictimsUntouched(0);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM inbound_mail WHERE outcome = 'ignored'"
                        " AND herald_message_id IS NULL"),
            "5");

  // Positive controls. A genuine bounce that returns nothing of the original but arrives at
  // the victim's real VERP address: that message is undelivered and its address suppressed.
  std::string real = tags_.Token(victim);
  auto r = service_->Process(
      Dsn("g1", "news+" + real + "@herald.test", "", "victim@example.com", "Subject: x\r\n"));
  EXPECT_EQ(r.outcome, MailOutcome::kBounceRecorded);
  EXPECT_EQ(db_->Scalar("SELECT status FROM messages WHERE id = '" + victim + "'"), "undelivered");
  EXPECT_EQ(db_->Scalar("SELECT string_agg(reason::text, ',') FROM suppressions"), "3");
  EXPECT_EQ(Check(subjects_[kVictimId], "", v1::EMAIL, "webinars").reason(),
            v1::ADDRESS_SUPPRESSED);
  // A genuine complaint (its token only in the returned Message-ID) counts once.
  r = service_->Process(Arf("g2", "<" + tags_.Token(kAttackerId) + "@herald.test>", kAttackerId,
                            "mallory@example.org"));
  EXPECT_EQ(r.outcome, MailOutcome::kComplaintRecorded);
  EXPECT_EQ(
      db_->Scalar(std::string("SELECT complaints FROM campaigns WHERE id = '") + kCampaign + "'"),
      "1");
  // The third recipient was never touched.
  EXPECT_EQ(Check(subjects_[kOtherId], "", v1::EMAIL, "webinars").reason(),
            v1::DENY_REASON_UNSPECIFIED);
}

// SEC-4: a token whose key has since been rotated out of first place still verifies; one
// made with a key that is not in the ring does not.
TEST_F(ReportDbTest, TokensOfAnOlderKeyStillVerify) {
  if (!service_) return;
  crypto::ReportTagger before(crypto::KeyRing::Parse("r1:" + std::string(64, 'd')));
  crypto::ReportTagger stranger(crypto::KeyRing::Parse("r1:" + std::string(64, 'f')));
  auto forged = service_->Process(
      Arf("k0", "<" + stranger.Token(kVictimId) + "@herald.test>", kVictimId, "x@example.com"));
  EXPECT_EQ(forged.outcome, MailOutcome::kIgnored);
  ExpectVictimsUntouched(0);
  auto r = service_->Process(
      Arf("k1", "<" + before.Token(kVictimId) + "@herald.test>", kVictimId, "x@example.com"));
  EXPECT_EQ(r.outcome, MailOutcome::kComplaintRecorded);
  EXPECT_EQ(Check(subjects_[kVictimId], "", v1::EMAIL, "webinars").reason(),
            v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check(subjects_[kOtherId], "", v1::EMAIL, "webinars").reason(),
            v1::DENY_REASON_UNSPECIFIED);
}

// --- Plain-text bounces (SEC-14) ---

class PlainBounceDbTest : public ReportDbTest {
 protected:
  void SetUp() override {
    ReportDbTest::SetUp();
    if (service_) service_->SetMetrics(metrics_);
  }

  // herald_inbound_bounces_unrecognised_total{reason}; every label value, to prove none is
  // an address.
  double Unrecognised(const std::string& reason) {
    for (const auto& family : metrics_.Collect()) {
      if (family.name != "herald_inbound_bounces_unrecognised_total") continue;
      for (const auto& metric : family.metric) {
        for (const auto& label : metric.label) {
          EXPECT_EQ(label.name, "reason");
          EXPECT_EQ(label.value.find('@'), std::string::npos) << label.value;
          if (label.value == reason) return metric.counter.value;
        }
      }
    }
    return -1;  // no such series
  }

  // A bounce fixture made about `message_id` the way the test needs it: its returned copy's
  // Message-ID replaced by `quoted_message_id`, the returned X-Herald-Message-Id by the id,
  // the address it names by `address`, and its own Message-ID made unique by `label`.
  static std::string Bounce(const std::string& fixture, const std::string& fixture_tail,
                            const std::string& label, const std::string& message_id,
                            const std::string& quoted_message_id, const std::string& address,
                            const std::string& fixture_address) {
    std::string raw = Fixture(fixture);
    const std::string fixture_id = "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e" + fixture_tail;
    auto replace_all = [&](const std::string& from, const std::string& to) {
      for (size_t p = raw.find(from); p != std::string::npos; p = raw.find(from, p + to.size())) {
        raw.replace(p, from.size(), to);
      }
    };
    replace_all("<" + fixture_id + "@herald.test>", quoted_message_id);
    replace_all(fixture_id, message_id);
    replace_all(fixture_address, address);
    // The notice's own Message-ID: the first one in the file.
    size_t at = raw.find("Message-I");
    size_t lt = raw.find('<', at);
    raw.insert(lt + 1, label + "-");
    return raw;
  }

  prometheus::Registry metrics_;
};

// SEC-14: a plain-text bounce (qmail, Exim, Exchange ... without multipart/report) naming
// another recipient's address and id, bare, glued to the forger's own tag, tagged with a key
// not in the ring, or in a wording Herald does not read, changes nothing and is counted by
// reason; one whose token verifies but names no e-mail of ours too. Before, none of these
// was even recognised: every plain-text bounce, genuine or not, was ignored uncounted.
TEST_F(PlainBounceDbTest, UnverifiedPlainTextBouncesChangeNothingAndAreCounted_SEC14) {
  if (!service_) return;
  const std::string victim = kVictimId;
  const std::string glued = Compact(victim) + "." + tags_.Token(kAttackerId).substr(33);
  crypto::ReportTagger stranger(crypto::KeyRing::Parse("r1:" + std::string(64, 'f')));
  for (const char* reason : {"unknown_format", "unverified", "unknown_message"}) {
    EXPECT_EQ(Unrecognised(reason), 0) << reason;
  }
  int n = 0;
  for (const std::string& forged : {
           // The victim's address and bare id only (as a genuine old bounce would read).
           Bounce("bounce_qmail_5_1_1.eml", "11", "f1", victim, "<" + victim + "@herald.test>",
                  "victim@example.com", "gone@example.org"),
           // The forger's tag glued to the victim's id, quoted and as the envelope recipient.
           "Delivered-To: news+" + glued + "@herald.test\r\n" +
               Bounce("bounce_exim_5_2_1.eml", "12", "f2", victim, "<" + glued + "@herald.invalid>",
                      "victim@example.com", "disabled@example.com"),
           // A well-formed token made with a key Herald does not hold.
           Bounce("bounce_exchange_ndr.eml", "17", "f3", victim,
                  "<" + stranger.Token(victim) + "@herald.invalid>", "victim@example.com",
                  "left.company@corp.example.com"),
       }) {
    SCOPED_TRACE(++n);
    EXPECT_EQ(service_->Process(forged).outcome, MailOutcome::kIgnored);
  }
  EXPECT_EQ(Unrecognised("unverified"), 3);
  // A DSN without a verifying token is counted the same way.
  EXPECT_EQ(service_
                ->Process(Dsn("f4", "news@herald.test", victim, "victim@example.com",
                              "Message-ID: <" + victim + "@herald.test>\r\n"))
                .outcome,
            MailOutcome::kIgnored);
  EXPECT_EQ(Unrecognised("unverified"), 4);
  // A genuine token of a message that is not (or no longer) in `messages`.
  const std::string gone_id = "0190f5a2-7c3e-7a10-8b2c-000000000099";
  EXPECT_EQ(service_
                ->Process(Bounce("bounce_gmail_plain.eml", "19", "f5", gone_id,
                                 "<" + tags_.Token(gone_id) + "@herald.invalid>",
                                 "victim@example.com", "nobody.here@example.com"))
                .outcome,
            MailOutcome::kIgnored);
  EXPECT_EQ(Unrecognised("unknown_message"), 1);
  // From MAILER-DAEMON, quoting the victim's genuine token, but in no wording Herald reads.
  EXPECT_EQ(service_
                ->Process(Bounce("bounce_unknown_format.eml", "1c", "f6", victim,
                                 "<" + tags_.Token(victim) + "@herald.invalid>",
                                 "victim@example.com", "someone@example.org"))
                .outcome,
            MailOutcome::kIgnored);
  EXPECT_EQ(Unrecognised("unknown_format"), 1);

  EXPECT_EQ(Count("suppressions"), 0);
  ExpectVictimsUntouched(0);
  EXPECT_EQ(Check(subjects_[kAttackerId], "", v1::EMAIL, "webinars").reason(),
            v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(kind || '/' || outcome, ',' ORDER BY id)"
                        " FROM inbound_mail"),
            "dsn/ignored,dsn/ignored,dsn/ignored,dsn/ignored,dsn/ignored,other/ignored");
  // Replies and auto-replies are no bounces: not counted.
  service_->Process(Fixture("auto_reply.eml"));
  service_->Process(Fixture("plain_no_marker.eml"));
  EXPECT_EQ(Unrecognised("unknown_format"), 1);
  EXPECT_EQ(Unrecognised("unverified"), 4);
}

// SEC-14 positive controls: a recognised permanent plain-text bounce suppresses exactly as a
// DSN's failed 5.x.x does, when its token verifies — quoted in the returned copy, or as the
// VERP address it was delivered to — and only the address of the message that token names,
// whatever address the text writes. A temporary one is history only.
TEST_F(PlainBounceDbTest, VerifiedPlainTextBounceSuppressesTheTaggedMessagesAddress_SEC14) {
  if (!service_) return;
  const std::string victim = kVictimId, other = kOtherId, attacker = kAttackerId;
  // qmail, our Message-ID quoted in the copy below the notice; the text names another address.
  auto r = service_->Process(Bounce("bounce_qmail_5_1_1.eml", "11", "g1", victim,
                                    "<" + tags_.Token(victim) + "@herald.invalid>",
                                    "other@example.net", "gone@example.org"));
  EXPECT_EQ(r.outcome, MailOutcome::kBounceRecorded);
  EXPECT_EQ(Check(subjects_[kVictimId], "", v1::EMAIL, "webinars").reason(),
            v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(db_->Scalar("SELECT status FROM messages WHERE id = '" + victim + "'"), "undelivered");
  EXPECT_EQ(db_->Scalar("SELECT note FROM message_history WHERE message_id = '" + victim +
                        "' ORDER BY id DESC LIMIT 1"),
            "plain-text bounce (qmail): failed 5.1.1");
  EXPECT_EQ(db_->Scalar("SELECT string_agg(reason::text || '/' || source::text, ',')"
                        " FROM suppressions"),
            "3/8");  // HARD_BOUNCE from PROVIDER, as a DSN
  EXPECT_EQ(Check(subjects_[kOtherId], "", v1::EMAIL, "webinars").reason(),
            v1::DENY_REASON_UNSPECIFIED);

  // An Exchange NDR that quotes nothing of ours but reached the third message's VERP address.
  std::string ndr = Bounce("bounce_exchange_ndr.eml", "17", "g2", "none", "<lost@relay.example>",
                           "left.company@corp.example.com", "left.company@corp.example.com");
  r = service_->Process("Delivered-To: news+" + tags_.Token(other) + "@herald.test\r\n" + ndr);
  EXPECT_EQ(r.outcome, MailOutcome::kBounceRecorded);
  EXPECT_EQ(Check(subjects_[kOtherId], "", v1::EMAIL, "webinars").reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(db_->Scalar("SELECT status_code FROM inbound_mail ORDER BY id DESC LIMIT 1"), "5.1.1");

  // Exim's delay warning for the attacker's message: history only, nothing suppressed.
  r = service_->Process(Bounce("bounce_exim_delayed.eml", "13", "g3", attacker,
                               "<" + tags_.Token(attacker) + "@herald.invalid>", "slow@example.com",
                               "slow@example.com"));
  EXPECT_EQ(r.outcome, MailOutcome::kDelayRecorded);
  EXPECT_EQ(db_->Scalar("SELECT status FROM messages WHERE id = '" + attacker + "'"), "sent");
  EXPECT_EQ(db_->Scalar("SELECT note FROM message_history WHERE message_id = '" + attacker +
                        "' ORDER BY id DESC LIMIT 1"),
            "plain-text bounce (exim): delayed 4.2.2");
  EXPECT_EQ(Check(subjects_[kAttackerId], "", v1::EMAIL, "webinars").reason(),
            v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(Count("suppressions"), 2);
  // Gmail's notice returning nothing, but naming our Message-ID in its In-Reply-To.
  std::string gmail = Bounce("bounce_gmail_plain.eml", "19", "g4", "none", "<lost@relay.example>",
                             "nobody.here@example.com", "nobody.here@example.com");
  r = service_->Process("In-Reply-To: <" + tags_.Token(attacker) + "@herald.invalid>\r\n" + gmail);
  EXPECT_EQ(r.outcome, MailOutcome::kBounceRecorded);
  EXPECT_EQ(Check(subjects_[kAttackerId], "", v1::EMAIL, "webinars").reason(),
            v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Count("suppressions"), 3);
  // What acted is not counted as unrecognised.
  for (const char* reason : {"unknown_format", "unverified", "unknown_message"}) {
    EXPECT_EQ(Unrecognised(reason), 0) << reason;
  }
}

}  // namespace
}  // namespace herald::inbound
