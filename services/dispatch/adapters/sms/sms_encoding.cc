#include "services/dispatch/adapters/sms/sms_encoding.h"

#include <algorithm>
#include <array>

#include "services/dispatch/adapters/sms/utf8.h"

namespace herald::dispatch::sms {
namespace {

constexpr int kGsmSingle = 160;
constexpr int kGsmPerSegment = 153;
constexpr int kUcs2Single = 70;
constexpr int kUcs2PerSegment = 67;
constexpr char32_t kReplacement = 0xFFFD;

// The non-ASCII characters of the GSM 03.38 default alphabet (3GPP TS 23.038 §6.2.1),
// sorted by code point for binary search.
constexpr std::array<char32_t, 39> kGsmBasicNonAscii = {
    0x00A1,  // ¡
    0x00A3,  // £
    0x00A4,  // ¤
    0x00A5,  // ¥
    0x00A7,  // §
    0x00BF,  // ¿
    0x00C4,  // Ä
    0x00C5,  // Å
    0x00C6,  // Æ
    0x00C7,  // Ç
    0x00C9,  // É
    0x00D1,  // Ñ
    0x00D6,  // Ö
    0x00D8,  // Ø
    0x00DC,  // Ü
    0x00DF,  // ß
    0x00E0,  // à
    0x00E4,  // ä
    0x00E5,  // å
    0x00E6,  // æ
    0x00E8,  // è
    0x00E9,  // é
    0x00EC,  // ì
    0x00F1,  // ñ
    0x00F2,  // ò
    0x00F6,  // ö
    0x00F8,  // ø
    0x00F9,  // ù
    0x00FC,  // ü
    0x0393,  // Γ
    0x0394,  // Δ
    0x0398,  // Θ
    0x039B,  // Λ
    0x039E,  // Ξ
    0x03A0,  // Π
    0x03A3,  // Σ
    0x03A6,  // Φ
    0x03A8,  // Ψ
    0x03A9,  // Ω
};
static_assert(std::is_sorted(kGsmBasicNonAscii.begin(), kGsmBasicNonAscii.end()));

// Septets a character takes in GSM-7: 1 in the default alphabet, 2 in the extension table
// (escape + character), 0 when GSM-7 cannot carry it.
int GsmUnits(char32_t cp) {
  if (cp < 0x80) {
    // ASCII differs from the GSM default alphabet only in these: ` has no GSM form, and
    // [ \ ] ^ { | } ~ and form feed live in the extension table.
    switch (cp) {
      case '\n':
      case '\r':
        return 1;
      case '\f':
      case '[':
      case '\\':
      case ']':
      case '^':
      case '{':
      case '|':
      case '}':
      case '~':
        return 2;
      case '`':
        return 0;
      default:
        return (cp >= 0x20 && cp < 0x7F) ? 1 : 0;
    }
  }
  if (cp == 0x20AC) return 2;  // €
  return std::binary_search(kGsmBasicNonAscii.begin(), kGsmBasicNonAscii.end(), cp) ? 1 : 0;
}

// Greedy packing of characters into segments: a character that does not fit whole starts
// the next segment, which is what handsets and providers do.
class SegmentCounter {
 public:
  explicit SegmentCounter(int per_segment) : per_segment_(per_segment) {}
  void Add(int units) {
    total_ += units;
    if (used_ + units > per_segment_) {
      ++segments_;
      used_ = 0;
    }
    used_ += units;
  }
  int total() const { return total_; }
  int Segments(int single_limit) const { return total_ <= single_limit ? 1 : segments_; }

 private:
  int per_segment_;
  int total_ = 0;
  int used_ = 0;
  int segments_ = 1;
};

}  // namespace

SmsEncoding AnalyzeSms(std::string_view utf8) {
  // Both packings are counted in one pass, so no second scan is needed once a character
  // outside GSM-7 shows up.
  bool gsm = true;
  SegmentCounter gsm_counter(kGsmPerSegment);
  SegmentCounter ucs2_counter(kUcs2PerSegment);
  for (size_t pos = 0; pos < utf8.size();) {
    char32_t cp = 0;
    if (!DecodeUtf8(utf8, pos, cp)) cp = kReplacement;
    ucs2_counter.Add(cp > 0xFFFF ? 2 : 1);
    if (gsm) {
      int units = GsmUnits(cp);
      if (units == 0) {
        gsm = false;
      } else {
        gsm_counter.Add(units);
      }
    }
  }
  if (gsm) return {SmsEncoding::Kind::kGsm7, gsm_counter.total(), gsm_counter.Segments(kGsmSingle)};
  return {SmsEncoding::Kind::kUcs2, ucs2_counter.total(), ucs2_counter.Segments(kUcs2Single)};
}

}  // namespace herald::dispatch::sms
