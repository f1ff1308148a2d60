// The Creatio connector through the paths people and Creatio use (docs/creatio.md): a
// one-click unsubscribe, an SMS STOP and an e-mail reply each end as the right write on the
// card; Creatio's own reports of card changes never echo and an untick is reverted; a
// destroyed subject's card gets its final write and the connector forgets it; the first
// import through heraldctl. A real heraldd writes to the Creatio stand-in, and every check
// is made where Creatio's user would see it: on the stand-in's cards and subscription rows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/crypto/hash.h"
#include "common/crypto/key_ring.h"
#include "common/crypto/link_token.h"
#include "herald/v1/crm.grpc.pb.h"
#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/consented_subject.h"
#include "tests/support/creatio_stand_in.h"
#include "tests/support/crm_fixture.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/json_client.h"
#include "tests/support/sms_provider_stand_in.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using testing::CallAs;
using ::testing::ContainsRegex;
using testing::CreatioContact;
using testing::CreatioGuid;
using testing::CreatioSubscription;
using ::testing::HasSubstr;
using testing::HeralddProcess;
using testing::kSubscribed;
using testing::kUnsubscribed;
using Json = nlohmann::json;

constexpr auto kWait = std::chrono::seconds(15);

// The BulkEmailType crm.topic_types maps product_news to, and one it does not map.
constexpr char kNewsType[] = "5b6d3a10-4c2e-4f8a-9d1b-7e0f2a3c4d5e";
constexpr char kOtherType[] = "6c7e4b21-5d3f-4a9b-8e2c-8f1a3b4c5d6f";

constexpr char kLinkKeyHex[] = "3333333333333333333333333333333333333333333333333333333333333d3d";
constexpr char kSmsSecret[] = "json-shared-secret-for-crm-tests";
constexpr char kMailSecret[] = "inbound-mail-secret-for-crm-tests";

class CrmPathsTest : public testing::CrmConnectorTest {
 protected:
  // heraldd with the connector on (small backoffs), product_news mapped to kNewsType unless
  // told otherwise, an SMS provider speaking the JSON dialect, recipient links and the
  // inbound-mail hook.
  void StartHeraldd(const std::string& extra = "", bool map_news = true) {
    std::string yaml = CrmSection(50, 500) +
                       (map_news ? "  topic_types: product_news=" + std::string(kNewsType) + "\n"
                                 : std::string()) +
                       extra +
                       "email:\n  from_address: news@herald.test\n"
                       "  unsubscribe_mailto: unsubscribe@herald.test\n"
                       "providers:\n  - name: js\n    kind: json_sms\n    country: RU\n"
                       "    priority: 1\n    settings:\n      url: " +
                       sms_.json_url() +
                       "\n      from: Herald\n      auth_header: X-Api-Key\n"
                       "      body_template: '{\"to\":\"{{to}}\",\"text\":\"{{body}}\"}'\n";
    CrmConnectorTest::StartHeraldd(yaml,
                                   {std::string("HERALD_LINK_KEYS=k1:") + kLinkKeyHex,
                                    std::string("HERALD_PROVIDER_JS_SECRET=") + kSmsSecret,
                                    std::string("HERALD_INBOUND_MAIL_SECRET=") + kMailSecret,
                                    // A marker carrying this MTA's DMARC pass acts at once.
                                    "HERALD_INBOUND_MAIL_TRUSTED_AUTHSERV_IDS=mx.herald.test"});
    privacy_ = v1::PrivacyService::NewStub(server_->Channel());
  }

  // A linked subject (external_id: the contact's id) with marketing consent on e-mail and
  // SMS; the stand-in holds its card with every flag false and a Subscribed row of the
  // mapped type. Returns once the consent's own write-back has reached the card.
  std::string LinkedSubject(const std::string& contact_id, const std::string& email,
                            const std::string& phone = "") {
    creatio_.PutSubscription(
        CreatioSubscription{CreatioGuid(90, static_cast<int>(creatio_.subscriptions().size()) + 1),
                            contact_id, kNewsType, kSubscribed});
    std::string id = CrmConnectorTest::LinkedSubject(contact_id, email, phone);
    // No consent to calls was ever given: the card's first write ticks DoNotUseCall only.
    // Callers go on from that state: without it they get no subject.
    if (!testing::Eventually([&] { return QueueEmpty() && Card(contact_id).do_not_use_call; },
                             kWait)) {
      ADD_FAILURE() << "the linked subject's first write never reached the card";
      return "";
    }
    return id;
  }

