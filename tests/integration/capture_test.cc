// CAP-1..CAP-7 end to end against a real heraldd, PostgreSQL and SMTP capture: the hosted form
// records a pending request and mails one confirmation (the gate's second exception); GETs of
// the link change nothing; the POST records the consents, and the trail shows the chain. A
// suppressed address gets nothing, known and unknown addresses get the same answer, bad input
// is refused naming the field in the form's language, and an expired request leaves no
// personal data anywhere.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <regex>

#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/consented_subject.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/personal_data_scan.h"
#include "tests/support/sms_provider_stand_in.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;

class CaptureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    capture_ = std::make_unique<testing::SmtpCapture>();
    std::string yaml =
        "email:\n  from_address: news@herald.test\n"
        "capture:\n  job_interval_s: 1\n  per_address_per_day: 2\n  per_ip_per_minute: 6000\n"
        "  require_confirmation: [CRM]\n"
        "  forms:\n    - id: newsletter\n      topics: [product_news, events]\n"
        "      processing_document: pd-2025-09\n      marketing_document: mk-2025-09\n"
        "      origins: [https://shop.example]\n"
        "providers:\n  - name: capture\n    kind: smtp\n    country: RU\n"
        "    settings:\n      url: smtp://127.0.0.1:" +
        std::to_string(capture_->port()) + "\n      starttls: none\n";
    yaml += "  - name: texts\n    kind: twilio\n    country: RU\n    settings:\n      base_url: " +
            sms_.base_url() + "\n      account_sid: AC123\n      from: Herald\n";
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), yaml);
    server_->AddEnv("HERALD_PROVIDER_TEXTS_SECRET=token-1");
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", server_->http_port());
    return client.Get(path);
  }
  httplib::Result Post(const std::string& path, const std::string& body,
                       const httplib::Headers& headers = {}) {
    httplib::Client client("127.0.0.1", server_->http_port());
    return client.Post(path, headers, body, "application/x-www-form-urlencoded");
  }
  static std::string CsrfOf(const std::string& page) {
    std::smatch m;
    static const std::regex kCsrf("name=\"csrf\" value=\"([A-Za-z0-9_-]+)\"");
    return std::regex_search(page, m, kCsrf) ? std::string(m[1]) : "";
  }

  // The hosted form's submission with its csrf field, in `lang`.
  httplib::Result Submit(const std::string& email, const std::string& extra,
                         const std::string& lang = "en") {
    auto page = Get("/f/newsletter/" + lang);
    EXPECT_TRUE(page && page->status == 200) << server_->Log();
    std::string csrf = page ? CsrfOf(page->body) : "";
    EXPECT_FALSE(csrf.empty());
    return Post("/f/newsletter", "csrf=" + csrf + "&lang=" + lang +
                                     "&given_name=Anna&surname=Smith" +
                                     (email.empty() ? "" : "&email=" + email) + extra);
  }

  // The path of the confirmation link mailed to `address` (waits for it).
  std::string LinkAt(const std::string& address) {
    std::string path;
    EXPECT_TRUE(testing::Eventually(
        [&] {
          for (const auto& m : capture_->Messages()) {
            if (m.find(address) == std::string::npos) continue;
            std::smatch match;
            static const std::regex kLink("https://herald\\.test(/fc/[A-Za-z0-9_-]+)");
            std::string text = testing::DecodeQuotedPrintable(m);
            if (std::regex_search(text, match, kLink)) {
              path = match[1];
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(30)))
        << server_->Log();
    return path;
  }

  std::vector<v1::Subject> Find(const std::string& address) {
    return testing::SubjectsAt(*subs_, address);
  }

  v1::DenyReason Check(const std::string& subject_id, const std::string& topic) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(subject_id);
    r.set_channel(v1::EMAIL);
    r.set_topic(topic);
    v1::CheckEligibilityResponse resp;
    auto st = subs_->CheckEligibility(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.decision().reason();
  }

  std::vector<std::string> EventTypes(const std::string& subject_id) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::ListSubjectEventsRequest r;
    r.set_subject_id(subject_id);
    r.set_page_size(100);
    v1::ListSubjectEventsResponse resp;
    auto st = subs_->ListSubjectEvents(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::vector<std::string> out;
    for (const auto& e : resp.events()) out.push_back(e.type());
    return out;
  }

  int64_t Count(const std::string& sql) { return testing::Number(*db_, sql); }

  // The code the SMS stand-in was sent for `number` (waits for it).
  std::string CodeSentTo(const std::string& number) {
    std::string code;
    EXPECT_TRUE(testing::Eventually(
        [&] {
          for (const auto& r : sms_.sent()) {
            std::smatch m;
            static const std::regex kCode("^([0-9]{6}) ");
            if (r.to == number && std::regex_search(r.body, m, kCode)) {
              code = m[1];
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(30)))
        << server_->Log();
    return code;
  }

  static std::string HiddenOf(const std::string& page, const std::string& name) {
    std::smatch m;
    std::regex re("name=\"" + name + "\" value=\"([A-Za-z0-9_-]+)\"");
    return std::regex_search(page, m, re) ? std::string(m[1]) : "";
  }

  httplib::Result PostCode(const std::string& page, const std::string& code) {
    return Post("/fcode", "lang=en&token=" + HiddenOf(page, "token") +
                              "&csrf=" + HiddenOf(page, "csrf") + "&code=" + code);
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<testing::SmtpCapture> capture_;
  testing::SmsProviderStandIn sms_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
};

size_t IndexOf(const std::vector<std::string>& v, const std::string& x) {
  return static_cast<size_t>(std::find(v.begin(), v.end(), x) - v.begin());
}

// CAP-1, CAP-3, CAP-4: pending until the POST; GETs (link scanners) change nothing; the POST
// records both consents with the form's documents, the topic ticked, and the whole chain.
TEST_F(CaptureTest, CAP_1_3_4_PendingUntilPostedNeverByGet) {
  auto sent =
      Submit("anna@example.net", "&topic=events&consent_processing=on&consent_marketing=on");
  ASSERT_TRUE(sent);
  EXPECT_EQ(sent->status, 200) << sent->body;
  EXPECT_THAT(sent->body, HasSubstr("id=\"sent\""));
  EXPECT_EQ(Count("SELECT count(*) FROM capture_requests WHERE status = 'pending'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM subjects"), 0);  // no consent before confirmation

  std::string link = LinkAt("anna@example.net");
  ASSERT_FALSE(link.empty());
  for (int i = 0; i < 2; ++i) {
    auto page = Get(link);
    ASSERT_TRUE(page);
    EXPECT_EQ(page->status, 200);
    EXPECT_THAT(page->body, HasSubstr("id=\"confirm\""));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM capture_requests WHERE status = 'pending'"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM subjects"), 0);

  // A POST without the page's csrf field is refused and changes nothing.
  auto forged = Post(link, "csrf=nope");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  EXPECT_EQ(Count("SELECT count(*) FROM subjects"), 0);

  auto page = Get(link);
  ASSERT_TRUE(page);
  auto confirmed = Post(link, "csrf=" + CsrfOf(page->body));
  ASSERT_TRUE(confirmed);
  EXPECT_EQ(confirmed->status, 200) << confirmed->body;
  EXPECT_THAT(confirmed->body, HasSubstr("id=\"confirmed\""));

  auto subjects = Find("anna@example.net");
  ASSERT_EQ(subjects.size(), 1u);
  const std::string id = subjects[0].id();
  EXPECT_EQ(Check(id, "events"), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(Check(id, "product_news"), v1::UNSUBSCRIBED_TOPIC);  // offered, not ticked
  EXPECT_EQ(Check(id, "service"), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(Count("SELECT count(*) FROM consents WHERE granted AND source = 1 AND form_id = "
                  "'newsletter' AND document_version IN ('pd-2025-09', 'mk-2025-09')"),
            2);
  auto types = EventTypes(id);
  size_t submitted = IndexOf(types, "capture.submitted");
  size_t confirmed_at = IndexOf(types, "capture.confirmed");
  size_t consent = IndexOf(types, "consent.granted");
  ASSERT_LT(consent, types.size());
  EXPECT_LT(submitted, confirmed_at);
  EXPECT_LT(confirmed_at, consent);
  // The export shows the chain too, with the form and the confirmation message.
  {
    auto privacy = v1::PrivacyService::NewStub(server_->Channel());
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kPrivacyKey);
    v1::ExportSubjectDataRequest r;
    r.set_subject_id(id);
    v1::ExportSubjectDataResponse resp;
    auto st = privacy->ExportSubjectData(&ctx, r, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    size_t form = resp.json().find("capture.submitted");
    size_t confirmation = resp.json().find("capture.confirmed");
    EXPECT_NE(form, std::string::npos);
    EXPECT_NE(confirmation, std::string::npos);
    EXPECT_THAT(resp.json(), HasSubstr("pd-2025-09"));
  }
  // The applied request keeps no personal values; the consent's proof names the message.
  EXPECT_EQ(Count("SELECT count(*) FROM capture_requests WHERE status = 'applied' AND "
                  "address IS NULL AND personal IS NULL AND message_id IS NOT NULL"),
            1);

  // A second POST answers the same and records nothing more.
  auto again = Post(link, "csrf=" + CsrfOf(page->body));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(Count("SELECT count(*) FROM consents"), 2);
}

// CAP-2, CAP-6: an address with a manual suppression gets no confirmation; its answer is the
// one an unknown address gets, and the answer past the per-address limit is the same too.
TEST_F(CaptureTest, CAP_2_6_SuppressedGetsNothingAndAnswersAreIdentical) {
  std::string known =
      testing::ConsentedSubject(*subs_, testing::SubjectWith("Mary", {"mary@example.org"}, "en"));
  ASSERT_FALSE(known.empty());
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::OptOutRequest r;
    r.set_address("mary@example.org");
    r.set_scope(v1::ALL_MARKETING);
    r.set_reason(v1::MANUAL);
    r.mutable_proof()->set_source(v1::OPERATOR);
    v1::OptOutResponse resp;
    auto st = subs_->OptOut(&ctx, r, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
  }
  const std::string boxes = "&consent_processing=on&consent_marketing=on";
  auto suppressed = Submit("mary@example.org", boxes);
  auto unknown = Submit("nobody@example.net", boxes);
  ASSERT_TRUE(suppressed && unknown);
  EXPECT_EQ(suppressed->status, unknown->status);
  EXPECT_EQ(suppressed->body, unknown->body);

  // The unknown address's confirmation arrives; the suppressed one is refused by the gate.
  ASSERT_FALSE(LinkAt("nobody@example.net").empty());
  EXPECT_EQ(Count("SELECT count(*) FROM messages WHERE confirms_capture IS NOT NULL AND status = "
                  "'suppressed' AND deny_reason IS NOT NULL"),
            1);
  for (const auto& m : capture_->Messages()) {
    EXPECT_EQ(m.find("mary@example.org"), std::string::npos);
  }

  // Past the per-address limit (2 a day): the same answer, no third request, no third mail.
  auto second = Submit("nobody@example.net", boxes);
  auto third = Submit("nobody@example.net", boxes);
  ASSERT_TRUE(second && third);
  EXPECT_EQ(third->body, unknown->body);
  EXPECT_EQ(Count("SELECT count(*) FROM capture_requests WHERE match_key = 'nobody@example.net'"),
            2);
}

// CAP-7: bad input answers 400 in the form's language naming the field; nothing is recorded.
TEST_F(CaptureTest, CAP_7_BadInputNamesTheFieldInTheFormsLanguage) {
  auto no_processing = Submit("anna@example.net", "&consent_marketing=on", "ru");
  ASSERT_TRUE(no_processing);
  EXPECT_EQ(no_processing->status, 400);
  EXPECT_THAT(no_processing->body, HasSubstr("id=\"error-consent_processing\""));
  EXPECT_THAT(no_processing->body, HasSubstr("Согласие на обработку персональных данных"));
  auto bad_email = Submit("not-an-address", "&consent_processing=on", "az");
  ASSERT_TRUE(bad_email);
  EXPECT_EQ(bad_email->status, 400);
  EXPECT_THAT(bad_email->body, HasSubstr("id=\"error-email\""));
  EXPECT_THAT(bad_email->body, HasSubstr("E-poçt ünvanı düzgün deyil."));
  auto bad_phone = Submit("", "&phone=12ab&consent_processing=on", "en");
  ASSERT_TRUE(bad_phone);
  EXPECT_EQ(bad_phone->status, 400);
  EXPECT_THAT(bad_phone->body, HasSubstr("id=\"error-phone\""));
  EXPECT_THAT(bad_phone->body, HasSubstr("The phone number is not valid."));
  auto foreign_topic = Submit("anna@example.net",
                              "&topic=special_offers&consent_processing=on&consent_marketing=on");
  ASSERT_TRUE(foreign_topic);
  EXPECT_EQ(foreign_topic->status, 400);
  EXPECT_THAT(foreign_topic->body, HasSubstr("id=\"error-topics\""));
  // Without the hosted page's csrf and from no listed origin: refused.
  auto forged =
      Post("/f/newsletter", "lang=en&given_name=A&email=a@example.net&consent_processing=on");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 403);
  // A listed origin (the operator's own page) needs no csrf field, and may ask for JSON.
  auto from_site = Post("/f/newsletter", "lang=en&given_name=A&email=bad&consent_processing=on",
                        {{"Origin", "https://shop.example"}, {"Accept", "application/json"}});
  ASSERT_TRUE(from_site);
  EXPECT_EQ(from_site->status, 400);
  EXPECT_THAT(from_site->body, HasSubstr("\"field\":\"email\""));
  EXPECT_EQ(from_site->get_header_value("Access-Control-Allow-Origin"), "https://shop.example");
  // A bot filling the hidden field: the usual answer, nothing recorded.
  auto bot = Submit("bot@example.net", "&website=http://spam&consent_processing=on");
  ASSERT_TRUE(bot);
  EXPECT_EQ(bot->status, 200);
  EXPECT_EQ(Count("SELECT count(*) FROM capture_requests"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM messages"), 0);
}

// CAP-5: an unconfirmed request expires and is deleted with its personal data; its mailed
// confirmation loses address and content (the destruction scan finds nothing), and the link
// then confirms nothing.
TEST_F(CaptureTest, CAP_5_ExpiredRequestLeavesNoPersonalData) {
  auto sent = Submit("zara.unique@example.net",
                     "&consent_processing=on&consent_marketing=on&patronymic=Qwertyovna");
  ASSERT_TRUE(sent && sent->status == 200);
  std::string link = LinkAt("zara.unique@example.net");
  ASSERT_FALSE(link.empty());
  // Its validity ends now (arranged in the database: the shortest configurable one is an hour).
  Count(
      "WITH u AS (UPDATE capture_requests SET expires_at = submitted_at RETURNING 1) "
      "SELECT count(*) FROM u");
  ASSERT_TRUE(
      testing::Eventually([&] { return Count("SELECT count(*) FROM capture_requests") == 0; },
                          std::chrono::seconds(30)))
      << server_->Log();
  auto scan = testing::ScanEveryTable(db_->dsn(), {"zara.unique@example.net", "Qwertyovna"});
  EXPECT_TRUE(scan.hits.empty()) << scan.hits.size() << " hits, first in "
                                 << (scan.hits.empty() ? "" : scan.hits[0].table);
  EXPECT_GT(scan.tables, 10);
  auto page = Get(link);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 404);
}

// CAP-8: a phone is confirmed by the code in its SMS, on the page that answered the form;
// wrong codes are refused and counted, the right one records SMS marketing consent.
TEST_F(CaptureTest, CAP_8_SmsCodeConfirmsThePhone) {
  auto sent = Submit("",
                     "&phone=%2B994501234567&topic=events&consent_processing=on"
                     "&consent_marketing=on");
  ASSERT_TRUE(sent);
  ASSERT_EQ(sent->status, 200) << sent->body;
  EXPECT_THAT(sent->body, HasSubstr("id=\"code-form\""));
  std::string code = CodeSentTo("+994501234567");
  ASSERT_EQ(code.size(), 6u);
  std::string wrong = code == "000000" ? "111111" : "000000";
  for (int i = 0; i < 4; ++i) {
    auto r = PostCode(sent->body, wrong);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
    EXPECT_THAT(r->body, HasSubstr("id=\"error-code\""));
  }
  EXPECT_EQ(Count("SELECT count(*) FROM subjects"), 0);
  // The link route never confirms an SMS request.
  auto by_link =
      Post("/fc/" + HiddenOf(sent->body, "token"), "csrf=" + HiddenOf(sent->body, "csrf"));
  ASSERT_TRUE(by_link);
  EXPECT_EQ(by_link->status, 404);
  auto right = PostCode(sent->body, code);
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 200) << right->body;
  EXPECT_THAT(right->body, HasSubstr("id=\"confirmed\""));
  auto subjects = Find("+994501234567");
  ASSERT_EQ(subjects.size(), 1u);
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kAdminKey);
  v1::CheckEligibilityRequest check;
  check.mutable_recipient()->set_subject_id(subjects[0].id());
  check.set_channel(v1::SMS);
  check.set_topic("events");
  v1::CheckEligibilityResponse resp;
  ASSERT_TRUE(subs_->CheckEligibility(&ctx, check, &resp).ok());
  EXPECT_EQ(resp.decision().reason(), v1::DENY_REASON_UNSPECIFIED);
}

// CAP-8: the fifth wrong code closes the request; the right one then confirms nothing, and
// the closed request is deleted with its personal data.
TEST_F(CaptureTest, CAP_8_FiveWrongCodesCloseTheRequest) {
  auto sent = Submit("", "&phone=%2B994507654321&consent_processing=on");
  ASSERT_TRUE(sent && sent->status == 200);
  std::string code = CodeSentTo("+994507654321");
  ASSERT_EQ(code.size(), 6u);
  std::string wrong = code == "000000" ? "111111" : "000000";
  for (int i = 1; i <= 5; ++i) {
    auto r = PostCode(sent->body, wrong);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, i < 5 ? 400 : 404) << "try " << i;
  }
  auto right = PostCode(sent->body, code);
  ASSERT_TRUE(right);
  EXPECT_EQ(right->status, 404);
  EXPECT_EQ(Count("SELECT count(*) FROM subjects"), 0);
  ASSERT_TRUE(
      testing::Eventually([&] { return Count("SELECT count(*) FROM capture_requests") == 0; },
                          std::chrono::seconds(30)))
      << server_->Log();
  auto scan = testing::ScanEveryTable(db_->dsn(), {"+994507654321", "994507654321"});
  EXPECT_TRUE(scan.hits.empty()) << scan.hits.size() << " hits, first in "
                                 << (scan.hits.empty() ? "" : scan.hits[0].table);
}

// CAP-9: with require_confirmation for CRM, a consent the CRM grants through RecordConsent
// is pending until the subject confirms it by the link sent to their address; then it is
// recorded with its own source and the confirmation in its proof. Another source counts at
// once, and a withdrawal from the held source acts at once.
TEST_F(CaptureTest, CAP_9_ConsentsFromAHeldSourceWaitForTheSubject) {
  std::string subject;
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::UpsertSubjectResponse resp;
    // Linked to a Creatio contact, so the write-back hears of the confirmed consent.
    auto up = testing::SubjectWith("Leyla", {"leyla@example.az"}, "ru");
    up.set_external_id("5b0f7c2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f");
    auto st = subs_->UpsertSubject(&ctx, up, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    subject = resp.subject().id();
  }
  auto record = [&](v1::ConsentKind kind, v1::Source source, bool granted) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::RecordConsentRequest r;
    r.set_subject_id(subject);
    r.set_kind(kind);
    if (kind == v1::MARKETING) r.set_channel(v1::EMAIL);
    r.set_granted(granted);
    r.mutable_proof()->set_source(source);
    r.mutable_proof()->set_document_version("crm-2025");
    v1::RecordConsentResponse resp;
    auto st = subs_->RecordConsent(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  };
  auto held = record(v1::PROCESSING, v1::CRM, true);
  EXPECT_TRUE(held.pending_confirmation());
  EXPECT_TRUE(held.consent().id().empty());
  EXPECT_EQ(Count("SELECT count(*) FROM consents"), 0);
  EXPECT_EQ(Check(subject, "service"), v1::NO_CONSENT);
  // Another source is not held.
  auto at_once = record(v1::MARKETING, v1::WEB_FORM, true);
  EXPECT_FALSE(at_once.pending_confirmation());
  EXPECT_EQ(Count("SELECT count(*) FROM consents WHERE source = 1"), 1);

  std::string link = LinkAt("leyla@example.az");
  ASSERT_FALSE(link.empty());
  auto page = Get(link);
  ASSERT_TRUE(page);
  EXPECT_THAT(page->body, HasSubstr("lang=\"ru\""));
  EXPECT_EQ(Count("SELECT count(*) FROM consents WHERE source = 2"), 0);
  int64_t revision = Count("SELECT coalesce(max(revision), 0) FROM crm_outbox");
  auto confirmed = Post(link, "csrf=" + CsrfOf(page->body));
  ASSERT_TRUE(confirmed);
  EXPECT_EQ(confirmed->status, 200) << confirmed->body;
  // The write-back queue holds the contact again (C1, C2): Creatio learns of the consent.
  EXPECT_GT(Count("SELECT coalesce(max(revision), 0) FROM crm_outbox WHERE contact_id = "
                  "'5b0f7c2e-1d2a-4c3b-9e8f-0a1b2c3d4e5f'"),
            revision);
  EXPECT_EQ(Count("SELECT count(*) FROM consents WHERE source = 2 AND granted AND kind = 1 AND "
                  "document_version = 'crm-2025'"),
            1);
  EXPECT_EQ(Check(subject, "service"), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(Count("SELECT count(*) FROM events e JOIN messages m ON e.details->>'message_id' = "
                  "m.id::text WHERE e.type = 'consent.granted' AND m.confirms_capture IS NOT NULL"),
            1);
  auto types = EventTypes(subject);
  EXPECT_LT(IndexOf(types, "capture.confirmed"), types.size());

  // A withdrawal from the held source acts at once.
  auto withdrawn = record(v1::PROCESSING, v1::CRM, false);
  EXPECT_FALSE(withdrawn.pending_confirmation());
  EXPECT_EQ(Check(subject, "service"), v1::CONSENT_REVOKED);
}

// CAP-9 by phone: marketing by SMS held for a subject with only a number is confirmed by the
// link its SMS carries (a held consent was not typed into a form, so there is no code page).
TEST_F(CaptureTest, CAP_9_HeldSmsConsentIsConfirmedByTheLinkInItsSms) {
  std::string subject;
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::UpsertSubjectRequest up;
    up.set_given_name("Rauf");
    up.set_locale("az");
    up.add_phones("+994551112233");
    v1::UpsertSubjectResponse resp;
    auto st = subs_->UpsertSubject(&ctx, up, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    subject = resp.subject().id();
  }
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kAdminKey);
  v1::RecordConsentRequest r;
  r.set_subject_id(subject);
  r.set_kind(v1::MARKETING);
  r.set_channel(v1::SMS);
  r.set_granted(true);
  r.mutable_proof()->set_source(v1::CRM);
  r.mutable_proof()->set_document_version("crm-2025");
  v1::RecordConsentResponse resp;
  auto st = subs_->RecordConsent(&ctx, r, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(resp.pending_confirmation());

  std::string path;
  ASSERT_TRUE(testing::Eventually(
      [&] {
        for (const auto& m : sms_.sent()) {
          std::smatch match;
          static const std::regex kLink("https://herald\\.test(/fc/[A-Za-z0-9_-]+)");
          if (m.to == "+994551112233" && std::regex_search(m.body, match, kLink)) {
            path = match[1];
            return true;
          }
        }
        return false;
      },
      std::chrono::seconds(30)))
      << server_->Log();
  auto page = Get(path);
  ASSERT_TRUE(page);
  EXPECT_THAT(page->body, HasSubstr("lang=\"az\""));
  EXPECT_EQ(Count("SELECT count(*) FROM consents"), 0);
  auto confirmed = Post(path, "csrf=" + CsrfOf(page->body));
  ASSERT_TRUE(confirmed);
  EXPECT_EQ(confirmed->status, 200) << confirmed->body;
  EXPECT_EQ(Count("SELECT count(*) FROM consents WHERE source = 2 AND granted AND kind = 2 AND "
                  "channel = 2"),
            1);
}

// CAP-6: submissions are limited per client IP (their own bucket on the public listener):
// past capture.per_ip_per_minute, 429 with Retry-After, and nothing is recorded.
TEST(CaptureLimitTest, CAP_6_SubmissionsPerIpAreLimited) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  HeralddProcess server(db->dsn(),
                        "capture:\n  per_ip_per_minute: 2\n  forms:\n    - id: newsletter\n"
                        "      topics: [events]\n      processing_document: pd-1\n"
                        "      marketing_document: mk-1\n      origins: [https://shop.example]\n");
  server.Start();
  httplib::Client client("127.0.0.1", server.http_port());
  httplib::Headers site = {{"Origin", "https://shop.example"}};
  std::vector<int> statuses;
  for (int i = 0; i < 4; ++i) {
    // Each one bad (no consent box), so an answered one records nothing either.
    auto r = client.Post("/f/newsletter", site, "lang=en&given_name=A&email=a@example.net",
                         "application/x-www-form-urlencoded");
    ASSERT_TRUE(r);
    statuses.push_back(r->status);
    if (r->status == 429) {
      EXPECT_FALSE(r->get_header_value("Retry-After").empty());
    }
  }
  EXPECT_EQ(statuses.front(), 400);
  EXPECT_EQ(statuses.back(), 429) << "statuses: " << statuses[0] << " " << statuses[1] << " "
                                  << statuses[2] << " " << statuses[3];
  EXPECT_EQ(testing::Number(*db, "SELECT count(*) FROM capture_requests"), 0);
}

}  // namespace
}  // namespace herald
