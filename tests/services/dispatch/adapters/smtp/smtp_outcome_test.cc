#include "services/dispatch/adapters/smtp/smtp_outcome.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/dispatch/adapters/smtp/smtp_transcript.h"
#include "tests/services/dispatch/adapters/delivery_printers.h"
#include "tests/services/dispatch/adapters/smtp/mime_test_util.h"

namespace herald::dispatch {
namespace {

using ::testing::HasSubstr;

// The dialogue as libcurl's debug stream shows it: client lines, then server lines.
SmtpTranscript Dialogue(std::initializer_list<std::pair<const char*, const char*>> steps) {
  SmtpTranscript t;
  for (const auto& [client, server] : steps) {
    if (*client) t.OnClientBytes(client);
    t.OnServerBytes(server);
  }
  return t;
}

TEST(SmtpTranscriptTest, ReadsMultiLineRepliesAndEnhancedStatus) {
  SmtpTranscript t =
      Dialogue({{"", "220 relay ESMTP\r\n"},
                {"EHLO herald.test\r\n", "250-relay\r\n250-STARTTLS\r\n250 HELP\r\n"},
                {"MAIL FROM:<a@x>\r\n", "250 2.1.0 Ok\r\n"},
                {"RCPT TO:<b@y>\r\n",
                 "550-5.1.1 The email account that you tried to reach\r\n"
                 "550 5.1.1 does not exist.\r\n"}});
  ASSERT_TRUE(t.last_reply().has_value());
  EXPECT_EQ(t.last_reply()->code, 550);
  EXPECT_EQ(t.last_reply()->enhanced_status, "5.1.1");
  EXPECT_EQ(t.last_reply()->text, "The email account that you tried to reach does not exist.");
  EXPECT_EQ(t.last_reply()->answers, SmtpCommand::kRcpt);
  EXPECT_EQ(t.reply_count(), 4);
}

// libcurl closes a connection after a refusal with QUIT; "221 Bye" must not hide the 550.
TEST(SmtpTranscriptTest, TheReplyToQuitDoesNotReplaceTheRefusal) {
  SmtpTranscript t =
      Dialogue({{"RCPT TO:<b@y>\r\n", "550 5.1.1 No such user\r\n"}, {"QUIT\r\n", "221 Bye\r\n"}});
  EXPECT_EQ(t.last_reply()->code, 550);
  EXPECT_EQ(t.last_reply()->answers, SmtpCommand::kRcpt);
}

TEST(SmtpTranscriptTest, JoinsLinesSplitAcrossCallbacks) {
  SmtpTranscript t;
  t.OnClientBytes("DATA\r\n");
  t.OnServerBytes("354 go");
  t.OnServerBytes(" ahead\r");
  t.OnServerBytes("\n");
  EXPECT_EQ(t.last_reply()->code, 354);
  EXPECT_EQ(t.last_reply()->text, "go ahead");
  EXPECT_EQ(t.last_reply()->enhanced_status, "");
}

TEST(SmtpTranscriptTest, AuthContinuationAndEndOfDataKeepTheirCommand) {
  SmtpTranscript t =
      Dialogue({{"AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n"},
                {"dXNlcg==\r\n", "334 UGFzc3dvcmQ6\r\n"},
                {"cGFzcw==\r\n", "535 5.7.8 Authentication credentials invalid\r\n"}});
  EXPECT_EQ(t.last_reply()->answers, SmtpCommand::kAuth);
  t = Dialogue({{"DATA\r\n", "354 End data\r\n"}, {"\r\n.\r\n", "250 2.0.0 Ok: queued as X\r\n"}});
  EXPECT_EQ(t.last_reply()->answers, SmtpCommand::kData);
}

TEST(SmtpTranscriptTest, IgnoresAnEnhancedStatusOfTheWrongClass) {
  SmtpTranscript t = Dialogue({{"RCPT TO:<b@y>\r\n", "250 5.1.1 odd\r\n"}});
  EXPECT_EQ(t.last_reply()->enhanced_status, "");
  EXPECT_EQ(t.last_reply()->text, "5.1.1 odd");
}

struct Case {
  const char* name;
  CURLcode rc;
  std::optional<SmtpReply> reply;
  DeliveryOutcome outcome;
  int code;
  bool message_written = false;  // the whole body went out; next come "." and the reply
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

SmtpReply Reply(SmtpCommand answers, int code, const char* enhanced, const char* text) {
  return SmtpReply{code, enhanced, text, answers};
}

class ClassifyTest : public testing::TestWithParam<Case> {};

TEST_P(ClassifyTest, MapsTheReplyToTheOutcome) {
  const Case& c = GetParam();
  DeliveryResult r = ClassifySmtpTransfer(c.rc, "libcurl says no", c.reply, c.message_written);
  EXPECT_EQ(r.outcome, c.outcome);
  EXPECT_EQ(r.code, c.code);
  if (c.reply && c.code != 0) {
    EXPECT_EQ(r.enhanced_status, c.reply->enhanced_status);
  }
  EXPECT_LE(r.detail.size(), 300u);
  EXPECT_FALSE(r.detail.empty());
}

using enum DeliveryOutcome;
using C = SmtpCommand;

INSTANTIATE_TEST_SUITE_P(
    Replies, ClassifyTest,
    testing::Values(
        Case{"Accepted", CURLE_OK, Reply(C::kData, 250, "2.0.0", "Ok: queued as A1"), kSent, 250},
        Case{"UnknownMailbox", CURLE_RECV_ERROR, Reply(C::kRcpt, 550, "5.1.1", "No such user"),
             kSuppress, 550},
        Case{"BadDestinationDomain", CURLE_RECV_ERROR, Reply(C::kRcpt, 550, "5.1.2", "no"),
             kSuppress, 550},
        Case{"NullMx", CURLE_RECV_ERROR, Reply(C::kRcpt, 556, "5.1.10", "null MX"), kSuppress, 556},
        Case{"SenderSyntaxAtRcptIsNotTheRecipients", CURLE_RECV_ERROR,
             Reply(C::kRcpt, 553, "5.1.7", "bad sender"), kFailed, 553},
        Case{"RcptPolicy", CURLE_RECV_ERROR, Reply(C::kRcpt, 550, "5.7.1", "Rejected"), kFailed,
             550},
        Case{"RcptWithoutEnhanced", CURLE_RECV_ERROR, Reply(C::kRcpt, 550, "", "No such user"),
             kFailed, 550},
        Case{"RcptTemporary", CURLE_RECV_ERROR, Reply(C::kRcpt, 451, "4.3.0", "Try later"), kRetry,
             451},
        Case{"GreylistedWithoutEnhanced", CURLE_RECV_ERROR, Reply(C::kRcpt, 450, "", "Greylisted"),
             kRetry, 450},
        Case{"MailSenderRejected", CURLE_RECV_ERROR, Reply(C::kMail, 553, "5.1.8", "bad sender"),
             kFailed, 553},
        Case{"MailNeedsAuth", CURLE_RECV_ERROR, Reply(C::kMail, 530, "5.7.0", "Auth required"),
             kRetry, 530},
        Case{"DataTooBig", CURLE_RECV_ERROR, Reply(C::kData, 552, "5.3.4", "Too big"), kFailed,
             552},
        Case{"DataSpam", CURLE_RECV_ERROR, Reply(C::kData, 554, "5.7.1", "Spam"), kFailed, 554},
        Case{"DataTemporary", CURLE_RECV_ERROR, Reply(C::kData, 452, "4.3.1", "Full"), kRetry, 452},
        Case{"AuthRefused", CURLE_LOGIN_DENIED, Reply(C::kAuth, 535, "5.7.8", "Invalid"), kRetry,
             535},
        Case{"GreetingRefused", CURLE_WEIRD_SERVER_REPLY, Reply(C::kGreeting, 554, "", "go away"),
             kRetry, 554},
        Case{"ConnectionRefused", CURLE_COULDNT_CONNECT, std::nullopt, kRetry, 0},
        Case{"TimeoutWhileTheBodyIsWritten", CURLE_OPERATION_TIMEDOUT,
             Reply(C::kData, 354, "", "End data"), kRetry, 0},
        Case{"TimeoutAwaitingTheFinalReply", CURLE_OPERATION_TIMEDOUT,
             Reply(C::kData, 354, "", "End data"), kMaybeSent, 0, true},
        // A relay that hangs up without the 250 has not taken the message (RFC 5321 4.1.1.4).
        Case{"ClosedOrResetAwaitingTheFinalReply", CURLE_RECV_ERROR,
             Reply(C::kData, 354, "", "End data"), kRetry, 0, true},
        Case{"NothingAwaitingTheFinalReply", CURLE_GOT_NOTHING,
             Reply(C::kData, 354, "", "End data"), kRetry, 0, true},
        Case{"EndOfDataCouldNotBeWritten", CURLE_SEND_ERROR, Reply(C::kData, 354, "", "End data"),
             kRetry, 0, true},
        Case{"FinalReplyStillDecides", CURLE_RECV_ERROR, Reply(C::kData, 452, "4.3.1", "Full"),
             kRetry, 452, true},
        Case{"NoMaybeWithoutThe354", CURLE_OPERATION_TIMEDOUT, Reply(C::kRcpt, 250, "", "Ok"),
             kRetry, 0, true},
        Case{"StartTlsNotOffered", CURLE_USE_SSL_FAILED, Reply(C::kEhlo, 250, "", "HELP"), kRetry,
             0},
        Case{"TlsHandshake", CURLE_PEER_FAILED_VERIFICATION, std::nullopt, kRetry, 0}),
    [](const testing::TestParamInfo<Case>& info) { return std::string(info.param.name); });

TEST(ClassifySmtpTransferTest, SentCarriesTheQueueId) {
  DeliveryResult r = ClassifySmtpTransfer(
      CURLE_OK, "", Reply(SmtpCommand::kData, 250, "2.0.0", "Ok: queued as 4BwSgb1Xm8z9rxK"), true);
  EXPECT_EQ(r.provider_message_id, "4BwSgb1Xm8z9rxK");
}

TEST(ClassifySmtpTransferTest, DetailIsCutAt300BytesOnACharacterBoundary) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "ə";  // 400 bytes
  DeliveryResult r = ClassifySmtpTransfer(
      CURLE_RECV_ERROR, "", Reply(SmtpCommand::kRcpt, 550, "5.7.1", text.c_str()), false);
  EXPECT_LE(r.detail.size(), 300u);
  EXPECT_GE(r.detail.size(), 290u);
  EXPECT_TRUE(smtp_test::IsValidUtf8(r.detail));
  EXPECT_THAT(r.detail, HasSubstr("RCPT TO rejected: 550 5.7.1 əə"));
}

TEST(QueueIdFromReplyTest, KnowsPostfixAndEximAndNothingElse) {
  EXPECT_EQ(QueueIdFromReply("Ok: queued as 4BwSgb1Xm8z9rxK"), "4BwSgb1Xm8z9rxK");
  EXPECT_EQ(QueueIdFromReply("OK id=1tH2e3-000ABC-9x"), "1tH2e3-000ABC-9x");
  EXPECT_EQ(QueueIdFromReply("Ok: queued as <abc@relay>."), "abc@relay");
  EXPECT_EQ(QueueIdFromReply("OK"), "");
  EXPECT_EQ(QueueIdFromReply("queued as "), "");
}

}  // namespace
}  // namespace herald::dispatch
