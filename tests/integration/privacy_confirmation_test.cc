// SEC-5 end to end: an e-mail marker's From: can be forged, so a revocation or
// rectification marker posted to a real heraldd stops marketing at once but revokes,
// schedules and blocks nothing until the request is confirmed: by the link mailed to the
// address (followed here from the message at the SMTP capture: GET, then POST), or by a
// DMARC-aligned pass our own MTA recorded. A forged Authentication-Results counts for
// nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/wait.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "herald/v1/privacy.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/consented_subject.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using ::testing::Not;

constexpr char kSecret[] = "inbound-mail-secret-0123456789";
constexpr char kOurMta[] = "mx.herald.test";

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/tests/data/inbound_mail/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class PrivacyConfirmationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    capture_ = std::make_unique<testing::SmtpCapture>();
    std::string yaml =
        "email:\n  from_address: privacy@herald.test\n"
        "privacy:\n  job_interval_s: 1\n"
        "providers:\n  - name: capture\n    kind: smtp\n    country: RU\n"
        "    settings:\n      url: smtp://127.0.0.1:" +
        std::to_string(capture_->port()) + "\n      starttls: none\n";
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), yaml);
    server_->AddEnv(std::string("HERALD_INBOUND_MAIL_SECRET=") + kSecret);
    server_->AddEnv(std::string("HERALD_INBOUND_MAIL_TRUSTED_AUTHSERV_IDS=") + kOurMta);
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
    privacy_ = v1::PrivacyService::NewStub(server_->Channel());
  }

  std::string PostMail(const std::string& raw) {
    httplib::Client client("127.0.0.1", server_->mail_port());
    client.set_read_timeout(10, 0);
    httplib::Headers headers = {{"Authorization", std::string("Bearer ") + kSecret}};
    auto res = client.Post("/hooks/email/inbound", headers, raw, "message/rfc822");
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    return res && res->status == 200 ? nlohmann::json::parse(res->body).value("outcome", "") : "";
  }

  // A subject with consent to processing and to e-mail marketing.
  std::string Subject(const std::string& email, const std::string& locale) {
    return testing::ConsentedSubject(*subs_, testing::SubjectWith("Anna", {email}, locale));
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

  // The subject's e-mail request, as the privacy officer sees it.
  v1::PrivacyRequest Request(const std::string& subject_id) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kPrivacyKey);
    v1::ListPrivacyRequestsRequest r;
    r.set_subject_id(subject_id);
    v1::ListPrivacyRequestsResponse resp;
    auto st = privacy_->ListPrivacyRequests(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.requests_size() > 0 ? resp.requests(0) : v1::PrivacyRequest();
  }

  // The path of the confirmation link in the captured message to `address` (waits for it).
  std::string LinkAt(const std::string& address, std::string* message = nullptr) {
    std::string path;
    EXPECT_TRUE(testing::Eventually(
        [&] {
          for (const auto& m : capture_->Messages()) {
            if (m.find(address) == std::string::npos) continue;
            std::string text = testing::DecodeQuotedPrintable(m);
            std::smatch match;
            static const std::regex kLink("https://herald\\.test(/c/[A-Za-z0-9_-]+)");
            if (std::regex_search(text, match, kLink)) {
              path = match[1];
              if (message) *message = text;
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(30)))
        << server_->Log();
    return path;
  }

  httplib::Result Get(const std::string& path) {
    httplib::Client client("127.0.0.1", server_->http_port());
    return client.Get(path);
  }
  httplib::Result Post(const std::string& path, const std::string& csrf) {
    httplib::Client client("127.0.0.1", server_->http_port());
    return client.Post(path, "csrf=" + csrf, "application/x-www-form-urlencoded");
  }
  static std::string CsrfOf(const std::string& page) {
    std::smatch m;
    static const std::regex kCsrf("name=\"csrf\" value=\"([A-Za-z0-9_-]+)\"");
    return std::regex_search(page, m, kCsrf) ? std::string(m[1]) : "";
  }

  // heraldctl with the privacy key; its exit status and output.
  int Heraldctl(const std::string& args, std::string* out) {
    return server_->Heraldctl(HeralddProcess::kPrivacyKey, args, out);
  }

  int64_t Count(const std::string& sql) { return testing::Number(*db_, sql); }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<testing::SmtpCapture> capture_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::PrivacyService::Stub> privacy_;
};

// The attack: a spoofed revocation (no Authentication-Results of ours) and a spoofed
// rectification stop marketing, and nothing else, for as long as nobody confirms.
TEST_F(PrivacyConfirmationTest, SpoofedMarkersStopMarketingButRevokeAndBlockNothing_SEC5) {
  std::string revoked = Subject("anna@example.net", "en");
  std::string rectified = Subject("mary@example.org", "en");
  EXPECT_EQ(PostMail(Fixture("revoke_en_lowercase.eml")), "revocation_applied");
  EXPECT_EQ(PostMail(Fixture("rectify_en_fwd.eml")), "rectification_recorded");
  // Marketing stopped at once (harmless even if spoofed) ...
  EXPECT_EQ(Check(revoked, "special_offers"), v1::ADDRESS_SUPPRESSED);
  // ... but no revocation, no block: service notices still reach both.
  EXPECT_EQ(Check(revoked, "service"), v1::DENY_REASON_UNSPECIFIED);
  EXPECT_EQ(Check(rectified, "service"), v1::DENY_REASON_UNSPECIFIED);
  for (const auto& id : {revoked, rectified}) {
    v1::PrivacyRequest r = Request(id);
    EXPECT_EQ(r.status(), v1::OPEN);
    EXPECT_EQ(r.confirmation(), v1::CONFIRMATION_PENDING);
    EXPECT_TRUE(r.has_due_time());  // the legal due date, for the privacy officer
    EXPECT_FALSE(r.blocked_by_request());
  }
  EXPECT_EQ(Count("SELECT count(*) FROM subjects WHERE revoked OR blocked"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM consents WHERE NOT granted"), 0);
  // Once the worker has sent both confirmation e-mails (the worker role ran), still
  // nothing else changed; no personal data in the log.
  ASSERT_FALSE(LinkAt("anna@example.net").empty());
  ASSERT_FALSE(LinkAt("mary@example.org").empty());
  EXPECT_EQ(Count("SELECT count(*) FROM subjects WHERE revoked OR blocked"), 0);
  EXPECT_EQ(Request(revoked).confirmation(), v1::CONFIRMATION_PENDING);
  EXPECT_EQ(Request(rectified).confirmation(), v1::CONFIRMATION_PENDING);
  // The privacy officer sees both open, with their due dates, waiting.
  std::string out;
  ASSERT_EQ(Heraldctl("privacy due", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("CONFIRMATION"));
  EXPECT_THAT(out, HasSubstr(Request(revoked).id()));
  EXPECT_THAT(out, HasSubstr(Request(rectified).id()));
  EXPECT_THAT(out, HasSubstr("PENDING"));
  ASSERT_EQ(Heraldctl("privacy request --request-id " + Request(revoked).id(), &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("PENDING"));
  EXPECT_THAT(server_->Log(), Not(HasSubstr("example.net")));
  EXPECT_THAT(server_->Log(), Not(HasSubstr("example.org")));
}

// Positive control: the owner follows the link from the e-mail. GET shows the page and
// changes nothing; POST confirms and the step is taken.
TEST_F(PrivacyConfirmationTest, FollowingTheMailedLinkConfirmsTheRequest_SEC5) {
  std::string revoked = Subject("anna@example.net", "ru");
  std::string rectified = Subject("mary@example.org", "en");
  PostMail(Fixture("revoke_en_lowercase.eml"));
  PostMail(Fixture("rectify_en_fwd.eml"));

  std::string message;
  std::string link = LinkAt("anna@example.net", &message);
  ASSERT_FALSE(link.empty());
  // In the subject's language, to the marker's address, from our own address.
  EXPECT_THAT(message, HasSubstr("Если запрос отправили вы"));
  EXPECT_THAT(message, HasSubstr("privacy@herald.test"));
  auto page = Get(link);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("lang=\"ru\""));
  EXPECT_THAT(page->body, HasSubstr("id=\"confirm-form\""));
  EXPECT_EQ(Request(revoked).confirmation(), v1::CONFIRMATION_PENDING);  // GET changed nothing
  EXPECT_EQ(Check(revoked, "service"), v1::DENY_REASON_UNSPECIFIED);

  // A POST without the page's csrf value is refused and changes nothing.
  auto refused = Post(link, "x");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(Request(revoked).confirmation(), v1::CONFIRMATION_PENDING);

  auto done = Post(link, CsrfOf(page->body));
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200) << done->body;
  EXPECT_THAT(done->body, HasSubstr("id=\"confirmed\""));
  EXPECT_EQ(Check(revoked, "service"), v1::CONSENT_REVOKED);
  v1::PrivacyRequest r = Request(revoked);
  EXPECT_EQ(r.confirmation(), v1::CONFIRMED_BY_LINK);
  EXPECT_EQ(r.status(), v1::OPEN);  // destruction is due at r.due_time, by the job
  // The other request is untouched by this link ...
  EXPECT_EQ(Request(rectified).confirmation(), v1::CONFIRMATION_PENDING);
  EXPECT_EQ(Check(rectified, "service"), v1::DENY_REASON_UNSPECIFIED);
  // ... and blocked once its own link is followed.
  std::string link2 = LinkAt("mary@example.org");
  ASSERT_FALSE(link2.empty());
  ASSERT_NE(link2, link);
  auto page2 = Get(link2);
  ASSERT_TRUE(page2);
  auto done2 = Post(link2, CsrfOf(page2->body));
  ASSERT_TRUE(done2);
  EXPECT_EQ(done2->status, 200) << done2->body;
  EXPECT_EQ(Check(rectified, "service"), v1::SUBJECT_BLOCKED);
  EXPECT_TRUE(Request(rectified).blocked_by_request());
}

// Forged, tampered and other-purpose tokens: the localised 404, nothing changed.
TEST_F(PrivacyConfirmationTest, ForgedLinksAreRefused_SEC5) {
  std::string revoked = Subject("anna@example.net", "en");
  PostMail(Fixture("revoke_en_lowercase.eml"));
  std::string link = LinkAt("anna@example.net");
  ASSERT_FALSE(link.empty());
  std::string tampered = link;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  for (const std::string& path : {tampered, std::string("/c/"), std::string("/c/AAAA"),
                                  std::string("/c/") + std::string(300, 'A')}) {
    SCOPED_TRACE(path);
    auto get = Get(path);
    ASSERT_TRUE(get);
    EXPECT_EQ(get->status, 404);
    auto post = Post(path, "x");
    ASSERT_TRUE(post);
    EXPECT_EQ(post->status, 404);
  }
  EXPECT_EQ(Request(revoked).confirmation(), v1::CONFIRMATION_PENDING);
  EXPECT_EQ(Check(revoked, "service"), v1::DENY_REASON_UNSPECIFIED);
}

// Positive control: our own MTA's DMARC-aligned pass confirms at once, with no link mailed.
// The same header from any other authserv-id counts for nothing.
TEST_F(PrivacyConfirmationTest, OnlyOurMtasDmarcPassConfirmsAtOnce_SEC5) {
  std::string forged_for = Subject("anna@example.net", "en");
  std::string genuine = Subject("mary@example.org", "en");
  std::string forged =
      "Authentication-Results: attacker.example; dmarc=pass"
      " header.from=example.net\r\n" +
      Fixture("revoke_en_lowercase.eml");
  EXPECT_EQ(PostMail(forged), "revocation_applied");
  EXPECT_EQ(Request(forged_for).confirmation(), v1::CONFIRMATION_PENDING);
  EXPECT_EQ(Check(forged_for, "service"), v1::DENY_REASON_UNSPECIFIED);

  std::string ours =
      std::string("Authentication-Results: ") + kOurMta +
      "; spf=pass smtp.mailfrom=example.org; dmarc=pass header.from=example.org\r\n" +
      Fixture("rectify_en_fwd.eml");
  EXPECT_EQ(PostMail(ours), "rectification_recorded");
  EXPECT_EQ(Check(genuine, "service"), v1::SUBJECT_BLOCKED);
  EXPECT_EQ(Request(genuine).confirmation(), v1::CONFIRMED_BY_DMARC);
  // Only the forged one's owner is asked to confirm.
  ASSERT_FALSE(LinkAt("anna@example.net").empty());
  for (const auto& m : capture_->Messages()) EXPECT_THAT(m, Not(HasSubstr("mary@example.org")));
}

}  // namespace
}  // namespace herald
