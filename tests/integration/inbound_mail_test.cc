// Inbound e-mail end to end: the fixtures in tests/data/inbound_mail posted to a real heraldd
// (POST /hooks/email/inbound) and through heraldctl inbound-mail, with the resulting state
// read back over gRPC. DSN and ARF fixtures are pointed at messages heraldd really sent over
// SMTP (their fixed message id is replaced by the real one).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/consented_subject.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/outbox.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using ::testing::Not;

constexpr char kSecret[] = "inbound-mail-secret-0123456789";
constexpr char kFailedId[] = "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e01";
constexpr char kDelayedId[] = "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e02";
constexpr char kArfId[] = "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e03";

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/tests/data/inbound_mail/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

struct Posted {
  int status = 0;
  std::string body;
  std::string outcome;
};

class InboundMailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    capture_ = std::make_unique<testing::SmtpCapture>();
    std::string yaml =
        "email:\n  from_address: news@herald.test\n"
        "  unsubscribe_mailto: unsubscribe@herald.test\n"
        "inbound_mail:\n  max_bytes: 200000\n"
        "providers:\n  - name: capture\n    kind: smtp\n    country: RU\n"
        "    settings:\n      url: smtp://127.0.0.1:" +
        std::to_string(capture_->port()) + "\n      starttls: none\n";
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), yaml);
    server_->AddEnv(std::string("HERALD_INBOUND_MAIL_SECRET=") + kSecret);
    // The complaint gauges are read right after each report: no cached scrape.
    server_->AddEnv("HERALD_OPS_METRICS_CACHE_MS=0");
    // Markers carrying this MTA's DMARC pass act at once (SEC-5); the others wait for their
    // confirmation link (tests/integration/privacy_confirmation_test.cc).
    server_->AddEnv("HERALD_INBOUND_MAIL_TRUSTED_AUTHSERV_IDS=mx.herald.test");
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
    dispatch_ = v1::DispatchService::NewStub(server_->Channel());
  }

  Posted Post(const std::string& raw, const std::string& secret = kSecret,
              const std::string& type = "message/rfc822") {
    httplib::Client client("127.0.0.1", server_->mail_port());
    client.set_read_timeout(10, 0);
    httplib::Headers headers;
    if (!secret.empty()) headers.emplace("Authorization", "Bearer " + secret);
    auto res = client.Post("/hooks/email/inbound", headers, raw, type);
    Posted p;
    if (!res) return p;
    p.status = res->status;
    p.body = res->body;
    if (p.status == 200) p.outcome = nlohmann::json::parse(p.body).value("outcome", "");
    return p;
  }

  // A subject with consent to processing and to marketing on e-mail and SMS.
  std::string Subject(const std::string& email, const std::string& phone = "") {
    v1::UpsertSubjectRequest r = testing::SubjectWith("Leyla", {email});
    if (!phone.empty()) r.add_phones(phone);
    return testing::ConsentedSubject(*subs_, r, {v1::EMAIL, v1::SMS});
  }

  v1::DenyReason Check(const std::string& subject_id, const std::string& address,
                       v1::Channel channel) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::CheckEligibilityRequest r;
    if (!subject_id.empty()) r.mutable_recipient()->set_subject_id(subject_id);
    if (!address.empty()) r.mutable_recipient()->set_address(address);
    r.set_channel(channel);
    r.set_topic("special_offers");
    v1::CheckEligibilityResponse resp;
    auto st = subs_->CheckEligibility(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.decision().reason();
  }

  std::vector<v1::SubjectEvent> Events(const std::string& subject_id, const std::string& type) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::ListSubjectEventsRequest r;
    r.set_subject_id(subject_id);
    r.set_page_size(100);
    v1::ListSubjectEventsResponse resp;
    EXPECT_TRUE(subs_->ListSubjectEvents(&ctx, r, &resp).ok());
    std::vector<v1::SubjectEvent> out;
    for (const auto& e : resp.events()) {
      if (e.type() == type) out.push_back(e);
    }
    return out;
  }

  v1::Message GetMessage(const std::string& id) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::GetMessageRequest r;
    r.set_message_id(id);
    v1::Message m;
    EXPECT_TRUE(dispatch_->GetMessage(&ctx, r, &m).ok());
    return m;
  }

  // Sends one marketing e-mail to a new subject and waits until the relay took it.
  std::string SendAndWait(const std::string& email, const std::string& key) {
    std::string subject_id = Subject(email);
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::SendRequest r;
    r.set_idempotency_key(key);
    r.mutable_recipient()->set_subject_id(subject_id);
    r.set_channel(v1::EMAIL);
    r.set_topic("events");
    r.mutable_content()->set_subject("Приглашение");
    r.mutable_content()->set_text("Здравствуйте!");
    v1::SendResponse resp;
    auto st = dispatch_->Send(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    EXPECT_TRUE(
        testing::Eventually([&] { return GetMessage(resp.message_id()).status() == v1::SENT; },
                            std::chrono::seconds(20)))
        << server_->Log();
    return resp.message_id();
  }

  int64_t Count(const std::string& sql) { return testing::Number(*db_, sql); }

  // What the SMTP relay received for one of our messages: the envelope sender and the
  // Message-ID header (both carry its report token).
  struct Sent {
    std::string mail_from, message_id_header;
  };
  Sent Envelope(const std::string& message_id) {
    std::ifstream in(capture_->dir() + "/index.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      auto rec = nlohmann::json::parse(line);
      const auto& headers = rec["parsed"]["headers"];
      if (headers.value("X-Herald-Message-Id", "") == message_id) {
        return {rec["mail_from"].get<std::string>(), headers.value("Message-ID", "")};
      }
    }
    ADD_FAILURE() << "the relay never received " << message_id;
    return {};
  }

  // A fixture about kFixtureId made to quote our real message `id` as a genuine report
  // does: the id, and the Message-ID exactly as the relay received it (with its token).
  std::string Genuine(const std::string& fixture, const char* fixture_id, const std::string& id) {
    return Replace(Replace(Fixture(fixture), "<" + std::string(fixture_id) + "@herald.test>",
                           Envelope(id).message_id_header),
                   fixture_id, id);
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<testing::SmtpCapture> capture_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::DispatchService::Stub> dispatch_;
};

// STANDARDS §2b, DESIGN "seed's refusal marker": at once, the address and every channel of
// its owner; then a request event for the privacy service.
TEST_F(InboundMailTest, RefusalMarkerStopsAllMarketingOfTheOwnerAtOnce) {
  std::string owner = Subject("Leyla.Mammadova@example.az", "+994501234567");
  ASSERT_EQ(Check(owner, "", v1::SMS), v1::DENY_REASON_UNSPECIFIED);
  Posted p = Post(Fixture("refuse_az_utf8_base64.eml"));
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.outcome, "refusal_applied");
  EXPECT_EQ(Check(owner, "", v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check(owner, "", v1::SMS), v1::UNSUBSCRIBED_ALL);
  EXPECT_EQ(Check("", "leyla.mammadova@example.az", v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  auto events = Events(owner, "privacy_request_received");
  ASSERT_EQ(events.size(), 1u);
  auto details = nlohmann::json::parse(events[0].details_json());
  EXPECT_EQ(details["request"], "refuse_marketing");
  EXPECT_EQ(details["source"], "email");
  EXPECT_EQ(details["inbound_mail_id"], Count("SELECT max(id) FROM inbound_mail"));
  EXPECT_EQ(events[0].source(), v1::EMAIL_REPLY);
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE type = 'opt_out' AND source = 5"), 1);
  // Nothing personal in clear in the table of inbound mail.
  EXPECT_EQ(Count("SELECT count(*) FROM inbound_mail WHERE kind = 'marker'"
                  " AND outcome = 'refusal_applied'"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM inbound_mail WHERE row_to_json(inbound_mail)::text"
                  " ILIKE '%example.az%' OR row_to_json(inbound_mail)::text ILIKE '%imtina%'"),
            0);
  // No auto-reply, ever; no personal data in the log.
  EXPECT_TRUE(capture_->Messages().empty());
  EXPECT_THAT(server_->Log(), Not(HasSubstr("example.az")));
}

TEST_F(InboundMailTest, ReplayIsProcessedOnce) {
  std::string owner = Subject("ivan.petrov@example.ru");
  std::string raw = Fixture("refuse_ru_koi8r_base64.eml");
  EXPECT_EQ(Post(raw).outcome, "refusal_applied");
  int64_t events = Count("SELECT count(*) FROM events");
  EXPECT_EQ(Post(raw).outcome, "duplicate");
  EXPECT_EQ(Post(raw).outcome, "duplicate");
  EXPECT_EQ(Count("SELECT count(*) FROM events"), events);
  EXPECT_EQ(Count("SELECT count(*) FROM inbound_mail"), 1);
  EXPECT_EQ(Events(owner, "privacy_request_received").size(), 1u);
}

// Each marker fixture in each language: the outcome, and the state it leaves.
TEST_F(InboundMailTest, EveryMarkerFixture) {
  struct Case {
    const char* file;
    const char* from;
    const char* outcome;
    const char* request;
  };
  const Case cases[] = {
      {"refuse_az_utf8_base64.eml", "leyla.mammadova@example.az", "refusal_applied",
       "refuse_marketing"},
      {"refuse_ru_koi8r_base64.eml", "ivan.petrov@example.ru", "refusal_applied",
       "refuse_marketing"},
      {"refuse_en_folded.eml", "john.smith@example.com", "refusal_applied", "refuse_marketing"},
      {"rectify_az_qp_capitals.eml", "aysel@example.az", "rectification_recorded", "rectify"},
      {"rectify_ru_cp1251_qp.eml", "olga@example.ru", "rectification_recorded", "rectify"},
      {"rectify_en_fwd.eml", "mary@example.org", "rectification_recorded", "rectify"},
      {"revoke_az_qp_folded.eml", "rashad@example.az", "revocation_applied", "revoke_consent"},
      {"revoke_ru_utf8_base64.eml", "sergey@example.ru", "revocation_applied", "revoke_consent"},
      {"revoke_en_lowercase.eml", "anna@example.net", "revocation_applied", "revoke_consent"},
  };
  int n = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    std::string owner = Subject(c.from, "+99450123450" + std::to_string(n++));
    // The confirmed path (SEC-5): our MTA recorded a DMARC pass aligned with the From:.
    std::string from = c.from;
    Posted p = Post("Authentication-Results: mx.herald.test; dmarc=pass header.from=" +
                    from.substr(from.find('@') + 1) + "\r\n" + Fixture(c.file));
    ASSERT_EQ(p.status, 200) << p.body;
    EXPECT_EQ(p.outcome, c.outcome);
    auto events = Events(owner, "privacy_request_received");
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(nlohmann::json::parse(events[0].details_json())["request"], c.request);
    // The hook opens the privacy request at once (RequestIntake after its commit): a
    // confirmed rectification blocks the subject, a confirmed revocation revokes it (both
    // outrank the suppression); a refusal leaves the suppression and the all-marketing
    // opt-out.
    std::string request = c.request;
    v1::DenyReason email = request == "rectify"          ? v1::SUBJECT_BLOCKED
                           : request == "revoke_consent" ? v1::CONSENT_REVOKED
                                                         : v1::ADDRESS_SUPPRESSED;
    v1::DenyReason sms = request == "refuse_marketing" ? v1::UNSUBSCRIBED_ALL : email;
    EXPECT_EQ(Check(owner, "", v1::EMAIL), email);
    EXPECT_EQ(Check(owner, "", v1::SMS), sms);
    EXPECT_EQ(Count("SELECT count(*) FROM privacy_requests WHERE subject_id = '" + owner +
                    "' AND origin_event_id IS NOT NULL"),
              1)
        << "the marker's privacy request was not opened at once";
  }
}

// Our List-Unsubscribe mailto carries the refusal marker: the wider rule applies. With no
// subject owning the address, the request event sits on the address key.
TEST_F(InboundMailTest, MailtoUnsubscribeFromAnUnknownAddress) {
  Posted p = Post(Fixture("list_unsubscribe_mailto.eml"));
  EXPECT_EQ(p.outcome, "refusal_applied");
  EXPECT_EQ(Check("", "olga@example.com", v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE type = 'privacy_request_received'"
                  " AND subject_id IS NULL AND address_key IS NOT NULL"
                  " AND details->>'request' = 'refuse_marketing'"),
            1);
  // The address itself lives only in the personal side table.
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE details::text ILIKE '%olga%'"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM event_personal WHERE data->>'address' ="
                  " 'olga@example.com'"),
            2);  // the suppression and the request
}