  CreatioContact Card(const std::string& contact_id) {
    auto c = creatio_.contact(contact_id);
    EXPECT_TRUE(c.has_value()) << contact_id;
    return c.value_or(CreatioContact{});
  }

  // The status of the contact's subscription row of `type` ("" when it has none).
  std::string SubscriptionStatus(const std::string& contact_id, const std::string& type) {
    for (const auto& s : creatio_.subscriptions()) {
      if (s.contact_id == contact_id && s.type_id == type) return s.status_id;
    }
    return "";
  }

  bool AllFlags(const std::string& contact_id) {
    auto c = Card(contact_id);
    return c.do_not_use_email && c.do_not_use_sms && c.do_not_use_call;
  }

  v1::ReportContactChangeResponse Report(const std::string& contact_id, std::optional<bool> email,
                                         std::optional<bool> sms, std::optional<bool> call) {
    v1::ReportContactChangeRequest req;
    req.set_contact_id(contact_id);
    if (email) req.set_do_not_use_email(*email);
    if (sms) req.set_do_not_use_sms(*sms);
    if (call) req.set_do_not_use_call(*call);
    req.set_changed_by("Supervisor");
    return CallAs(*crm_, &v1::CrmService::Stub::ReportContactChange, HeralddProcess::kCrmKey, req);
  }

  v1::Decision Check(const std::string& subject_id, v1::Channel channel,
                     const std::string& topic = "special_offers") {
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(subject_id);
    r.set_channel(channel);
    r.set_topic(topic);
    return CallAs(*subs_, &v1::SubscriptionService::Stub::CheckEligibility,
                  HeralddProcess::kAdminKey, r)
        .decision();
  }

  std::vector<std::string> EventTypes(const std::string& subject_id) {
    v1::ListSubjectEventsRequest r;
    r.set_subject_id(subject_id);
    r.set_page_size(200);
    auto resp = CallAs(*subs_, &v1::SubscriptionService::Stub::ListSubjectEvents,
                       HeralddProcess::kAdminKey, r);
    std::vector<std::string> out;
    for (const auto& e : resp.events()) out.push_back(e.type());
    return out;
  }

  // A recipient link of the subject's, for e-mail and `topic` ("": all marketing), signed
  // with the key heraldd verifies with, as a real message would carry it.
  std::string LinkToken(const std::string& subject_id, const std::string& topic) {
    crypto::LinkClaims c;
    c.subject_id = subject_id;
    c.topic = topic;
    c.channel = 1;  // e-mail
    c.message_id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    c.issued_at = SystemClock().Now();
    return crypto::LinkSigner(crypto::KeyRing::Parse(std::string("k1:") + kLinkKeyHex)).Sign(c);
  }

