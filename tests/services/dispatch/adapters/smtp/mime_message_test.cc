#include "services/dispatch/adapters/smtp/mime_message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <regex>
#include <stdexcept>

#include "tests/services/dispatch/adapters/smtp/mime_test_util.h"

namespace herald::dispatch {
namespace {

using smtp_test::Body;
using smtp_test::CrlfLines;
using smtp_test::DecodeEncodedWords;
using smtp_test::EncodedWords;
using smtp_test::Headers;
using smtp_test::HeaderValue;
using smtp_test::PercentDecode;
using smtp_test::QpDecode;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr std::string_view kDomain = "mail.herald.example";
constexpr std::string_view kCyrillic = "Новые продукты и специальные предложения";
constexpr std::string_view kAzerbaijani = "Yeni məhsullar və xüsusi təkliflər";
constexpr std::string_view kEnglishMarker =
    "Refusal of notifications about new products and services and special offers";
constexpr std::string_view kAzerbaijaniMarker =
    "yeni məhsul və xidmətlər və xüsusi təkliflər barədə bildirişlərdən imtina";

EmailMessage Marketing() {
  EmailMessage m;
  m.message_id = "0b7e4c1e-8d0a-4c47-9a57-3f1e2d6c9b10";
  m.from_address = "news@herald.example";
  m.from_name = "Herald News";
  m.to_address = "anna@example.com";
  m.subject = "Spring offers";
  m.text_body = "Hello Anna,\nour spring offers.\n\nUnsubscribe: https://u.herald.example/u/T1\n";
  m.list_unsubscribe_url = "https://u.herald.example/u/TOKEN123";
  m.list_unsubscribe_mailto = "unsubscribe@herald.example";
  m.list_unsubscribe_subject = std::string(kEnglishMarker);
  m.date = ParseTimestamp("2026-11-27T17:58:33.250Z");
  return m;
}

// The header lines of `name`, still folded, as written.
std::vector<std::string> RawHeaderLines(const std::string& mime, std::string_view name) {
  std::vector<std::string> lines;
  bool inside = false;
  for (const std::string& line : CrlfLines(mime)) {
    if (line.empty()) break;
    if (line[0] != ' ' && line[0] != '\t') inside = line.rfind(std::string(name) + ":", 0) == 0;
    if (inside) lines.push_back(line);
  }
  return lines;
}

std::string HeaderBlock(const std::string& mime) { return mime.substr(0, mime.find("\r\n\r\n")); }

TEST(RenderMimeTest, CarriesEachRequiredHeaderOnceWithItsValue) {
  std::string mime = RenderMime(Marketing(), kDomain);
  EXPECT_EQ(HeaderValue(mime, "Date"), "Fri, 27 Nov 2026 17:58:33 +0000");
  EXPECT_EQ(HeaderValue(mime, "From"), "Herald News <news@herald.example>");
  EXPECT_EQ(HeaderValue(mime, "To"), "anna@example.com");
  EXPECT_EQ(HeaderValue(mime, "Subject"), "Spring offers");
  EXPECT_EQ(HeaderValue(mime, "Message-ID"),
            "<0b7e4c1e-8d0a-4c47-9a57-3f1e2d6c9b10@mail.herald.example>");
  EXPECT_EQ(HeaderValue(mime, "X-Herald-Message-Id"), "0b7e4c1e-8d0a-4c47-9a57-3f1e2d6c9b10");
  EXPECT_EQ(HeaderValue(mime, "MIME-Version"), "1.0");
  EXPECT_EQ(HeaderValue(mime, "Content-Type"), "text/plain; charset=UTF-8");
  EXPECT_EQ(HeaderValue(mime, "Content-Transfer-Encoding"), "quoted-printable");
}

// SEC-4: the Message-ID carries the report token that reports must quote back; the
// X-Herald-Message-Id stays the plain id. A token that could break out of <...> is refused.
TEST(RenderMimeTest, MessageIdCarriesTheReportToken) {
  EmailMessage m = Marketing();
  m.report_token = "0b7e4c1e8d0a4c479a573f1e2d6c9b10.355xgau4fobhufki";
  std::string mime = RenderMime(m, kDomain);
  EXPECT_EQ(HeaderValue(mime, "Message-ID"),
            "<0b7e4c1e8d0a4c479a573f1e2d6c9b10.355xgau4fobhufki@mail.herald.example>");
  EXPECT_EQ(HeaderValue(mime, "X-Herald-Message-Id"), "0b7e4c1e-8d0a-4c47-9a57-3f1e2d6c9b10");
  m.report_token = "x>\r\nBcc: y@example.com";
  EXPECT_THROW(RenderMime(m, kDomain), std::invalid_argument);
}

TEST(RenderMimeTest, EveryLineEndsInCrlfAndStaysWithinLimits) {
  EmailMessage m = Marketing();
  m.subject =
      std::string(kCyrillic) + " " + std::string(kAzerbaijani) + " " + std::string(kCyrillic);
  m.from_name = std::string(kAzerbaijani);
  m.text_body = std::string(3000, 'x') + "\r\n" + std::string(kCyrillic) + "\rmixed\nends";
  m.html_body = "<p>" + std::string(2000, 'y') + "</p>";
  std::string mime = RenderMime(m, kDomain);
  ASSERT_THAT(mime, testing::EndsWith("\r\n"));
  const std::regex field_name("[!-9;-~]+");  // RFC 5322 2.2: printable, no colon
  bool in_headers = true;
  for (const std::string& line : CrlfLines(mime)) {
    EXPECT_EQ(line.find_first_of(std::string("\r\n\0", 3)), std::string::npos) << line;
    EXPECT_LE(line.size(), 998u);
    if (line.empty()) in_headers = false;
    if (in_headers && line[0] != ' ') {
      EXPECT_TRUE(std::regex_match(line.substr(0, line.find(':')), field_name)) << line;
    }
  }
}

class NonAsciiSubjectTest : public testing::TestWithParam<std::string_view> {};

TEST_P(NonAsciiSubjectTest, RoundTripsThroughRfc2047Decoding) {
  EmailMessage m = Marketing();
  m.subject = std::string(GetParam());
  std::string mime = RenderMime(m, kDomain);
  std::string value = HeaderValue(mime, "Subject");
  EXPECT_EQ(DecodeEncodedWords(value), GetParam());
  for (const std::string& word : EncodedWords(value)) {
    EXPECT_THAT(word, StartsWith("=?UTF-8?B?"));
    EXPECT_LE(word.size(), 75u);
  }
  for (const std::string& line : RawHeaderLines(mime, "Subject")) EXPECT_LE(line.size(), 76u);
  for (unsigned char c : HeaderBlock(mime)) ASSERT_LT(c, 0x80) << "raw 8-bit in headers";
}

INSTANTIATE_TEST_SUITE_P(CyrillicAndAzerbaijani, NonAsciiSubjectTest,
                         testing::Values(kCyrillic, kAzerbaijani, kAzerbaijaniMarker));

TEST(RenderMimeTest, LongNonAsciiSubjectFoldsIntoWordsOfWholeCharacters) {
  EmailMessage m = Marketing();
  m.subject =
      std::string(kCyrillic) + " / " + std::string(kAzerbaijani) + " / " + std::string(kCyrillic);
  std::string mime = RenderMime(m, kDomain);
  std::vector<std::string> lines = RawHeaderLines(mime, "Subject");
  ASSERT_GE(lines.size(), 4u);
  EXPECT_THAT(lines[0], StartsWith("Subject: =?UTF-8?B?"));
  for (std::size_t i = 1; i < lines.size(); ++i) EXPECT_THAT(lines[i], StartsWith(" =?UTF-8?B?"));
  for (const std::string& line : lines) {
    EXPECT_LE(line.size(), 76u);
    EXPECT_TRUE(smtp_test::IsValidUtf8(DecodeEncodedWords(line))) << "split sequence: " << line;
  }
  EXPECT_EQ(DecodeEncodedWords(HeaderValue(mime, "Subject")), m.subject);
}

TEST(RenderMimeTest, LongAsciiSubjectFoldsBeforeSpaces) {
  EmailMessage m = Marketing();
  m.subject =
      "Our  biggest sale of the year: everything in the spring collection is now half price, "
      "only until Sunday, while stocks last";
  std::string mime = RenderMime(m, kDomain);
  std::vector<std::string> lines = RawHeaderLines(mime, "Subject");
  ASSERT_GE(lines.size(), 2u);
  for (const std::string& line : lines) EXPECT_LE(line.size(), 78u) << line;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_THAT(lines[i], StartsWith(" "));
    EXPECT_NE(lines[i].find_first_not_of(' '), std::string::npos) << "white-space-only line";
  }
  EXPECT_EQ(HeaderValue(mime, "Subject"), m.subject);  // unfolding gives it back exactly
}

class HeaderInjectionTest : public testing::TestWithParam<std::string> {};

TEST_P(HeaderInjectionTest, LineBreaksInFreeTextCannotStartAHeader) {
  EmailMessage m = Marketing();
  std::string payload = "Eve" + GetParam() + "Bcc: victim@example.com";
  m.from_name = payload;
  m.subject = payload;
  m.list_unsubscribe_subject = payload;
  std::string mime = RenderMime(m, kDomain);
  for (const std::string& line : CrlfLines(mime)) {
    EXPECT_THAT(line, Not(StartsWith("Bcc:")));
    EXPECT_THAT(line, Not(StartsWith("bcc:")));
  }
  for (const auto& [name, value] : Headers(mime)) EXPECT_NE(name, "Bcc");
  EXPECT_EQ(DecodeEncodedWords(HeaderValue(mime, "Subject")), payload);
  EXPECT_THAT(DecodeEncodedWords(HeaderValue(mime, "From")), HasSubstr(payload));
}

INSTANTIATE_TEST_SUITE_P(CrLfNul, HeaderInjectionTest,
                         testing::Values("\r\n", "\n", "\r", "\r\n ", std::string("\0", 1)));

struct BadField {
  const char* field;
  std::function<void(EmailMessage&)> spoil;
};

void PrintTo(const BadField& b, std::ostream* os) { *os << b.field; }

class BadFieldTest : public testing::TestWithParam<BadField> {};

TEST_P(BadFieldTest, IsRefusedByNameWithoutQuotingTheValue) {
  EmailMessage m = Marketing();
  GetParam().spoil(m);
  try {
    RenderMime(m, kDomain);
    FAIL() << "accepted a bad " << GetParam().field;
  } catch (const std::invalid_argument& e) {
    EXPECT_THAT(e.what(), HasSubstr(GetParam().field));
    EXPECT_THAT(e.what(), Not(HasSubstr("victim")));
  }
}

INSTANTIATE_TEST_SUITE_P(
    AddressesUrlsAndIds, BadFieldTest,
    testing::Values(
        BadField{"to_address", [](EmailMessage& m) { m.to_address = "a@x.com\r\nBcc: victim@x"; }},
        BadField{"to_address", [](EmailMessage& m) { m.to_address = "victim@x.com\n"; }},
        BadField{"to_address", [](EmailMessage& m) { m.to_address = "victim@x.com>"; }},
        BadField{"to_address", [](EmailMessage& m) { m.to_address = "<victim@x.com"; }},
        BadField{"to_address", [](EmailMessage& m) { m.to_address = "victim @x.com"; }},
        BadField{"to_address",
                 [](EmailMessage& m) { m.to_address = std::string("victim\0@x.com", 13); }},
        BadField{"to_address", [](EmailMessage& m) { m.to_address = ""; }},
        BadField{"from_address", [](EmailMessage& m) { m.from_address = "n@x.com\rvictim"; }},
        BadField{"from_address", [](EmailMessage& m) { m.from_address = "victim>@x.com"; }},
        BadField{"message_id", [](EmailMessage& m) { m.message_id = "id\r\nBcc: victim@x"; }},
        BadField{"message_id", [](EmailMessage& m) { m.message_id = "id>victim"; }},
        BadField{"message_id", [](EmailMessage& m) { m.message_id = "id victim"; }},
        BadField{"message_id", [](EmailMessage& m) { m.message_id = ""; }},
        BadField{"list_unsubscribe_url",
                 [](EmailMessage& m) { m.list_unsubscribe_url = "https://u.x/\r\nBcc: victim"; }},
        BadField{"list_unsubscribe_url",
                 [](EmailMessage& m) { m.list_unsubscribe_url = "https://u.x/>victim"; }},
        BadField{"list_unsubscribe_url",
                 [](EmailMessage& m) { m.list_unsubscribe_url = "http://u.x/victim"; }},
        BadField{"list_unsubscribe_mailto",
                 [](EmailMessage& m) { m.list_unsubscribe_mailto = "u@x.com\nvictim"; }},
        BadField{"list_unsubscribe_mailto",
                 [](EmailMessage& m) { m.list_unsubscribe_mailto = "u@x.com>victim"; }}));

TEST(RenderMimeTest, RefusesABadMessageIdDomain) {
  EXPECT_THROW(RenderMime(Marketing(), "herald.example>\r\nBcc: x"), std::invalid_argument);
}

TEST(RenderMimeTest, ListUnsubscribeIsExactlyWhatE4Requires) {
  std::string mime = RenderMime(Marketing(), kDomain);
  EXPECT_EQ(HeaderValue(mime, "List-Unsubscribe"),
            "<https://u.herald.example/u/TOKEN123>, "
            "<mailto:unsubscribe@herald.example?subject=Refusal%20of%20notifications%20about"
            "%20new%20products%20and%20services%20and%20special%20offers>");
  EXPECT_EQ(HeaderValue(mime, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
}

TEST(RenderMimeTest, AzerbaijaniMarkerTravelsPercentEncodedInTheMailto) {
  EmailMessage m = Marketing();
  m.list_unsubscribe_subject = std::string(kAzerbaijaniMarker);
  std::string value = HeaderValue(RenderMime(m, kDomain), "List-Unsubscribe");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(value, match, std::regex("<mailto:([^?>]+)\\?subject=([^>]+)>")));
  EXPECT_EQ(match[1].str(), "unsubscribe@herald.example");
  EXPECT_EQ(match[2].str().find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%"),
            std::string::npos);
  EXPECT_EQ(PercentDecode(match[2].str()), kAzerbaijaniMarker);
}

TEST(RenderMimeTest, MailtoIsLeftOutWhenNotSet) {
  EmailMessage m = Marketing();
  m.list_unsubscribe_mailto.clear();
  std::string mime = RenderMime(m, kDomain);
  EXPECT_EQ(HeaderValue(mime, "List-Unsubscribe"), "<https://u.herald.example/u/TOKEN123>");
  EXPECT_EQ(HeaderValue(mime, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
}

TEST(RenderMimeTest, MessageWithoutUnsubscribeUrlHasNoListHeaders) {
  EmailMessage m = Marketing();
  m.list_unsubscribe_url.clear();
  m.list_unsubscribe_mailto.clear();
  for (const auto& [name, value] : Headers(RenderMime(m, kDomain))) {
    EXPECT_THAT(name, Not(StartsWith("List-Unsubscribe")));
  }
}

TEST(RenderMimeTest, FromDisplayNameIsQuotedOrEncodedAsNeeded) {
  EmailMessage m = Marketing();
  m.from_name.clear();
  EXPECT_EQ(HeaderValue(RenderMime(m, kDomain), "From"), "news@herald.example");
  m.from_name = "Smith, John \"JJ\"";
  EXPECT_EQ(HeaderValue(RenderMime(m, kDomain), "From"),
            "\"Smith, John \\\"JJ\\\"\" <news@herald.example>");
  m.from_name = "Herald Xəbərlər";
  std::string from = HeaderValue(RenderMime(m, kDomain), "From");
  EXPECT_THAT(from, StartsWith("=?UTF-8?B?"));
  EXPECT_EQ(DecodeEncodedWords(from), "Herald Xəbərlər <news@herald.example>");
}

TEST(RenderMimeTest, TextOnlyBodyIsQuotedPrintableUtf8) {
  EmailMessage m = Marketing();
  m.text_body = std::string(kCyrillic) + "\n" + std::string(200, '=') + "\nlast line";
  std::string body = Body(RenderMime(m, kDomain));
  for (const std::string& line : CrlfLines(body)) EXPECT_LE(line.size(), 76u) << line;
  EXPECT_EQ(QpDecode(body), m.text_body + "\n");
}

TEST(RenderMimeTest, HtmlMakesMultipartAlternativeWithTextFirst) {
  EmailMessage m = Marketing();
  m.text_body = std::string(kAzerbaijani) + "\n--not-a-boundary\n";
  m.html_body = "<html><body><p style=\"color:red\">" + std::string(kCyrillic) + "</p>" +
                std::string(300, 'z') + "</body></html>";
  std::string mime = RenderMime(m, kDomain);
  std::smatch match;
  std::string content_type = HeaderValue(mime, "Content-Type");
  ASSERT_TRUE(std::regex_match(content_type, match,
                               std::regex("multipart/alternative; boundary=\"(=_[0-9A-Za-z_]+)\"")))
      << content_type;
  std::string boundary = match[1].str();
  EXPECT_EQ(HeaderValue(mime, "MIME-Version"), "1.0");

  std::string body = Body(mime);
  std::string delimiter = "--" + boundary;
  ASSERT_THAT(body, StartsWith(delimiter + "\r\n"));
  ASSERT_THAT(body, testing::EndsWith("\r\n" + delimiter + "--\r\n"));
  std::string inner = body.substr(delimiter.size() + 2, body.size() - 2 * delimiter.size() - 2 - 6);
  std::size_t split = inner.find("\r\n" + delimiter + "\r\n");
  ASSERT_NE(split, std::string::npos);
  EXPECT_EQ(inner.find(delimiter, split + 2 + delimiter.size()), std::string::npos)
      << "more than two parts";
  std::string text_part = inner.substr(0, split);
  std::string html_part = inner.substr(split + 4 + delimiter.size());

  EXPECT_THAT(CrlfLines(text_part.substr(0, text_part.find("\r\n\r\n"))),
              ElementsAre("Content-Type: text/plain; charset=UTF-8",
                          "Content-Transfer-Encoding: quoted-printable"));
  EXPECT_THAT(CrlfLines(html_part.substr(0, html_part.find("\r\n\r\n"))),
              ElementsAre("Content-Type: text/html; charset=UTF-8",
                          "Content-Transfer-Encoding: quoted-printable"));
  EXPECT_EQ(QpDecode(Body(text_part)), m.text_body);
  EXPECT_EQ(QpDecode(Body(html_part)), m.html_body);
  for (const std::string& line : CrlfLines(body)) EXPECT_LE(line.size(), 76u) << line;
}

TEST(RenderMimeTest, BoundaryIsFreshForEachMessage) {
  EmailMessage m = Marketing();
  m.html_body = "<p>x</p>";
  EXPECT_NE(HeaderValue(RenderMime(m, kDomain), "Content-Type"),
            HeaderValue(RenderMime(m, kDomain), "Content-Type"));
}

}  // namespace
}  // namespace herald::dispatch