TEST_F(InboundMailTest, PermanentFailureDsnMarksUndeliveredAndSuppresses) {
  std::string id = SendAndWait("dsn-target@example.com", "dsn-1");
  Posted p = Post(Genuine("dsn_failed_5_1_1.eml", kFailedId, id));
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.outcome, "bounce_recorded");
  v1::Message m = GetMessage(id);
  EXPECT_EQ(m.status(), v1::UNDELIVERED);
  ASSERT_GT(m.history_size(), 0);
  EXPECT_EQ(m.history(m.history_size() - 1).status(), v1::UNDELIVERED);
  EXPECT_THAT(m.history(m.history_size() - 1).note(), HasSubstr("5.1.1"));
  EXPECT_EQ(Check("", "dsn-target@example.com", v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions WHERE reason = 3 AND source = 8"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM inbound_mail WHERE status_code = '5.1.1'"
                  " AND herald_message_id = '" +
                  id + "'"),
            1);
  // A second notification (another relay, another Message-ID) adds history, nothing else.
  std::string again = Replace(Genuine("dsn_failed_5_1_1.eml", kFailedId, id),
                              "<dsn-dsn_failed_5_1_1@", "<dsn-second@");
  EXPECT_EQ(Post(again).outcome, "bounce_recorded");
  v1::Message after = GetMessage(id);
  EXPECT_EQ(after.status(), v1::UNDELIVERED);
  EXPECT_EQ(after.history_size(), m.history_size() + 1);
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions"), 1);
}