  // RFC 8058: what a mailbox provider POSTs on the List-Unsubscribe URL.
  int OneClick(const std::string& token) {
    httplib::Client c("127.0.0.1", server_->http_port());
    auto r =
        c.Post("/u/" + token, "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
    return r ? r->status : 0;
  }

  // An SMS reply as the JSON-dialect provider posts it, signed with the shared secret.
  int SmsReply(const std::string& id, const std::string& from, const std::string& text) {
    std::string body = Json{{"message_id", id}, {"from", from}, {"text", text}}.dump();
    httplib::Client c("127.0.0.1", server_->http_port());
    httplib::Headers h{
        {"X-Herald-Signature", "sha256=" + crypto::ToHex(crypto::HmacSha256(kSmsSecret, body))}};
    auto r = c.Post("/hooks/sms/js/inbound", h, body, "application/json");
    return r ? r->status : 0;
  }

  // A reply carrying the seed's refusal marker in its subject, from `from`, with our MTA's
  // DMARC pass; returns the hook's outcome.
  std::string RefusalReply(const std::string& from) {
    std::string domain = from.substr(from.find('@') + 1);
    std::string raw = "Authentication-Results: mx.herald.test; dmarc=pass header.from=" + domain +
                      "\r\nFrom: <" + from +
                      ">\r\nTo: unsubscribe@herald.test\r\n"
                      "Date: Tue, 24 Nov 2026 10:15:00 +0400\r\n"
                      "Message-ID: <crm-refuse-1@mail.example.com>\r\n"
                      "Subject: RE: REFUSAL of notifications about new products and services "
                      "and special offers\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: text/plain; charset=UTF-8\r\n\r\nPlease stop.\r\n";
    httplib::Client c("127.0.0.1", server_->mail_port());
    c.set_read_timeout(10, 0);
    httplib::Headers h{{"Authorization", std::string("Bearer ") + kMailSecret}};
    auto r = c.Post("/hooks/email/inbound", h, raw, "message/rfc822");
    if (!r) return "no answer";
    if (r->status != 200) return "HTTP " + std::to_string(r->status) + ": " + r->body;
    return Json::parse(r->body).value("outcome", "");
  }

  testing::SmsProviderStandIn sms_;
  std::unique_ptr<v1::PrivacyService::Stub> privacy_;
};

// C11: a one-click unsubscribe from one mapped topic reaches the card as that type's
// BulkEmailSubscription row set to Unsubscribed (DoNotUseEmail stays: the other topics are
// still allowed); a one-click from all marketing ticks DoNotUseEmail.
TEST_F(CrmPathsTest, C11_OneClickUnsubscribeReachesTheCard) {
  StartHeraldd();
  const std::string contact = CreatioGuid(1, 1);
  std::string id = LinkedSubject(contact, "one.click@example.com", "+994500000011");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(SubscriptionStatus(contact, kNewsType), kSubscribed);

  ASSERT_EQ(OneClick(LinkToken(id, "product_news")), 200) << server_->Log();
  ASSERT_EVENTUALLY(SubscriptionStatus(contact, kNewsType) == kUnsubscribed, kWait);
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
  EXPECT_FALSE(Card(contact).do_not_use_email);
  EXPECT_FALSE(Card(contact).do_not_use_sms);
  EXPECT_EQ(creatio_.subscriptions().size(), 1u);  // the row found, not a second one made

  ASSERT_EQ(OneClick(LinkToken(id, "")), 200) << server_->Log();
  ASSERT_EVENTUALLY(Card(contact).do_not_use_email, kWait);
  EXPECT_EQ(SubscriptionStatus(contact, kNewsType), kUnsubscribed);
}

// C11: STOP by SMS reaches the card of the number's owner as DoNotUseSms; e-mail stays.
TEST_F(CrmPathsTest, C11_SmsStopReachesTheCard) {
  StartHeraldd();
  const std::string contact = CreatioGuid(1, 2);
  std::string id = LinkedSubject(contact, "sms.stop@example.com", "+994500000021");
  ASSERT_FALSE(id.empty());
  ASSERT_FALSE(Card(contact).do_not_use_sms);

  ASSERT_EQ(SmsReply("J1", "+994500000021", "STOP"), 200) << server_->Log();
  ASSERT_EVENTUALLY(Card(contact).do_not_use_sms, kWait);
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
  EXPECT_FALSE(Card(contact).do_not_use_email);
  EXPECT_NE(Check(id, v1::SMS).reason(), v1::DENY_REASON_UNSPECIFIED);
}

// C11: a reply carrying the seed's refusal marker stops all marketing of the address's
// owner: every channel's flag and the mapped type's row reach the card.
TEST_F(CrmPathsTest, C11_EmailReplyWithTheRefusalMarkerReachesTheCard) {
  StartHeraldd();
  const std::string contact = CreatioGuid(1, 3);
  std::string id = LinkedSubject(contact, "marker.reply@example.com", "+994500000022");
  ASSERT_FALSE(id.empty());

  ASSERT_EQ(RefusalReply("marker.reply@example.com"), "refusal_applied") << server_->Log();
  ASSERT_EVENTUALLY(AllFlags(contact), kWait);
  ASSERT_EVENTUALLY(SubscriptionStatus(contact, kNewsType) == kUnsubscribed, kWait);
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
}

// C9: a report that agrees with Herald is MATCHED and writes nothing: Herald's own
// write-backs, reported back by Creatio's process, never echo.
TEST_F(CrmPathsTest, C9_AReportThatMatchesHeraldWritesNothing) {
  StartHeraldd("", /*map_news=*/false);
  const std::string contact = CreatioGuid(2, 1);
  std::string id = LinkedSubject(contact, "echo.match@example.com");
  ASSERT_FALSE(id.empty());
  size_t writes = creatio_.writes().size();

  // The subject has no phone: DoNotUseSms is Herald's to tick, and is left out of reports.
  auto resp = Report(contact, false, std::nullopt, true);
  EXPECT_EQ(resp.outcome(), v1::ReportContactChangeResponse::MATCHED);
  EXPECT_EQ(resp.subject_id(), id);
  EXPECT_TRUE(resp.opted_out().empty());
  EXPECT_TRUE(resp.reverted().empty());
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
  // The report settled the mark its own change made: with no row left in the outbox no
  // worker has anything to write.
  EXPECT_EQ(creatio_.writes().size(), writes);
  EXPECT_EQ(testing::Number(*db_, "SELECT count(*) FROM crm_outbox"), 0);
}

// C9: DoNotUseEmail ticked in Creatio is a salesperson's record of an opt-out: OPTED_OUT,
// the gate now denies e-mail, and the card is not written again (it shows that already).
TEST_F(CrmPathsTest, C9_ATickInCreatioIsAnOptOutAndIsNotWrittenBack) {
  StartHeraldd("", /*map_news=*/false);
  const std::string contact = CreatioGuid(2, 2);
  std::string id = LinkedSubject(contact, "echo.tick@example.com");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(Check(id, v1::EMAIL).reason(), v1::DENY_REASON_UNSPECIFIED);
  size_t contact_writes = ContactWrites(contact).size();

  // Creatio's card as the salesperson left it, then its report.
  auto card = Card(contact);
  card.do_not_use_email = true;
  creatio_.PutContact(card);
  auto resp = Report(contact, true, std::nullopt, true);
  EXPECT_EQ(resp.outcome(), v1::ReportContactChangeResponse::OPTED_OUT);
  EXPECT_THAT(resp.opted_out(), ::testing::ElementsAre("DoNotUseEmail"));
  EXPECT_EQ(Check(id, v1::EMAIL).reason(), v1::UNSUBSCRIBED_CHANNEL);

  // Nothing to write: the card shows what Herald now wants. (With a mapped topic the
  // channel opt-out would unsubscribe its type too, card_flags.h: a write of something the
  // card does not show yet, so this heraldd maps none.)
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
  EXPECT_EQ(ContactWrites(contact).size(), contact_writes);
  EXPECT_TRUE(Card(contact).do_not_use_email);
}

// C9: unticking DoNotUseEmail after an opt-out in Herald is not consent: REVERTED, recorded
// as crm.card_reverted, and the card is written back to true.
TEST_F(CrmPathsTest, C9_AnUntickIsRevertedAndRecorded) {
  StartHeraldd("", /*map_news=*/false);
  const std::string contact = CreatioGuid(2, 3);
  std::string id = LinkedSubject(contact, "echo.untick@example.com");
  ASSERT_FALSE(id.empty());
  OptOutChannel(id, v1::EMAIL);
  ASSERT_EVENTUALLY(Card(contact).do_not_use_email, kWait);
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
  size_t contact_writes = ContactWrites(contact).size();

  auto card = Card(contact);
  card.do_not_use_email = false;  // the untick, in Creatio
  creatio_.PutContact(card);
  auto resp = Report(contact, false, std::nullopt, true);
  EXPECT_EQ(resp.outcome(), v1::ReportContactChangeResponse::REVERTED);
  EXPECT_THAT(resp.reverted(), ::testing::ElementsAre("DoNotUseEmail"));
  EXPECT_EQ(Check(id, v1::EMAIL).reason(), v1::UNSUBSCRIBED_CHANNEL);  // still refused
  EXPECT_THAT(EventTypes(id), ::testing::Contains("crm.card_reverted"));

  ASSERT_EVENTUALLY(Card(contact).do_not_use_email, kWait);
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
  auto writes = ContactWrites(contact);
  ASSERT_EQ(writes.size(), contact_writes + 1);
  EXPECT_EQ(writes.back().value("DoNotUseEmail", false), true);
}

// C9: Creatio calls the JSON API, as a business process's web service element would.
TEST_F(CrmPathsTest, C9_CreatioReportsThroughTheJsonApi) {
  StartHeraldd("", /*map_news=*/false);
  ASSERT_GT(server_->json_port(), 0);
  const std::string contact = CreatioGuid(2, 4);
  std::string id = LinkedSubject(contact, "echo.json@example.com");
  ASSERT_FALSE(id.empty());
  size_t writes = creatio_.writes().size();

  auto a = testing::PostJson(server_->json_port(), "/v1/CrmService/ReportContactChange",
                             Json{{"contact_id", contact},
                                  {"do_not_use_email", false},
                                  {"do_not_use_call", true},
                                  {"changed_by", "Supervisor"}}
                                 .dump(),
                             HeralddProcess::kCrmKey);
  ASSERT_EQ(a.status, 200) << a.body;
  auto body = a.Json();
  EXPECT_EQ(body.value("outcome", ""), "MATCHED") << a.body;
  EXPECT_EQ(body.value("subjectId", body.value("subject_id", "")), id) << a.body;
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
  EXPECT_EQ(creatio_.writes().size(), writes);
}

// C10: destroying a linked subject writes every flag on its card (and unsubscribes the
// mapped type), then the connector forgets it: no crm_outbox or crm_contacts row is left.
TEST_F(CrmPathsTest, C10_DestructionWritesEveryFlagThenForgetsTheContact) {
  StartHeraldd();
  const std::string contact = CreatioGuid(3, 1);
  std::string id = LinkedSubject(contact, "destroyed@example.com", "+994500000031");
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(
      testing::Number(*db_, "SELECT count(*) FROM crm_contacts WHERE subject_id = '" + id + "'"),
      1);

  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kPrivacyKey);
  v1::DestroySubjectRequest req;
  req.set_subject_id(id);
  req.set_reason("consent revoked");
  req.set_idempotency_key("crm-destroy-1");
  v1::DestroySubjectResponse resp;
  grpc::Status s = privacy_->DestroySubject(&ctx, req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();

  ASSERT_EVENTUALLY(AllFlags(contact), kWait);
  ASSERT_EVENTUALLY(SubscriptionStatus(contact, kNewsType) == kUnsubscribed, kWait);
  ASSERT_EVENTUALLY(
      testing::Number(*db_, "SELECT (SELECT count(*) FROM crm_outbox WHERE subject_id = '" + id +
                                "') + (SELECT count(*) FROM crm_contacts WHERE subject_id = '" +
                                id + "')") == 0,
      kWait);
  EXPECT_TRUE(QueueEmpty());
}

// C10: a revocation and a block each tick every flag; an unblock gives the card Herald's
// state back.
TEST_F(CrmPathsTest, C10_RevocationAndBlockSetEveryFlagAndUnblockRestores) {
  StartHeraldd();
  const std::string revoked = CreatioGuid(3, 2), blocked = CreatioGuid(3, 3);
  std::string rid = LinkedSubject(revoked, "revoked@example.com", "+994500000032");
  std::string bid = LinkedSubject(blocked, "blocked@example.com", "+994500000033");
  ASSERT_FALSE(rid.empty());
  ASSERT_FALSE(bid.empty());
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kPrivacyKey);
    v1::RevokeConsentRequest req;
    req.set_idempotency_key("crm-revoke-1");
    req.set_subject_id(rid);
    v1::RevokeConsentResponse resp;
    grpc::Status s = privacy_->RevokeConsent(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kPrivacyKey);
    v1::BlockSubjectRequest req;
    req.set_idempotency_key("crm-block-1");
    req.set_subject_id(bid);
    req.set_reason("data reported inaccurate");
    v1::BlockSubjectResponse resp;
    grpc::Status s = privacy_->BlockSubject(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_EVENTUALLY(AllFlags(revoked) && AllFlags(blocked), kWait);
  ASSERT_EVENTUALLY(SubscriptionStatus(revoked, kNewsType) == kUnsubscribed &&
                        SubscriptionStatus(blocked, kNewsType) == kUnsubscribed,
                    kWait);
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kPrivacyKey);
    v1::UnblockSubjectRequest req;
    req.set_idempotency_key("crm-unblock-1");
    req.set_subject_id(bid);
    req.set_reason("data rectified");
    v1::UnblockSubjectResponse resp;
    grpc::Status s = privacy_->UnblockSubject(&ctx, req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_EVENTUALLY(!Card(blocked).do_not_use_email && !Card(blocked).do_not_use_sms, kWait);
  ASSERT_EVENTUALLY(SubscriptionStatus(blocked, kNewsType) == kSubscribed, kWait);
  ASSERT_EVENTUALLY(QueueEmpty(), kWait);
  EXPECT_TRUE(Card(blocked).do_not_use_call);  // never consented to calls
  EXPECT_TRUE(AllFlags(revoked));
}

// The value printed for `key` in heraldctl's key: value report.
std::string ReportValue(const std::string& out, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(out, m, std::regex("(^|\n)" + key + ": +([^\n]*)"))) return "";
  return m[2];
}

