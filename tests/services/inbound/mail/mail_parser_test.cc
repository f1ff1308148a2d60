// Every fixture under tests/data/inbound_mail, read with GMime and classified: decoded
// subjects (RFC 2047 B and Q, UTF-8, KOI8-R, windows-1251, folded), markers, DSN and ARF
// fields, and the references back to our message.
#include "services/inbound/mail/mail_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "services/inbound/mail/subject_markers.h"

namespace herald::inbound {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string Fixture(const std::string& name) {
  std::ifstream in(std::string(HERALD_SOURCE_DIR) + "/tests/data/inbound_mail/" + name,
                   std::ios::binary);
  EXPECT_TRUE(in) << name;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ParsedMail Parse(const std::string& name) {
  auto m = ParseMail(Fixture(name));
  EXPECT_TRUE(m.has_value()) << name;
  return m.value_or(ParsedMail{});
}

struct MarkerFixture {
  const char* file;
  const char* from;
  const char* normalized_subject;
  MarkerRequest want;
};
class MarkerFixtureTest : public ::testing::TestWithParam<MarkerFixture> {};

TEST_P(MarkerFixtureTest, DecodedNormalizedAndClassified) {
  const auto& c = GetParam();
  ParsedMail m = Parse(c.file);
  EXPECT_EQ(m.kind, ParsedMail::Kind::kPlain);
  EXPECT_EQ(m.from, c.from);
  EXPECT_EQ(NormalizeSubject(m.subject), c.normalized_subject);
  EXPECT_THAT(FindMarkers(m.subject), ElementsAre(c.want));
  EXPECT_FALSE(m.message_id.empty());
}

// Each of the three markers in each of the three languages, each differently encoded.
INSTANTIATE_TEST_SUITE_P(
    Fixtures, MarkerFixtureTest,
    ::testing::Values(
        MarkerFixture{"refuse_az_utf8_base64.eml", "leyla.mammadova@example.az",
                      "yeni məhsul və xidmətlər və xüsusi təkliflər barədə bildirişlərdən imtina",
                      MarkerRequest::kRefuseMarketing},
        MarkerFixture{"refuse_ru_koi8r_base64.eml", "ivan.petrov@example.ru",
                      "Отказ от уведомлений о новых продуктах и услугах и специальных "
                      "предложениях",
                      MarkerRequest::kRefuseMarketing},
        MarkerFixture{"refuse_en_folded.eml", "John.Smith@Example.COM",
                      "REFUSAL of notifications about new products and services and special "
                      "offers",
                      MarkerRequest::kRefuseMarketing},
        MarkerFixture{"rectify_az_qp_capitals.eml", "aysel@example.az",
                      "ŞƏXSİ MƏLUMATLARIN YENİLƏNMƏSİ", MarkerRequest::kRectify},
        MarkerFixture{"rectify_ru_cp1251_qp.eml", "olga@example.ru",
                      "Актуализация персональных данных", MarkerRequest::kRectify},
        MarkerFixture{"rectify_en_fwd.eml", "mary@example.org", "Updating personal data",
                      MarkerRequest::kRectify},
        MarkerFixture{"revoke_az_qp_folded.eml", "rashad@example.az",
                      "Şəxsi məlumatların işlənməsinə razılığın ləğvi",
                      MarkerRequest::kRevokeConsent},
        MarkerFixture{"revoke_ru_utf8_base64.eml", "sergey@example.ru",
                      "Отзыв согласия на обработку персональных данных",
                      MarkerRequest::kRevokeConsent},
        MarkerFixture{"revoke_en_lowercase.eml", "anna@example.net",
                      "[case 4412] revocation of consent to the processing of personal data - "
                      "please confirm",
                      MarkerRequest::kRevokeConsent},
        // Our own List-Unsubscribe mailto carries the refusal marker as its subject.
        MarkerFixture{"list_unsubscribe_mailto.eml", "olga@example.com",
                      "yeni məhsul və xidmətlər və xüsusi təkliflər barədə bildirişlərdən imtina",
                      MarkerRequest::kRefuseMarketing}));

TEST(MailParserTest, OrdinaryMailHasNoMarker) {
  ParsedMail m = Parse("plain_no_marker.eml");
  EXPECT_EQ(m.kind, ParsedMail::Kind::kPlain);
  EXPECT_EQ(NormalizeSubject(m.subject), "Приглашение на вебинар");
  EXPECT_THAT(FindMarkers(m.subject), IsEmpty());
}

TEST(MailParserTest, UndeclaredEightBitSubjectFallsBackToUtf8) {
  ParsedMail m = Parse("auto_reply.eml");
  EXPECT_EQ(m.subject, "Automatic reply: Приглашение");
  EXPECT_THAT(FindMarkers(m.subject), IsEmpty());
}

TEST(MailParserTest, PaddedBase64WordsSplitAcrossFoldedLines) {
  // GMime 3.2.13 alone decodes this as "ab" (it merges same-charset B words and stops at
  // the padding); mail clients split long subjects this way.
  auto m = ParseMail(
      "From: a@example.com\r\nSubject: =?UTF-8?B?YWI=?=\r\n =?UTF-8?B?Y2Q=?="
      " x =?utf-8?b?0J4=?=\r\n\r\nbody");
  ASSERT_TRUE(m);
  EXPECT_EQ(NormalizeSubject(m->subject), "abcd x О");
  // A multi-byte character split across two words (invalid, but seen) still decodes.
  m = ParseMail("From: a@example.com\r\nSubject: =?UTF-8?B?0A==?= =?UTF-8?B?ng==?=\r\n\r\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->subject, "О");
}

TEST(MailParserTest, PermanentFailureDsn) {
  ParsedMail m = Parse("dsn_failed_5_1_1.eml");
  ASSERT_EQ(m.kind, ParsedMail::Kind::kDeliveryStatus);
  ASSERT_EQ(m.dsn_recipients.size(), 1u);
  EXPECT_EQ(m.dsn_recipients[0].action, "failed");
  EXPECT_EQ(m.dsn_recipients[0].status, "5.1.1");
  EXPECT_EQ(m.dsn_recipients[0].final_recipient, "bounce@example.com");
  EXPECT_EQ(m.original_herald_message_id, "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e01");
  EXPECT_EQ(m.original_message_id, "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e01@herald.test");
}

TEST(MailParserTest, DelayedDsnWithReturnedHeadersOnly) {
  ParsedMail m = Parse("dsn_delayed_4_4_1.eml");
  ASSERT_EQ(m.kind, ParsedMail::Kind::kDeliveryStatus);
  ASSERT_EQ(m.dsn_recipients.size(), 1u);
  EXPECT_EQ(m.dsn_recipients[0].action, "delayed");
  EXPECT_EQ(m.dsn_recipients[0].status, "4.4.1");
  EXPECT_EQ(m.original_herald_message_id, "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e02");
}

TEST(MailParserTest, ArfAbuseReport) {
  ParsedMail m = Parse("arf_abuse.eml");
  ASSERT_EQ(m.kind, ParsedMail::Kind::kFeedbackReport);
  EXPECT_EQ(m.feedback_type, "abuse");
  EXPECT_EQ(m.original_rcpt_to, "complainer@example.com");
  EXPECT_EQ(m.original_herald_message_id, "7d9f0a52-3c1e-4b6a-9e1f-2a7c5b8d4e03");
  // A report's own subject is never read as a marker request.
  EXPECT_THAT(FindMarkers(m.subject), IsEmpty());
}

// Where report tokens are looked for (SEC-4): the report's envelope recipient as the MTA
// recorded it and its To:, the returned original's Return-Path, ARF's Original-Mail-From.
TEST(MailParserTest, PlacesAReportTokenMayBeFound) {
  ParsedMail arf = Parse("arf_abuse.eml");
  EXPECT_EQ(arf.original_mail_from, "<bounces@herald.test>");
  EXPECT_THAT(arf.envelope_recipients, ElementsAre("<abuse@herald.test>"));
  auto dsn = ParseMail(
      "Delivered-To: news+t1@herald.test\r\nX-Original-To: news+t2@herald.test\r\n"
      "To: news+t3@herald.test\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
      "Final-Recipient: rfc822; a@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
      "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
      "Return-Path: <news+t4@herald.test>\r\nMessage-ID: <t5@herald.test>\r\n\r\n--b--\r\n");
  ASSERT_TRUE(dsn.has_value());
  EXPECT_THAT(dsn->envelope_recipients,
              ElementsAre("news+t1@herald.test", "news+t2@herald.test", "news+t3@herald.test"));
  EXPECT_EQ(dsn->original_return_path, "<news+t4@herald.test>");
  EXPECT_EQ(dsn->original_message_id, "t5@herald.test");
}

TEST(MailParserTest, FieldsOfAHandWrittenDsnInLowerCaseAndFolded) {
  std::string raw =
      "From: postmaster@example.com\r\nMessage-ID: <x1@example.com>\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/report; report-type=\"Delivery-Status\"; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
      "--b\r\nContent-Type: message/delivery-status\r\n\r\n"
      "original-envelope-id: 11111111-2222-4333-8444-555555555555\r\n"
      "reporting-mta: dns; example.com\r\n\r\n"
      "final-recipient: rfc822;\r\n <who@example.com>\r\naction: FAILED\r\n"
      "status: 5.2.2 (mailbox full)\r\n\r\n"
      "--b--\r\n";
  auto m = ParseMail(raw);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->kind, ParsedMail::Kind::kDeliveryStatus);
  EXPECT_EQ(m->original_envelope_id, "11111111-2222-4333-8444-555555555555");
  ASSERT_EQ(m->dsn_recipients.size(), 1u);
  EXPECT_EQ(m->dsn_recipients[0].action, "failed");
  EXPECT_EQ(m->dsn_recipients[0].status, "5.2.2");
  EXPECT_EQ(m->dsn_recipients[0].final_recipient, "who@example.com");
}

TEST(MailParserTest, GarbageIsNotAMessageAndNeverCrashes) {
  EXPECT_FALSE(ParseMail(""));
  EXPECT_FALSE(ParseMail("\r\n\r\nno headers at all"));
  std::string binary;
  for (int i = 0; i < 4096; ++i) binary.push_back(static_cast<char>((i * 131 + 7) % 256));
  (void)ParseMail(binary);  // whatever it is, no crash
  // Truncated multipart/report: a report without its parts.
  auto m = ParseMail(
      "From: a@b.c\r\nContent-Type: multipart/report; report-type=delivery-status;"
      " boundary=zz\r\n\r\n--zz\r\nContent-Type: message/delivery-status\r\n\r\n"
      "Action: failed");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->kind, ParsedMail::Kind::kDeliveryStatus);
}

// Found by fuzz/mail_fuzzer: the encoded words of a subject and a DSN's Status were matched
// with std::regex, whose matcher recurses once per character, and a subject or Status of
// some 40 KB (under Postfix's 100 KB header limit) overflowed the stack of heraldd.
TEST(MailParserTest, LongSubjectWordIsDecodedWithoutOverflowingTheStack) {
  std::string payload;
  for (int i = 0; i < 250000; ++i) payload += "QUFB";  // "AAA"
  auto m = ParseMail("From: a@example.com\r\nSubject: =?UTF-8?B?" + payload + "?=\r\n\r\nbody\r\n");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->subject, std::string(750000, 'A'));
  // A charset that never ends is no word at all, and no crash either.
  m = ParseMail("From: a@example.com\r\nSubject: =?" + std::string(1000000, 'u') +
                "\r\n\r\nbody\r\n");
  ASSERT_TRUE(m);
}

