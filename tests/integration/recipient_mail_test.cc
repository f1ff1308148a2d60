// What a marketing e-mail's recipient gets, read at the SMTP sink: the footer's two links and
// the mailto List-Unsubscribe's refusal marker, each in the recipient's own language (E6, E7).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/consented_subject.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;

// RFC 3986 percent-decoding of a mailto URI's subject.
std::string PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// The List-Unsubscribe header, unfolded.
std::string ListUnsubscribe(const std::string& mail) {
  std::smatch m;
  std::string unfolded = std::regex_replace(mail, std::regex("\r?\n[ \t]+"), " ");
  if (!std::regex_search(unfolded, m, std::regex("\nList-Unsubscribe: ([^\r\n]*)"))) return "";
  return m[1];
}

class RecipientMailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    capture_ = std::make_unique<testing::SmtpCapture>();
    std::string yaml =
        "email:\n  from_address: news@herald.test\n  from_name: Herald\n"
        "  unsubscribe_mailto: unsubscribe@herald.test\n"
        "providers:\n  - name: capture\n    kind: smtp\n    country: RU\n"
        "    settings:\n      url: smtp://127.0.0.1:" +
        std::to_string(capture_->port()) + "\n      starttls: none\n";
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), yaml);
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
    dispatch_ = v1::DispatchService::NewStub(server_->Channel());
  }

  // Sends one marketing e-mail to a new subject of `locale` and returns it as the sink got
  // it, quoted-printable decoded.
  std::string MailTo(const std::string& locale, const std::string& address) {
    std::string id =
        testing::ConsentedSubject(*subs_, testing::SubjectWith("Olga", {address}, locale));
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::SendRequest r;
    r.set_idempotency_key("mail-" + locale);
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(v1::EMAIL);
    r.set_topic("events");
    r.mutable_content()->set_subject("News");
    r.mutable_content()->set_text("Hello {{given_name}}");
    r.mutable_content()->set_html("<html><body><p>Hello</p></body></html>");
    v1::SendResponse resp;
    auto status = dispatch_->Send(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(resp.status(), v1::QUEUED);
    std::string found;
    bool arrived = testing::Eventually(
        [&] {
          for (const auto& m : capture_->Messages()) {
            if (m.find("To: " + address) != std::string::npos ||
                m.find("<" + address + ">") != std::string::npos) {
              found = m;
              return true;
            }
          }
          return false;
        },
        std::chrono::seconds(15), std::chrono::milliseconds(50));
    EXPECT_TRUE(arrived) << "no mail reached the sink for " << locale << "\n" << server_->Log();
    return found;
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<testing::SmtpCapture> capture_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::DispatchService::Stub> dispatch_;
};

struct LanguageCase {
  const char* locale;
  const char* marker;
  const char* unsubscribe_label;
  const char* preferences_label;
};

// E6 and E7 for each language, at the sink.
TEST_F(RecipientMailTest, E6_E7_FooterAndMailtoMarkerAreInTheRecipientsLanguage) {
  const LanguageCase cases[] = {
      {"ru", "Отказ от уведомлений о новых продуктах и услугах и специальных предложениях",
       "Отписаться от этих писем", "Настроить подписки"},
      {"en", "Refusal of notifications about new products and services and special offers",
       "Unsubscribe from these e-mails", "Manage your subscriptions"},
      {"az", "yeni məhsul və xidmətlər və xüsusi təkliflər barədə bildirişlərdən imtina",
       "Bu məktublardan abunəlikdən çıxmaq", "Abunəlik seçimləri"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.locale);
    std::string mail = MailTo(c.locale, std::string("reader-") + c.locale + "@example.com");
    ASSERT_FALSE(mail.empty());
    std::string header = ListUnsubscribe(mail);
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        header, m, std::regex("<mailto:unsubscribe@herald\\.test\\?subject=([^>]*)>")))
        << header;
    EXPECT_EQ(PercentDecode(m[1]), c.marker);
    EXPECT_THAT(header, HasSubstr("<https://herald.test/u/"));

    std::string body = testing::DecodeQuotedPrintable(mail);
    EXPECT_THAT(body, HasSubstr(std::string(c.unsubscribe_label) + ": https://herald.test/u/"));
    EXPECT_THAT(body, HasSubstr(std::string(c.preferences_label) + ": https://herald.test/p/"));
    EXPECT_THAT(body, HasSubstr(std::string("\">") + c.preferences_label + "</a>"))
        << "the HTML part carries the preference-center link too";
  }
}

}  // namespace
}  // namespace herald