TEST_F(InboundMailTest, DelayedDsnIsHistoryOnly) {
  std::string id = SendAndWait("slow@example.com", "dsn-2");
  Posted p = Post(Genuine("dsn_delayed_4_4_1.eml", kDelayedId, id));
  EXPECT_EQ(p.outcome, "delay_recorded");
  v1::Message m = GetMessage(id);
  EXPECT_EQ(m.status(), v1::SENT);
  EXPECT_THAT(m.history(m.history_size() - 1).note(), HasSubstr("delayed 4.4.1"));
  // Not suppressed: the consenting owner may still be mailed.
  EXPECT_EQ(Check("", "slow@example.com", v1::EMAIL), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions"), 0);
}

TEST_F(InboundMailTest, DsnAboutAMessageWeDoNotKnowIsIgnored) {
  EXPECT_EQ(Post(Fixture("dsn_unknown_message.eml")).outcome, "ignored");
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM inbound_mail WHERE kind = 'dsn' AND outcome = 'ignored'"),
            1);
}

TEST_F(InboundMailTest, ComplaintSuppressesAndCountsOnTheCampaign) {
  auto subjects = testing::MakeSubjects(*db_, 1, "arf");
  v1::Content content;
  content.set_subject("Offer");
  content.set_text("Hello");
  std::string campaign = testing::StartCampaign(*server_, subjects, content, "arf");
  std::string id;
  ASSERT_TRUE(testing::Eventually(
      [&] {
        return Count("SELECT count(*) FROM messages WHERE campaign_id = '" + campaign +
                     "' AND status = 'sent'") == 1;
      },
      std::chrono::seconds(20)))
      << server_->Log();
  id = db_->Scalar("SELECT id FROM messages WHERE campaign_id = '" + campaign + "'");
  std::string arf = Genuine("arf_abuse.eml", kArfId, id);
  Posted p = Post(arf);
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.outcome, "complaint_recorded");
  std::string address = db_->Scalar("SELECT address FROM messages WHERE id = '" + id + "'");
  EXPECT_EQ(Check("", address, v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions WHERE reason = 4 AND source = 8"), 1);
  // A second report about the same message (another Message-ID) is not counted again.
  EXPECT_EQ(Post(Replace(arf, "<arf-1@mailbox.example>", "<arf-2@mailbox.example>")).outcome,
            "complaint_recorded");
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kAdminKey);
  v1::GetCampaignRequest r;
  r.set_campaign_id(campaign);
  v1::Campaign c;
  ASSERT_TRUE(dispatch_->GetCampaign(&ctx, r, &c).ok());
  EXPECT_EQ(c.complaints(), 1);
  std::string metrics;
  ASSERT_EQ(testing::HttpGet(server_->ops_port(), "/metrics", &metrics), 200);
  EXPECT_THAT(metrics, HasSubstr("herald_campaign_complaints{campaign_id=\"" + campaign + "\"} 1"));
  EXPECT_THAT(metrics,
              HasSubstr("herald_campaign_complaint_rate{campaign_id=\"" + campaign + "\"} 1"));
  EXPECT_THAT(metrics, Not(HasSubstr(address)));
}

