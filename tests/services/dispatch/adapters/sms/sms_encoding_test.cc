#include "services/dispatch/adapters/sms/sms_encoding.h"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace herald::dispatch::sms {
namespace {

using Kind = SmsEncoding::Kind;

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// The GSM 03.38 default alphabet as 3GPP TS 23.038 lays it out, row by row (0x1B, the
// escape to the extension table, left out): 127 characters.
constexpr std::string_view kDefaultAlphabet =
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà";

// The extension table: form feed, ^ { } \ [ ~ ] | €.
constexpr std::array<std::string_view, 10> kExtension = {"\f", "^", "{", "}", "\\",
                                                         "[",  "~", "]", "|", "€"};

// Splits UTF-8 text into its characters (the text here is well-formed).
std::vector<std::string_view> Characters(std::string_view utf8) {
  std::vector<std::string_view> out;
  for (size_t pos = 0; pos < utf8.size();) {
    size_t len = 1;
    while (pos + len < utf8.size() &&
           (static_cast<unsigned char>(utf8[pos + len]) & 0xC0) == 0x80) {
      ++len;
    }
    out.push_back(utf8.substr(pos, len));
    pos += len;
  }
  return out;
}

struct Case {
  std::string name;
  std::string text;
  Kind kind;
  int units;
  int segments;
};

TEST(SmsEncodingTest, Table) {
  const std::string d = "д";      // Cyrillic: UCS-2, one unit
  const std::string e = "ə";      // Azerbaijani schwa: UCS-2, one unit
  const std::string emoji = "😀";  // outside the BMP: a surrogate pair, two units
  const std::vector<Case> cases = {
      {"empty: one empty PDU", "", Kind::kGsm7, 0, 1},
      {"plain ASCII", "Hello, Aylin! Your code is 4821. Reply STOP to opt out.", Kind::kGsm7, 55,
       1},
      {"160 GSM chars fit one message", Repeat("a", 160), Kind::kGsm7, 160, 1},
      {"161 GSM chars need two segments", Repeat("a", 161), Kind::kGsm7, 161, 2},
      {"306 GSM chars fill two segments", Repeat("a", 306), Kind::kGsm7, 306, 2},
      {"307 GSM chars need three", Repeat("a", 307), Kind::kGsm7, 307, 3},
      {"459 GSM chars fill three", Repeat("a", 459), Kind::kGsm7, 459, 3},
      {"460 GSM chars need four", Repeat("a", 460), Kind::kGsm7, 460, 4},
      {"euro is an extension char: 2 units", "€", Kind::kGsm7, 2, 1},
      {"all extension chars count 2", "^{}\\[~]|€\f", Kind::kGsm7, 20, 1},
      {"80 euros are 160 units: one message", Repeat("€", 80), Kind::kGsm7, 160, 1},
      {"159 chars and a euro: 161 units", Repeat("a", 159) + "€", Kind::kGsm7, 161, 2},
      {"escape never split from its char", Repeat("a", 152) + "€" + Repeat("a", 152), Kind::kGsm7,
       306, 3},
      {"GSM accented letters stay GSM-7", "éèùìòÇØøÅåÄÖÑÜ§ñüàÉÆæßäö", Kind::kGsm7, 24, 1},
      {"Greek capitals in GSM-7", "ΔΦΓΛΩΠΨΣΘΞ", Kind::kGsm7, 10, 1},
      {"currency and inverted marks", "£$¥¤@¡¿_", Kind::kGsm7, 8, 1},
      {"CR LF are GSM-7", "a\r\nb", Kind::kGsm7, 4, 1},
      {"schwa forces UCS-2", e, Kind::kUcs2, 1, 1},
      {"70 schwas fit one message", Repeat(e, 70), Kind::kUcs2, 70, 1},
      {"71 schwas need two", Repeat(e, 71), Kind::kUcs2, 71, 2},
      {"one schwa drags GSM text into UCS-2", Repeat("a", 69) + e, Kind::kUcs2, 70, 1},
      {"160 GSM chars and a schwa: 3 UCS-2 segments", Repeat("a", 160) + e, Kind::kUcs2, 161, 3},
      {"Cyrillic 70: one", Repeat(d, 70), Kind::kUcs2, 70, 1},
      {"Cyrillic 71: two", Repeat(d, 71), Kind::kUcs2, 71, 2},
      {"Cyrillic 134: two", Repeat(d, 134), Kind::kUcs2, 134, 2},
      {"Cyrillic 135: three", Repeat(d, 135), Kind::kUcs2, 135, 3},
      {"emoji is two units", emoji, Kind::kUcs2, 2, 1},
      {"35 emoji are 70 units: one", Repeat(emoji, 35), Kind::kUcs2, 70, 1},
      {"36 emoji are 72 units: two", Repeat(emoji, 36), Kind::kUcs2, 72, 2},
      {"surrogate pair never split", Repeat(d, 66) + emoji + Repeat(d, 66), Kind::kUcs2, 134, 3},
      {"pair that fits the segment end exactly", Repeat(d, 65) + emoji + Repeat(d, 67), Kind::kUcs2,
       134, 2},
      {"ZWJ family: 3 pairs and 2 joiners", "👨‍👩‍👧", Kind::kUcs2, 8, 1},
      {"flag: two regional indicators", "🇦🇿", Kind::kUcs2, 4, 1},
      {"opt-out footer: arrow is not GSM-7", "STOP → 1234", Kind::kUcs2, 11, 1},
      {"Azerbaijani offer with footer",
       "Hörmətli müştəri! Bu həftə bütün məhsullara 20% endirim. Ətraflı: herald.az/s. "
       "Imtina üçün STOP → 1234",
       Kind::kUcs2, 102, 2},
      {"capital C cedilla is GSM, small c cedilla is not", "Çç", Kind::kUcs2, 2, 1},
      {"Turkish/Azerbaijani ş ğ ı are not GSM", "şğı", Kind::kUcs2, 3, 1},
      {"Greek small letters are not GSM", "αβγ", Kind::kUcs2, 3, 1},
      {"backtick is not GSM", "`", Kind::kUcs2, 1, 1},
      {"tab is not GSM", "a\tb", Kind::kUcs2, 3, 1},
      {"curly quotes are not GSM", "“ok”", Kind::kUcs2, 4, 1},
      {"CJK", "中文", Kind::kUcs2, 2, 1},
      {"malformed byte counts as U+FFFD", "ok\xff", Kind::kUcs2, 3, 1},
      {"truncated sequence counts as U+FFFD", "ok\xC3", Kind::kUcs2, 3, 1},
      {"overlong slash is malformed, not '/'", "\xC0\xAF", Kind::kUcs2, 2, 1},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    SmsEncoding got = AnalyzeSms(c.text);
    EXPECT_EQ(got.kind, c.kind);
    EXPECT_EQ(got.units, c.units);
    EXPECT_EQ(got.segments, c.segments);
  }
}

TEST(SmsEncodingTest, WholeDefaultAlphabetIsOneUnitEach) {
  ASSERT_EQ(Characters(kDefaultAlphabet).size(), 127u);
  SmsEncoding all = AnalyzeSms(kDefaultAlphabet);
  EXPECT_EQ(all.kind, Kind::kGsm7);
  EXPECT_EQ(all.units, 127);
  // Each character alone, so one misclassified character is named in the failure.
  for (std::string_view ch : Characters(kDefaultAlphabet)) {
    SmsEncoding one = AnalyzeSms(ch);
    EXPECT_EQ(one.kind, Kind::kGsm7) << ch;
    EXPECT_EQ(one.units, 1) << ch;
  }
}

TEST(SmsEncodingTest, ExtensionCharactersAreTwoUnitsEach) {
  for (const auto& ch : kExtension) {
    SmsEncoding one = AnalyzeSms(ch);
    EXPECT_EQ(one.kind, Kind::kGsm7) << ch;
    EXPECT_EQ(one.units, 2) << ch;
  }
}

TEST(SmsEncodingTest, NearMissesOfTheAlphabetForceUcs2) {
  // Latin-1 and Azerbaijani letters that look GSM-ish but are not in the table, typographic
  // punctuation that word processors slip in, and ASCII controls other than CR and LF.
  constexpr std::string_view kNearMisses =
      "áíóúâêçãõÈÙÿëï"
      "ƏəŞşĞğİı"
      "\u00A0\u2019\u201C\u2026\u2013"
      "\x7F\x01\t\v";
  ASSERT_EQ(Characters(kNearMisses).size(), 31u);
  for (std::string_view ch : Characters(kNearMisses)) {
    EXPECT_EQ(AnalyzeSms(ch).kind, Kind::kUcs2) << ch;
  }
}

}  // namespace
}  // namespace herald::dispatch::sms
