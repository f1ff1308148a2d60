// Dispatch end to end: heraldd's worker claims through the gate and sends over real SMTP to
// a capturing server on loopback.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
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

class DispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    capture_ = std::make_unique<testing::SmtpCapture>(
        std::vector<std::string>{"--fail-rcpt", "bounce@example.com=550:5.1.1:No such user"});
    std::string providers =
        "email:\n  from_address: news@herald.test\n  from_name: Herald\n"
        "providers:\n  - name: capture\n    kind: smtp\n    country: RU\n"
        "    settings:\n      url: smtp://127.0.0.1:" +
        std::to_string(capture_->port()) + "\n      starttls: none\n";
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), providers);
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
    dispatch_ = v1::DispatchService::NewStub(server_->Channel());
  }

  std::string Subject(const std::string& email) {
    return testing::ConsentedSubject(*subs_, testing::SubjectWith("Ольга", {email}));
  }

  v1::SendResponse Send(const std::string& subject_id, const std::string& key) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::SendRequest r;
    r.set_idempotency_key(key);
    r.mutable_recipient()->set_subject_id(subject_id);
    r.set_channel(v1::EMAIL);
    r.set_topic("events");
    r.mutable_content()->set_subject("Приглашение для {{given_name}}");
    r.mutable_content()->set_text("Здравствуйте, {{given_name}}!");
    r.mutable_content()->set_html("<p>Здравствуйте, <b>{{given_name}}</b>!</p>");
    v1::SendResponse resp;
    auto status = dispatch_->Send(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return resp;
  }

  v1::Message WaitFor(const std::string& id, v1::MessageStatus want) {
    v1::Message m;
    auto reached = [&] {
      grpc::ClientContext ctx;
      testing::Authorize(ctx, HeralddProcess::kCrmKey);
      v1::GetMessageRequest r;
      r.set_message_id(id);
      dispatch_->GetMessage(&ctx, r, &m);
      return m.status() == want;
    };
    if (testing::Eventually(reached, std::chrono::seconds(10), std::chrono::milliseconds(50))) {
      return m;
    }
    ADD_FAILURE() << "message never reached " << v1::MessageStatus_Name(want) << ", is "
                  << v1::MessageStatus_Name(m.status()) << "\n"
                  << server_->Log();
    return m;
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<testing::SmtpCapture> capture_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::DispatchService::Stub> dispatch_;
};

TEST_F(DispatchTest, AllowedMessageIsDeliveredOverSmtp) {
  std::string id = Subject("olga@example.com");
  auto sent = Send(id, "e2e-1");
  ASSERT_EQ(sent.status(), v1::QUEUED);
  auto m = WaitFor(sent.message_id(), v1::SENT);
  ASSERT_EQ(m.attempt_log_size(), 1);
  EXPECT_EQ(m.attempt_log(0).provider(), "capture");
  EXPECT_EQ(m.attempt_log(0).code(), 250);
  auto mail = capture_->Messages();
  ASSERT_EQ(mail.size(), 1u);
  EXPECT_THAT(mail[0], HasSubstr("X-Herald-Message-Id: " + sent.message_id()));
  EXPECT_THAT(mail[0], HasSubstr("=?UTF-8?"));  // the Cyrillic subject, encoded
  EXPECT_THAT(mail[0], HasSubstr("multipart/alternative"));
  // E4: one-click unsubscribe on marketing mail, with an opaque token.
  EXPECT_THAT(mail[0], HasSubstr("List-Unsubscribe: <https://herald.test/u/"));
  EXPECT_THAT(mail[0], HasSubstr("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
  EXPECT_THAT(mail[0], ::testing::Not(HasSubstr("olga@example.com>")));
  // E4: the template has no {{unsubscribe_url}}, so a visible link is added to the text and
  // HTML bodies (quoted-printable: joined across soft line breaks before searching).
  std::string joined = std::regex_replace(mail[0], std::regex("=\r?\n"), "");
  size_t links = 0;
  for (size_t at = joined.find("https://herald.test/u/"); at != std::string::npos;
       at = joined.find("https://herald.test/u/", at + 1)) {
    ++links;
  }
  EXPECT_EQ(links, 3u) << "List-Unsubscribe, the text body and the HTML body each carry it";
  EXPECT_THAT(joined, HasSubstr("<a href=3D\"https://herald.test/u/"))
      << "no unsubscribe link in the HTML body";
  // The idempotent repeat sends nothing new.
  EXPECT_EQ(Send(id, "e2e-1").message_id(), sent.message_id());
  ASSERT_OUTBOX_SETTLED(*db_);
  EXPECT_EQ(capture_->Messages().size(), 1u);
}

TEST_F(DispatchTest, OptedOutRecipientGetsNothing) {
  std::string id = Subject("gone@example.com");
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kCrmKey);
  v1::OptOutRequest o;
  o.set_address("GONE@example.com");
  o.set_scope(v1::ALL_MARKETING);
  o.mutable_proof()->set_source(v1::LINK);
  v1::OptOutResponse resp;
  ASSERT_TRUE(subs_->OptOut(&ctx, o, &resp).ok());
  auto sent = Send(id, "e2e-2");
  EXPECT_EQ(sent.status(), v1::SUPPRESSED);
  EXPECT_EQ(sent.deny_reason(), v1::ADDRESS_SUPPRESSED);
  ASSERT_OUTBOX_SETTLED(*db_);
  EXPECT_TRUE(capture_->Messages().empty());
}

TEST_F(DispatchTest, HardBounceFailsTheMessageAndSuppressesTheAddress) {
  std::string id = Subject("bounce@example.com");
  auto sent = Send(id, "e2e-3");
  auto m = WaitFor(sent.message_id(), v1::FAILED);
  ASSERT_GE(m.attempt_log_size(), 1);
  EXPECT_EQ(m.attempt_log(0).enhanced_status(), "5.1.1");
  EXPECT_EQ(m.attempt_log(0).outcome(), "SUPPRESS");
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kCrmKey);
  v1::CheckEligibilityRequest c;
  c.mutable_recipient()->set_subject_id(id);
  c.set_channel(v1::EMAIL);
  c.set_topic("service");
  v1::CheckEligibilityResponse d;
  ASSERT_TRUE(subs_->CheckEligibility(&ctx, c, &d).ok());
  EXPECT_EQ(d.decision().reason(), v1::ADDRESS_SUPPRESSED);  // even service notices
  EXPECT_TRUE(capture_->Messages().empty());
}

}  // namespace
}  // namespace herald