// C12, C13: the first import through heraldctl, over several pages: a dry run that changes
// nothing, the real run's progress and report, the flagged channels refused; then the
// operators' status, resync of every card page by page, and check (with a field a fork
// renamed). The import at the size of a few thousand contacts, with interruptions and a
// resume, is contact_import_db_test's; here a few hundred cover every kind of contact.
TEST_F(CrmPathsTest, C12_C13_ImportThroughHeraldctlThenOperatorsCommands) {
  constexpr int kContacts = 400, kPage = 100;  // four pages
  int email_flags = 0, sms_flags = 0, call_flags = 0, news_unsubscribed = 0, other_type = 0;
  for (int i = 0; i < kContacts; ++i) {
    char phone[16] = "";
    if (i < 100) std::snprintf(phone, sizeof phone, "+9945000000%02d", i);
    CreatioContact c{CreatioGuid(4, i), "Imported Person",
                     "imported" + std::to_string(i) + "@example.org", phone};
    c.do_not_use_email = i % 10 == 0;
    c.do_not_use_sms = i % 25 == 0;
    c.do_not_use_call = i % 50 == 0;
    email_flags += c.do_not_use_email;
    sms_flags += c.do_not_use_sms;
    call_flags += c.do_not_use_call;
    creatio_.PutContact(c);
    if (i % 20 == 5) {  // Unsubscribed of the mapped type: a topic opt-out
      creatio_.PutSubscription({CreatioGuid(5, i), CreatioGuid(4, i), kNewsType, kUnsubscribed});
      ++news_unsubscribed;
    }
    if (i % 20 == 6) {  // Subscribed: not read at all
      creatio_.PutSubscription({CreatioGuid(5, i), CreatioGuid(4, i), kNewsType, kSubscribed});
    }
    if (i % 100 == 7) {  // Unsubscribed of a type no topic maps to: skipped
      creatio_.PutSubscription({CreatioGuid(6, i), CreatioGuid(4, i), kOtherType, kUnsubscribed});
      ++other_type;
    }
  }
  StartHeraldd("  import_page_size: " + std::to_string(kPage) + "\n");
  const std::string key = HeralddProcess::kAdminKey;
  std::string out;

  // The dry run: the same counts, nothing changed.
  ASSERT_EQ(server_->Heraldctl(key, "crm import --dry-run", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("yes (nothing was changed)"));
  EXPECT_EQ(ReportValue(out, "contacts read"), std::to_string(kContacts)) << out;
  EXPECT_EQ(ReportValue(out, "subjects created"), std::to_string(kContacts)) << out;
  EXPECT_EQ(ReportValue(out, "channel opt-outs"),
            std::to_string(email_flags + sms_flags + call_flags))
      << out;
  EXPECT_EQ(ReportValue(out, "topic opt-outs"), std::to_string(news_unsubscribed)) << out;
  EXPECT_EQ(testing::Number(*db_, "SELECT count(*) FROM subjects"), 0);
  EXPECT_EQ(testing::Number(*db_, "SELECT count(*) FROM crm_contacts"), 0);
  EXPECT_EQ(testing::Number(*db_, "SELECT count(*) FROM events"), 0);
  EXPECT_TRUE(creatio_.writes().empty());

  // The real run: progress on the way, then the report.
  ASSERT_EQ(server_->Heraldctl(key, "crm import", &out), 0) << out;
  // The progress lines: "page N: M of T contacts, K opt-outs" (no total before the first page).
  EXPECT_THAT(out, ContainsRegex("page [0-9]+: [0-9]+( of [0-9]+)? contacts, [0-9]+ opt-outs"));
  EXPECT_EQ(ReportValue(out, "state"), "DONE") << out;
  EXPECT_EQ(ReportValue(out, "dry run"), "no") << out;
  EXPECT_EQ(ReportValue(out, "contacts read"), std::to_string(kContacts)) << out;
  EXPECT_EQ(ReportValue(out, "subjects created"), std::to_string(kContacts)) << out;
  EXPECT_EQ(ReportValue(out, "subjects matched"), "0") << out;
  EXPECT_EQ(ReportValue(out, "channel opt-outs"),
            std::to_string(email_flags + sms_flags + call_flags))
      << out;
  EXPECT_EQ(ReportValue(out, "topic opt-outs"), std::to_string(news_unsubscribed)) << out;
  EXPECT_EQ(ReportValue(out, "skipped"), std::to_string(other_type)) << out;
  EXPECT_EQ(testing::Number(*db_, "SELECT count(*) FROM subjects WHERE external_id IS NOT NULL"),
            kContacts);

  // The flagged channels are refused even once the person consents in Herald: Creatio's
  // opt-outs stand. Contact 0 has every flag; contact 5 an Unsubscribed product_news row.
  auto subject_of = [&](int i) {
    return db_->Scalar("SELECT id FROM subjects WHERE external_id = '" + CreatioGuid(4, i) + "'");
  };
  std::string flagged = subject_of(0), topic_only = subject_of(5), clean = subject_of(1);
  for (const auto& s : {flagged, topic_only, clean}) {
    testing::GrantConsent(*subs_, s, {v1::EMAIL, v1::SMS});
  }
  EXPECT_EQ(Check(flagged, v1::EMAIL).reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_EQ(Check(flagged, v1::SMS).reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_EQ(Check(topic_only, v1::EMAIL, "product_news").reason(), v1::UNSUBSCRIBED_TOPIC);
  EXPECT_EQ(Check(topic_only, v1::EMAIL).reason(), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(Check(clean, v1::EMAIL).reason(), v1::DENY_REASON_UNSPECIFIED);

  // The import's own changes go out; what Creatio showed already is not rewritten, and an
  // Unsubscribed row read from Creatio is never turned back to Subscribed.
  ASSERT_EVENTUALLY(QueueEmpty(), std::chrono::seconds(30));
  int resubscribed = 0;
  for (int i = 5; i < kContacts; i += 20) {
    resubscribed += SubscriptionStatus(CreatioGuid(4, i), kNewsType) != kUnsubscribed;
  }
  EXPECT_EQ(resubscribed, 0) << "Unsubscribed rows read by the import were written back as "
                                "Subscribed";
  EXPECT_TRUE(AllFlags(CreatioGuid(4, 0)));

  ASSERT_EQ(server_->Heraldctl(key, "crm status", &out), 0) << out;
  EXPECT_EQ(ReportValue(out, "pending"), "0") << out;
  EXPECT_EQ(ReportValue(out, "queue"), "flowing") << out;

  // Every linked card written again, from Herald's state, with progress per page.
  size_t before = creatio_.writes().size();
  ASSERT_EQ(server_->Heraldctl(key, "crm resync --all --page-size " + std::to_string(kPage), &out),
            0)
      << out;
  EXPECT_THAT(out,
              HasSubstr("enqueued " + std::to_string(kPage) + " of " + std::to_string(kContacts)));
  EXPECT_THAT(out,
              HasSubstr("enqueued " + std::to_string(kContacts) + " contact(s) for writing back"));
  ASSERT_EVENTUALLY(QueueEmpty(), std::chrono::seconds(30));
  std::set<std::string> rewritten;
  auto writes = creatio_.writes();
  for (size_t i = before; i < writes.size(); ++i) {
    if (writes[i].entity == "Contact") rewritten.insert(writes[i].id);
  }
  EXPECT_EQ(rewritten.size(), static_cast<size_t>(kContacts));

  ASSERT_EQ(server_->Heraldctl(key, "crm check", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("ok:"));
  creatio_.RemoveContactField("DoNotUseCall");
  EXPECT_NE(server_->Heraldctl(key, "crm check", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("DoNotUseCall"));
}

}  // namespace
}  // namespace herald
