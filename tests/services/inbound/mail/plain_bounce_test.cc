// Plain-text bounces (SEC-14): the notices of real MTAs under tests/data/inbound_mail/bounce_*
// read with ParseMail and classified (format, permanent or temporary, status); messages that
// only look like one are not. Which message a bounce is about is the service's
// (inbound_mail_db_test.cc): nothing here reads an address.
#include "services/inbound/mail/plain_bounce.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "services/inbound/mail/mail_parser.h"

namespace herald::inbound {
namespace {

using ::testing::HasSubstr;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/tests/data/inbound_mail/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ParsedMail Parse(const std::string& raw) {
  auto m = ParseMail(raw);
  EXPECT_TRUE(m.has_value());
  return m.value_or(ParsedMail{});
}

struct BounceFixture {
  const char* file;
  const char* format;
  BounceClass bounce_class;
  const char* status;
  const char* returned_id;  // the compact tail of the returned Message-ID
};
class PlainBounceFixtureTest : public ::testing::TestWithParam<BounceFixture> {};

TEST_P(PlainBounceFixtureTest, RecognisedAndClassified_SEC14) {
  const auto& c = GetParam();
  ParsedMail m = Parse(Fixture(c.file));
  EXPECT_EQ(m.kind, ParsedMail::Kind::kPlain);
  EXPECT_TRUE(FromMailDeliverySystem(m));
  auto b = RecognisePlainBounce(m);
  ASSERT_TRUE(b.has_value()) << m.body_text;
  EXPECT_STREQ(b->format, c.format);
  EXPECT_EQ(b->bounce_class, c.bounce_class);
  EXPECT_EQ(b->status, c.status);
  // The returned original, where a genuine bounce quotes our Message-ID (with its token),
  // is kept for the token search: inline after the notice or attached.
  std::string id = std::string("<7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e") + c.returned_id;
  EXPECT_THAT(m.body_text + m.attached_original, HasSubstr(id));
  EXPECT_THAT(std::string(NoticeOf(m.body_text)), ::testing::Not(HasSubstr(id)));
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, PlainBounceFixtureTest,
    ::testing::Values(
        BounceFixture{"bounce_qmail_5_1_1.eml", "qmail", BounceClass::kPermanent, "5.1.1", "11"},
        BounceFixture{"bounce_exim_5_2_1.eml", "exim", BounceClass::kPermanent, "5.2.1", "12"},
        BounceFixture{"bounce_exim_delayed.eml", "exim", BounceClass::kTemporary, "4.2.2", "13"},
        BounceFixture{"bounce_postfix_plain.eml", "postfix", BounceClass::kPermanent, "5.1.1",
                      "14"},
        BounceFixture{"bounce_sendmail_5_1_1.eml", "sendmail", BounceClass::kPermanent, "5.1.1",
                      "15"},
        BounceFixture{"bounce_sendmail_warning.eml", "sendmail", BounceClass::kTemporary, "4.0.0",
                      "16"},
        BounceFixture{"bounce_exchange_ndr.eml", "exchange", BounceClass::kPermanent, "5.1.1",
                      "17"},
        BounceFixture{"bounce_exchange_2003.eml", "exchange", BounceClass::kPermanent, "5.1.1",
                      "18"},
        BounceFixture{"bounce_gmail_plain.eml", "gmail", BounceClass::kPermanent, "5.1.1", "19"},
        // Yahoo quotes a bare "554:": permanent, no detail.
        BounceFixture{"bounce_yahoo_plain.eml", "yahoo", BounceClass::kPermanent, "5.0.0", "1a"},
        BounceFixture{"bounce_mailer_daemon_other.eml", "other", BounceClass::kPermanent, "5.1.10",
                      "1b"}));

// From a mail delivery system, but in no wording Herald reads and quoting no status: not a
// bounce (the service counts it as unknown_format).
TEST(PlainBounceTest, UnknownWordingFromMailerDaemonIsNotABounce_SEC14) {
  ParsedMail m = Parse(Fixture("bounce_unknown_format.eml"));
  EXPECT_TRUE(FromMailDeliverySystem(m));
  EXPECT_FALSE(RecognisePlainBounce(m).has_value());
}

// Replies, auto-replies, markers and the multipart/report fixtures are no plain bounce, and
// none of them comes from a mail delivery system.
TEST(PlainBounceTest, OtherFixturesAreNoPlainBounce) {
  for (const char* file :
       {"plain_no_marker.eml", "auto_reply.eml", "refuse_en_folded.eml",
        "revoke_ru_utf8_base64.eml", "list_unsubscribe_mailto.eml", "arf_abuse.eml"}) {
    SCOPED_TRACE(file);
    ParsedMail m = Parse(Fixture(file));
    EXPECT_FALSE(FromMailDeliverySystem(m));
    EXPECT_FALSE(RecognisePlainBounce(m).has_value());
  }
  // A DSN stays a DSN; its text is not kept.
  ParsedMail dsn = Parse(Fixture("dsn_failed_5_1_1.eml"));
  EXPECT_EQ(dsn.kind, ParsedMail::Kind::kDeliveryStatus);
  EXPECT_TRUE(dsn.body_text.empty());
  EXPECT_EQ(dsn.return_path, "<>");
}

// What a plain-text bounce is read with besides its text: the null sender, Exim's
// X-Failed-Recipients, and the notice's own references to the message it returns.
TEST(PlainBounceTest, HeadersOfTheNoticeAreRead) {
  ParsedMail exim = Parse(Fixture("bounce_exim_5_2_1.eml"));
  EXPECT_TRUE(exim.failed_recipients_header);
  EXPECT_EQ(exim.return_path, "<>");
  ParsedMail m = Parse(
      "From: Mail Delivery Subsystem <mailer-daemon@mail.example.org>\r\n"
      "In-Reply-To: <a.b@herald.invalid>\r\nReferences: <x@example.org>\r\n "
      "<a.b@herald.invalid>\r\n"
      "\r\nhi\r\n");
  EXPECT_FALSE(m.failed_recipients_header);
  EXPECT_TRUE(m.return_path.empty());
  ASSERT_EQ(m.references.size(), 2u);
  EXPECT_EQ(m.references[0], "<a.b@herald.invalid>");
  EXPECT_THAT(m.references[1], HasSubstr("<a.b@herald.invalid>"));
  EXPECT_TRUE(FromMailDeliverySystem(m));
  EXPECT_FALSE(RecognisePlainBounce(m).has_value());
}

// A person who pastes a notice into a reply is no mail delivery system: the same text from
// a human sender with a real return path is not a bounce; with the null sender it is.
TEST(PlainBounceTest, QuotedNoticeFromAPersonIsNotABounce_SEC14) {
  std::string notice =
      "Subject: Re: Offer\r\nMessage-ID: <q1@example.org>\r\n\r\n"
      "I got this when I wrote to my old address:\r\n\r\n"
      "Hi. This is the qmail-send program at mx.example.org.\r\n"
      "This is a permanent error; I've given up. Sorry it didn't work out.\r\n";
  ParsedMail person =
      Parse("From: Pavel <pavel@example.org>\r\nReturn-Path: <pavel@example.org>\r\n" + notice);
  EXPECT_FALSE(FromMailDeliverySystem(person));
  EXPECT_FALSE(RecognisePlainBounce(person).has_value());
  ParsedMail null_sender = Parse("From: Pavel <pavel@example.org>\r\nReturn-Path: <>\r\n" + notice);
  auto b = RecognisePlainBounce(null_sender);
  ASSERT_TRUE(b.has_value());
  EXPECT_STREQ(b->format, "qmail");
  EXPECT_EQ(b->status, "5.0.0");
}

std::optional<PlainBounce> FromMailerDaemon(const std::string& body) {
  return RecognisePlainBounce(
      Parse("From: MAILER-DAEMON@mx.example.org\r\nSubject: failure notice\r\n\r\n" + body));
}

// Where a status is read: only in an SMTP reply ("550 5.1.1", "550-5.1.1", "#5.1.1",
// "Status: 5.1.1") in the notice, never a version, an address or the returned copy.
TEST(PlainBounceTest, StatusIsReadFromSmtpRepliesInTheNoticeOnly_SEC14) {
  // Versions, IP addresses and dates are not status codes: only the wording is left.
  auto b = FromMailerDaemon(
      "This message was created automatically by mail delivery software (Exim 4.96.2).\r\n"
      "A message that you sent could not be delivered to one or more of its recipients.\r\n"
      "host 5.1.1.1 [192.0.2.1] on 5.10.2026\r\n");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->status, "5.0.0");
  // A 2.x.x reply of the transcript is skipped; the multi-line reply's code is read.
  b = FromMailerDaemon(
      "This is the qmail-send program at mx.example.org.\r\n"
      "<<< 250 2.1.0 Sender ok\r\nRemote host said: 550-5.7.1 blocked\r\n");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->status, "5.7.1");
  // A failure whose quoted reply is temporary is temporary (as a DSN's failed 4.x.x).
  b = FromMailerDaemon(
      "This is the qmail-send program at mx.example.org.\r\n"
      "I'm not going to try again; this message has been in the queue too long.\r\n"
      "Remote host said: 451 4.4.1 try later\r\n");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->bounce_class, BounceClass::kTemporary);
  EXPECT_EQ(b->status, "4.4.1");
  // Given up after retrying, with no reply quoted: temporary.
  b = FromMailerDaemon(
      "This is the qmail-send program at mx.example.org.\r\n"
      "I'm not going to try again; this message has been in the queue too long.\r\n");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->bounce_class, BounceClass::kTemporary);
  EXPECT_EQ(b->status, "4.0.0");
  // A warning stays temporary whatever it quotes.
  b = FromMailerDaemon(
      "This is the mail system at host mx.example.org.\r\n"
      "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\r\n"
      "Status: 5.4.1\r\n");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->bounce_class, BounceClass::kTemporary);
  EXPECT_EQ(b->status, "4.0.0");
  // A generic notice needs its code in the notice: one only in the returned copy is not
  // read, and without it the notice is no bounce.
  EXPECT_FALSE(FromMailerDaemon("Delivery failed.\r\n\r\n"
                                "--- Below this line is a copy of the message.\r\n\r\n"
                                "X-Note: 550 5.1.1 unknown\r\n")
                   .has_value());
  b = FromMailerDaemon("Delivery failed.\r\n  Status: 5.1.2\r\n");
  ASSERT_TRUE(b.has_value());
  EXPECT_STREQ(b->format, "other");
  EXPECT_EQ(b->status, "5.1.2");
  // Success notices of Postfix say neither failure nor delay.
  EXPECT_FALSE(FromMailerDaemon("This is the mail system at host mx.example.org.\r\n"
                                "Your message was successfully delivered to the destination(s)\r\n")
                   .has_value());
}