TEST(MailParserTest, LongStatusFieldOfADsnIsReadWithoutOverflowingTheStack) {
  auto dsn = [](const std::string& status) {
    return ParseMail(
        "From: postmaster@example.com\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
        "Final-Recipient: rfc822; a@example.com\r\nAction: failed\r\nStatus: " +
        status + "\r\n\r\n--b--\r\n");
  };
  auto m = dsn(std::string(1000000, '\v') + "5.1.1");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->dsn_recipients.size(), 1u);
  EXPECT_EQ(m->dsn_recipients[0].status, "5.1.1");
  // The code's shape, as before: one class digit, then one to three digits twice, whole.
  const std::pair<const char*, const char*> kCases[] = {{"4.4.1", "4.4.1"},
                                                        {"5.1.10 (x)", "5.1.10"},
                                                        {"2.0.0", "2.0.0"},
                                                        {"3.1.1", ""},
                                                        {"5.1234.1", ""},
                                                        {"5.1.1234", ""},
                                                        {"5.1.1a", ""},
                                                        {"5.1.1_", ""},
                                                        {"5.1.1.2", "5.1.1"},
                                                        {"5..1", ""},
                                                        {"5.1", ""},
                                                        {"x 5.1.1", ""},
                                                        {"5.999.999", "5.999.999"}};
  for (const auto& [status, want] : kCases) {
    m = dsn(status);
    ASSERT_TRUE(m);
    ASSERT_EQ(m->dsn_recipients.size(), 1u) << status;
    EXPECT_EQ(m->dsn_recipients[0].status, want) << status;
  }
}

TEST(MailParserTest, MboxFromLineIsSkipped) {
  auto m = ParseMail("From someone@example.com Tue Nov 24 10:15:00 2026\n" +
                     Fixture("rectify_en_fwd.eml"));
  ASSERT_TRUE(m);
  EXPECT_EQ(m->from, "mary@example.org");
}

}  // namespace
}  // namespace herald::inbound
