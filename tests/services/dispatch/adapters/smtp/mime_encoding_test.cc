#include "services/dispatch/adapters/smtp/mime_encoding.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/services/dispatch/adapters/smtp/mime_test_util.h"

namespace herald::dispatch {
namespace {

using smtp_test::CrlfLines;
using smtp_test::DecodeEncodedWords;
using smtp_test::EncodedWords;
using smtp_test::IsValidUtf8;
using smtp_test::QpDecode;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::string_literals;

constexpr std::string_view kCyrillic = "Новые продукты и специальные предложения";
constexpr std::string_view kAzerbaijani = "Yeni məhsullar və xüsusi təkliflər";

TEST(Base64EncodeTest, MatchesRfc4648Vectors) {
  EXPECT_EQ(Base64Encode(""), "");
  EXPECT_EQ(Base64Encode("f"), "Zg==");
  EXPECT_EQ(Base64Encode("fo"), "Zm8=");
  EXPECT_EQ(Base64Encode("foo"), "Zm9v");
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(Base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(Base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(std::string("\xff\x00\xfe", 3)), "/wD+");
}

TEST(EncodeHeaderWordTest, ShortTextIsOneWord) {
  EXPECT_EQ(EncodeHeaderWord("Привет"), "=?UTF-8?B?0J/RgNC40LLQtdGC?=");
}

TEST(EncodeHeaderWordTest, EmptyTextIsOneEmptyWord) {
  // (Split so the compiler does not read "??=" as a trigraph.)
  EXPECT_EQ(EncodeHeaderWord(""),
            "=?UTF-8?B?"
            "?=");
}

TEST(EncodeHeaderWordTest, CyrillicAndAzerbaijaniRoundTrip) {
  EXPECT_EQ(DecodeEncodedWords(EncodeHeaderWord(kCyrillic)), kCyrillic);
  EXPECT_EQ(DecodeEncodedWords(EncodeHeaderWord(kAzerbaijani)), kAzerbaijani);
}

// Every word must decode on its own to whole characters (RFC 2047 5: "each encoded-word
// MUST represent an integral number of characters"), for 2-, 3- and 4-byte sequences.
TEST(EncodeHeaderWordTest, LongTextSplitsIntoShortWordsOfWholeCharacters) {
  std::string text;
  for (int i = 0; i < 12; ++i) text += std::string(kCyrillic) + " € 😀 ə ";
  std::string encoded = EncodeHeaderWord(text);
  std::vector<std::string> words = EncodedWords(encoded);
  ASSERT_GT(words.size(), 10u);
  for (const std::string& word : words) {
    EXPECT_LE(word.size(), 75u) << word;
    EXPECT_TRUE(IsValidUtf8(DecodeEncodedWords(word))) << word;
  }
  for (const std::string& line : CrlfLines(encoded)) EXPECT_LE(line.size(), 76u);
  EXPECT_EQ(DecodeEncodedWords(encoded), text);
}

TEST(EncodeHeaderWordTest, FirstWordFitsTheRoomLeftOnTheFirstLine) {
  std::string encoded = EncodeHeaderWords(std::string(200, 'x'), 40);
  std::vector<std::string> lines = CrlfLines(encoded);
  ASSERT_GT(lines.size(), 1u);
  EXPECT_LE(lines[0].size(), 40u);
  EXPECT_EQ(DecodeEncodedWords(encoded), std::string(200, 'x'));
}

TEST(EncodeHeaderWordTest, LineBreaksAndNulBecomeBase64) {
  std::string text = "Hi\r\nBcc: victim@example.com\n\0x"s;
  std::string encoded = EncodeHeaderWord(text);
  EXPECT_THAT(encoded, Not(HasSubstr("Bcc")));
  EXPECT_EQ(encoded.find('\0'), std::string::npos);
  EXPECT_EQ(DecodeEncodedWords(encoded), text);
}

TEST(QuotedPrintableEncodeTest, EscapesWhatMustBeEscaped) {
  EXPECT_EQ(QuotedPrintableEncode("a=b"), "a=3Db");
  EXPECT_EQ(QuotedPrintableEncode("é"), "=C3=A9");
  EXPECT_EQ(QuotedPrintableEncode("end \nnext\t"), "end=20\r\nnext=09");
  EXPECT_EQ(QuotedPrintableEncode("a\r\nb\rc\n"), "a\r\nb\r\nc\r\n");
  EXPECT_EQ(QuotedPrintableEncode(std::string("\0", 1)), "=00");
}

TEST(QuotedPrintableEncodeTest, LongLinesAreSoftBrokenAt76) {
  std::string text = std::string(300, 'a') + "\n" + std::string(100, '=') + "\n";
  for (int i = 0; i < 40; ++i) text += std::string(kAzerbaijani) + " ";
  std::string qp = QuotedPrintableEncode(text);
  for (const std::string& line : CrlfLines(qp)) EXPECT_LE(line.size(), 76u) << line;
  EXPECT_EQ(QpDecode(qp), text);
  EXPECT_EQ(qp.find("=_"), std::string::npos);
}

TEST(QuotedPrintableEncodeTest, NeverLeavesWhiteSpaceBeforeALineBreak) {
  std::string text = std::string(74, 'a') + "  \n" + std::string(75, 'b') + " x";
  std::string qp = QuotedPrintableEncode(text);
  for (const std::string& line : CrlfLines(qp)) {
    if (line.empty()) continue;
    EXPECT_NE(line.back(), ' ') << line;
    EXPECT_NE(line.back(), '\t') << line;
  }
  EXPECT_EQ(QpDecode(qp), text);
}

TEST(PercentEncodeTest, KeepsUnreservedAndEscapesTheRest) {
  EXPECT_EQ(PercentEncode("Az09-._~"), "Az09-._~");
  EXPECT_EQ(PercentEncode("a b?c&d\r\n"), "a%20b%3Fc%26d%0D%0A");
  EXPECT_EQ(PercentEncode("ə"), "%C9%99");
  EXPECT_EQ(PercentEncode("x@y", "@"), "x@y");
}

}  // namespace
}  // namespace herald::dispatch