// The notice may come transfer-encoded inside a multipart/mixed beside the returned message.
TEST(PlainBounceTest, EncodedNoticeInsideMultipartIsDecoded_SEC14) {
  ParsedMail m = Parse(
      "From: postmaster@corp.example.com\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
      "Content-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n"
      "Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      // "Delivery has failed to these recipients or groups:\n#550 5.1.1 not found ##\n"
      "RGVsaXZlcnkgaGFzIGZhaWxlZCB0byB0aGVzZSByZWNpcGllbnRzIG9yIGdyb3VwczoKIzU1MCA1LjEuMSBu\r\n"
      "b3QgZm91bmQgIyMK\r\n--c\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--c--\r\n"
      "--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <orig@herald.test>\r\n"
      "--b--\r\n");
  auto b = RecognisePlainBounce(m);
  ASSERT_TRUE(b.has_value()) << m.body_text;
  EXPECT_STREQ(b->format, "exchange");
  EXPECT_EQ(b->status, "5.1.1");
  EXPECT_THAT(m.attached_original, HasSubstr("<orig@herald.test>"));
  EXPECT_THAT(m.body_text, ::testing::Not(HasSubstr("html")));
}

// Anyone's text, however long, is read in bounded memory and time.
TEST(PlainBounceTest, LongTextIsCappedAndNeverCrashes) {
  std::string filler;
  for (int i = 0; i < 60000; ++i) filler += "#550 4.4.4.4 5.";
  ParsedMail m = Parse(
      "From: MAILER-DAEMON@mx.example.org\r\n\r\nThis is the qmail-send program at mx.\r\n"
      "Remote host said: 550 5.5.5 no\r\n" +
      filler);
  EXPECT_EQ(m.body_text.size(), kMaxBounceText);
  auto b = RecognisePlainBounce(m);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->status, "5.5.5");
}

}  // namespace
}  // namespace herald::inbound