// SEC-3, SEC-4, end to end: a campaign of three goes out through the real SMTP relay; each
// mail carries its report token in the envelope sender (VERP) and the Message-ID. One
// recipient, who sees their own id and can derive the others' (campaign ids are
// time-ordered), forges bounces and complaints for the other two: nothing changes and the
// complaint rate does not move. Genuine reports still act (positive controls).
TEST_F(InboundMailTest, ForgedReportsAboutOtherRecipientsChangeNothing) {
  auto subjects = testing::MakeSubjects(*db_, 3, "sec4-");
  v1::Content content;
  content.set_subject("Offer");
  content.set_text("Hello");
  std::string campaign = testing::StartCampaign(*server_, subjects, content, "sec4");
  ASSERT_TRUE(testing::Eventually(
      [&] {
        return Count("SELECT count(*) FROM messages WHERE campaign_id = '" + campaign +
                     "' AND status = 'sent'") == 3;
      },
      std::chrono::seconds(20)))
      << server_->Log();
  std::vector<std::string> ids, addresses;
  for (int i = 0; i < 3; ++i) {
    std::string nth = " FROM messages WHERE campaign_id = '" + campaign + "' ORDER BY id OFFSET " +
                      std::to_string(i) + " LIMIT 1";
    ids.push_back(db_->Scalar("SELECT id" + nth));
    addresses.push_back(db_->Scalar("SELECT address" + nth));
  }
  ASSERT_EQ(ids.size(), 3u);
  // At the relay: MAIL FROM news+<token>@herald.test and Message-ID <token@herald.invalid>,
  // the same token, starting with the compact id.
  std::vector<std::string> tokens;
  for (const auto& id : ids) {
    Sent sent = Envelope(id);
    std::string compact = Replace(id, "-", "");
    ASSERT_THAT(sent.mail_from,
                ::testing::MatchesRegex("news\\+" + compact + "\\.[a-z2-7]{16}@herald\\.test"));
    std::string token = sent.mail_from.substr(5, 49);
    EXPECT_EQ(sent.message_id_header, "<" + token + "@herald.invalid>");
    tokens.push_back(token);
  }
  const std::string& attacker = ids[0];
  std::string own_tag = tokens[0].substr(33);
  auto campaign_complaints = [&] {
    return Count("SELECT complaints FROM campaigns WHERE id = '" + campaign + "'");
  };
  std::string arf = Fixture("arf_abuse.eml");
  std::string dsn = Fixture("dsn_failed_5_1_1.eml");
  int n = 0;
  for (size_t v = 1; v < 3; ++v) {
    const std::string& victim = ids[v];
    std::string glued = Replace(victim, "-", "") + "." + own_tag;
    std::string label = std::to_string(v);
    for (std::string forged :
         {// The victim's id where ours would be, in the old <id@domain> form: no tag.
          Replace(arf, kArfId, victim), Replace(dsn, kFailedId, victim),
          // The attacker's genuine tag glued to the victim's id, in the Message-ID and as
          // the bounce's envelope recipient.
          Replace(Replace(arf, "<" + std::string(kArfId) + "@herald.test>",
                          "<" + glued + "@herald.invalid>"),
                  kArfId, victim),
          "Delivered-To: news+" + glued + "@herald.test\r\n" + Replace(dsn, kFailedId, victim),
          // SEC-3: no message of ours at all, only the victim's address.
          Replace(Replace(arf, "complainer@example.com", addresses[v]), kArfId,
                  "00000000-0000-4000-8000-000000000000")}) {
      SCOPED_TRACE(++n);
      forged = Replace(forged, "<arf-1@", "<arf-forged-" + label + "-" + std::to_string(n) + "@");
      forged = Replace(forged, "<dsn-dsn_failed_5_1_1@",
                       "<dsn-forged-" + label + "-" + std::to_string(n) + "@");
      Posted p = Post(forged);
      ASSERT_EQ(p.status, 200) << p.body;
      EXPECT_EQ(p.outcome, "ignored");
    }
  }
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM message_history h JOIN messages m ON m.id = h.message_id"
                  " WHERE m.campaign_id = '" +
                  campaign + "' AND h.note LIKE '%report%'"),
            0);
  EXPECT_EQ(Count("SELECT count(*) FROM messages WHERE campaign_id = '" + campaign +
                  "' AND status <> 'sent'"),
            0);
  EXPECT_EQ(campaign_complaints(), 0);
  std::string metrics;
  ASSERT_EQ(testing::HttpGet(server_->ops_port(), "/metrics", &metrics), 200);
  EXPECT_THAT(metrics, Not(HasSubstr("herald_campaign_complaints{campaign_id=\"" + campaign)));
  for (size_t v = 1; v < 3; ++v) {
    EXPECT_EQ(Check("", addresses[v], v1::EMAIL), v1::DENY_REASON_UNSPECIFIED) << v;
  }
  EXPECT_THAT(server_->Log(), HasSubstr("report without a verifiable report tag"));

  // Positive controls. The attacker's own genuine complaint suppresses the attacker only,
  // whatever address it writes in Original-Rcpt-To, and moves the rate by one message.
  std::string own = Replace(
      Replace(Genuine("arf_abuse.eml", kArfId, attacker), "complainer@example.com", addresses[1]),
      "<arf-1@", "<arf-own@");
  EXPECT_EQ(Post(own).outcome, "complaint_recorded");
  EXPECT_EQ(campaign_complaints(), 1);
  EXPECT_EQ(Check("", addresses[0], v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check("", addresses[1], v1::EMAIL), v1::DENY_REASON_UNSPECIFIED);
  // A genuine bounce for the third recipient that arrives at its VERP address and returns
  // only headers without our Message-ID: that message, that address.
  std::string bounce =
      "Delivered-To: " + Envelope(ids[2]).mail_from + "\r\n" +
      Replace(Replace(dsn, "<" + std::string(kFailedId) + "@herald.test>", "<lost@relay.example>"),
              kFailedId, "none");
  EXPECT_EQ(Post(bounce).outcome, "bounce_recorded");
  EXPECT_EQ(GetMessage(ids[2]).status(), v1::UNDELIVERED);
  EXPECT_EQ(Check("", addresses[2], v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check("", addresses[1], v1::EMAIL), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(GetMessage(ids[1]).status(), v1::SENT);
}

// SEC-14, end to end: plain-text bounces (no multipart/report) of two real messages. One
// naming the second recipient's address and bare id is forged: nothing changes, and
// /metrics counts it as unverified without naming anyone. Genuine ones act: qmail's notice
// quoting our Message-ID as the relay received it, and Exim's arriving at the VERP address.
TEST_F(InboundMailTest, PlainTextBouncesSuppressOnlyWithAVerifiedTag) {
  constexpr char kQmailId[] = "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e11";
  constexpr char kEximId[] = "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e12";
  std::string id = SendAndWait("plain-bounce@example.com", "plain-1");
  std::string victim = SendAndWait("plain-victim@example.com", "plain-2");
  auto metrics = [&] {
    std::string text;
    EXPECT_EQ(testing::HttpGet(server_->ops_port(), "/metrics", &text), 200);
    return text;
  };
  EXPECT_THAT(metrics(),
              HasSubstr("herald_inbound_bounces_unrecognised_total{reason=\"unverified\"} 0"));

  std::string forged = Replace(Replace(Replace(Fixture("bounce_qmail_5_1_1.eml"),
                                               "gone@example.org", "plain-victim@example.com"),
                                       kQmailId, victim),
                               "<bounce-qmail-1@", "<bounce-qmail-forged@");
  Posted p = Post(forged);
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.outcome, "ignored");
  EXPECT_EQ(Check("", "plain-victim@example.com", v1::EMAIL), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(GetMessage(victim).status(), v1::SENT);
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions"), 0);
  std::string after_forgery = metrics();
  EXPECT_THAT(after_forgery,
              HasSubstr("herald_inbound_bounces_unrecognised_total{reason=\"unverified\"} 1"));
  EXPECT_THAT(after_forgery, Not(HasSubstr("plain-victim")));

  // Genuine: qmail quoting our Message-ID (with its token) in the copy below the notice.
  p = Post(Genuine("bounce_qmail_5_1_1.eml", kQmailId, id));
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.outcome, "bounce_recorded");
  v1::Message m = GetMessage(id);
  EXPECT_EQ(m.status(), v1::UNDELIVERED);
  ASSERT_GT(m.history_size(), 0);
  EXPECT_THAT(m.history(m.history_size() - 1).note(), HasSubstr("qmail): failed 5.1.1"));
  EXPECT_EQ(Check("", "plain-bounce@example.com", v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check("", "plain-victim@example.com", v1::EMAIL), v1::DENY_REASON_UNSPECIFIED);
  // Genuine: Exim's notice quoting nothing of ours, delivered to the VERP address.
  std::string exim = "Delivered-To: " + Envelope(victim).mail_from + "\r\n" +
                     Replace(Fixture("bounce_exim_5_2_1.eml"),
                             "<" + std::string(kEximId) + "@herald.test>", "<lost@relay.example>");
  EXPECT_EQ(Post(exim).outcome, "bounce_recorded");
  EXPECT_EQ(GetMessage(victim).status(), v1::UNDELIVERED);
  EXPECT_EQ(Check("", "plain-victim@example.com", v1::EMAIL), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions WHERE reason = 3 AND source = 8"), 2);
  EXPECT_THAT(metrics(),
              HasSubstr("herald_inbound_bounces_unrecognised_total{reason=\"unverified\"} 1"));
}

TEST_F(InboundMailTest, UnrecognisedMailIsIgnoredAndNeverAnswered) {
  EXPECT_EQ(Post(Fixture("plain_no_marker.eml")).outcome, "ignored");
  EXPECT_EQ(Post(Fixture("auto_reply.eml")).outcome, "ignored");
  EXPECT_EQ(Count("SELECT count(*) FROM inbound_mail WHERE outcome = 'ignored'"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 0);
  ASSERT_OUTBOX_SETTLED(*db_);
  EXPECT_TRUE(capture_->Messages().empty());
}

TEST_F(InboundMailTest, WrongOrMissingSecretChangesNothing) {
  std::string raw = Fixture("refuse_en_folded.eml");
  EXPECT_EQ(Post(raw, "").status, 401);
  Posted wrong = Post(raw, "not-the-secret-at-all");
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(Count("SELECT count(*) FROM inbound_mail"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions"), 0);
  // The real one afterwards still works: nothing was marked as seen.
  EXPECT_EQ(Post(raw).outcome, "refusal_applied");
}

TEST_F(InboundMailTest, GarbageAndOversizeNeverA500) {
  std::string binary;
  for (int i = 0; i < 5000; ++i) binary.push_back(static_cast<char>((i * 131 + 7) % 256));
  for (const std::string& body :
       {binary, std::string("\r\n\r\nno headers"), std::string("From: \r\n\r\n"),
        std::string("Content-Type: multipart/report; report-type=delivery-status; boundary=x"
                    "\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed"),
        std::string("From: x@y.z\r\nSubject: =?KOI8-R?B?!!!?= =?bogus?Q?=ZZ?=\r\n\r\nhi")}) {
    Posted p = Post(body);
    EXPECT_TRUE(p.status == 200 || p.status == 400) << p.status << " " << p.body;
  }
  EXPECT_EQ(Post(Fixture("plain_no_marker.eml"), kSecret, "text/plain").status, 415);
  EXPECT_EQ(Post(std::string(300000, 'a')).status, 413);
  EXPECT_EQ(Count("SELECT count(*) FROM suppressions"), 0);
  EXPECT_EQ(testing::HttpGet(server_->ops_port(), "/healthz"), 200);
}

// heraldctl inbound-mail as a Postfix pipe transport: sysexits codes.
int RunCtl(const std::string& env, const std::string& args, const std::string& stdin_file,
           std::string* out) {
  std::string cmd =
      env + " " + HERALD_HERALDCTL_PATH + " inbound-mail " + args + " < '" + stdin_file + "' 2>&1";
  std::string output;
  int status = testing::RunCommand(cmd, &output);
  if (out) *out = output;
  return status;
}

TEST_F(InboundMailTest, HeraldctlInboundMailExitCodes) {
  std::string dir = std::string(HERALD_SOURCE_DIR) + "/tests/data/inbound_mail/";
  std::string url =
      "HERALDCTL_INBOUND_URL=http://127.0.0.1:" + std::to_string(server_->mail_port()) +
      "/hooks/email/inbound";
  std::string env = url + " HERALDCTL_INBOUND_SECRET=" + kSecret;
  std::string out;
  EXPECT_EQ(RunCtl(env, "", dir + "rectify_en_fwd.eml", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("rectification_recorded"));
  EXPECT_EQ(RunCtl(env, "", dir + "rectify_en_fwd.eml", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("duplicate"));
  // The secret from a file (Postfix pipe passes no environment).
  char path[] = "/tmp/herald-inbound-secret.XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string line = std::string(kSecret) + "\n";
  ASSERT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
  close(fd);
  EXPECT_EQ(RunCtl(url, std::string("--secret-file ") + path, dir + "plain_no_marker.eml", &out), 0)
      << out;
  unlink(path);
  // A wrong secret keeps the mail queued (75), so a misconfiguration loses nothing.
  EXPECT_EQ(RunCtl(url + " HERALDCTL_INBOUND_SECRET=wrong-secret-xxxxxxxx", "",
                   dir + "auto_reply.eml", &out),
            75)
      << out;
  EXPECT_EQ(RunCtl(url, "", dir + "auto_reply.eml", &out), 75) << out;  // no secret at all
  // Not a message: refused for good (65).
  EXPECT_EQ(RunCtl(env, "", "/dev/null", &out), 65) << out;
  char garbage[] = "/tmp/herald-inbound-garbage.XXXXXX";
  fd = mkstemp(garbage);
  ASSERT_EQ(write(fd, "\r\n\r\nno headers\r\n", 16), 16);
  close(fd);
  EXPECT_EQ(RunCtl(env, "", garbage, &out), 65) << out;
  unlink(garbage);
  EXPECT_EQ(RunCtl("", "--bogus", dir + "auto_reply.eml", &out), 64) << out;
  // Nobody listening: try again later (75).
  std::string down =
      "HERALDCTL_INBOUND_URL=http://127.0.0.1:" + std::to_string(testing::FreePort()) +
      "/hooks/email/inbound" + " HERALDCTL_INBOUND_SECRET=" + kSecret;
  EXPECT_EQ(RunCtl(down, "", dir + "auto_reply.eml", &out), 75) << out;
  // And when heraldd itself is stopped.
  server_->Stop(SIGTERM);
  EXPECT_EQ(RunCtl(env, "", dir + "revoke_en_lowercase.eml", &out), 75) << out;
}

}  // namespace
}  // namespace herald
