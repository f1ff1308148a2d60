#include "services/dispatch/adapters/smtp/mime_encoding.h"

#include <algorithm>
#include <cstdint>

namespace herald::dispatch {
namespace {

constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view kHexDigits = "0123456789ABCDEF";
constexpr std::string_view kWordPrefix = "=?UTF-8?B?";
constexpr std::string_view kWordSuffix = "?=";
constexpr std::size_t kMaxEncodedWord = 75;  // RFC 2047 section 2
constexpr std::size_t kMaxQpLine = 76;       // RFC 2045 section 6.7 rule 5

// Length of the UTF-8 sequence starting at s[i]. A malformed sequence counts as one byte:
// it is still carried intact by base64, just not kept together with its neighbours.
std::size_t Utf8SequenceLength(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80           ? 1
                  : (c >> 5) == 0x6  ? 2
                  : (c >> 4) == 0xE  ? 3
                  : (c >> 3) == 0x1E ? 4
                                     : 1;
  if (i + n > s.size()) return 1;
  for (std::size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 1;
  }
  return n;
}

// How many UTF-8 bytes fit in one encoded-word of at most `chars` characters.
std::size_t PayloadBytesFor(std::size_t chars) {
  std::size_t overhead = kWordPrefix.size() + kWordSuffix.size();
  std::size_t base64_chars = chars > overhead ? chars - overhead : 0;
  return base64_chars / 4 * 3;
}

void AppendHexEscape(std::string& out, unsigned char c) {
  out += '=';
  out += kHexDigits[c >> 4];
  out += kHexDigits[c & 0xF];
}

// Quoted-printable of one line (no line breaks inside), with soft breaks.
void AppendQpLine(std::string& out, std::string_view line) {
  std::size_t column = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    auto c = static_cast<unsigned char>(line[i]);
    bool last = i + 1 == line.size();
    bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
    std::size_t width = literal ? 1 : 3;
    // Keep room for the "=" of a soft break unless this token ends the line.
    std::size_t limit = last ? kMaxQpLine : kMaxQpLine - 1;
    if (column + width > limit) {
      out += "=\r\n";
      column = 0;
    }
    if (literal) {
      out += static_cast<char>(c);
    } else {
      AppendHexEscape(out, c);
    }
    column += width;
  }
}

}  // namespace

std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16 |
                 static_cast<unsigned char>(bytes[i + 1]) << 8 |
                 static_cast<unsigned char>(bytes[i + 2]);
    out += kBase64Alphabet[v >> 18];
    out += kBase64Alphabet[(v >> 12) & 0x3F];
    out += kBase64Alphabet[(v >> 6) & 0x3F];
    out += kBase64Alphabet[v & 0x3F];
  }
  std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (rest == 2) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kBase64Alphabet[v >> 18];
    out += kBase64Alphabet[(v >> 12) & 0x3F];
    out += rest == 2 ? kBase64Alphabet[(v >> 6) & 0x3F] : '=';
    out += '=';
  }
  return out;
}

std::string EncodeHeaderWords(std::string_view utf8, std::size_t first_line_room) {
  std::string out;
  std::size_t budget = PayloadBytesFor(std::min(first_line_room, kMaxEncodedWord));
  // Even a cramped first line must carry one whole 4-byte sequence.
  budget = std::max<std::size_t>(budget, 6);
  std::size_t start = 0;
  while (start < utf8.size() || out.empty()) {
    std::size_t end = start;
    while (end < utf8.size()) {
      std::size_t n = Utf8SequenceLength(utf8, end);
      if (end + n - start > budget) break;
      end += n;
    }
    if (!out.empty()) out += "\r\n ";
    out += kWordPrefix;
    out += Base64Encode(utf8.substr(start, end - start));
    out += kWordSuffix;
    start = end;
    // Continuation lines start with one space, leaving 75 characters: a full word.
    budget = PayloadBytesFor(kMaxEncodedWord);
  }
  return out;
}

std::string EncodeHeaderWord(std::string_view utf8) {
  return EncodeHeaderWords(utf8, kMaxEncodedWord);
}

std::string QuotedPrintableEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t brk = text.find_first_of("\r\n", start);
    std::string_view line =
        text.substr(start, brk == std::string_view::npos ? std::string_view::npos : brk - start);
    AppendQpLine(out, line);
    if (brk == std::string_view::npos) break;
    out += "\r\n";
    start = brk + (text.compare(brk, 2, "\r\n") == 0 ? 2 : 1);
    if (start == text.size()) break;  // a final line break ends the text, not a new line
  }
  return out;
}

std::string PercentEncode(std::string_view bytes, std::string_view keep) {
  std::string out;
  for (char ch : bytes) {
    auto c = static_cast<unsigned char>(ch);
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || (c != 0 && keep.find(ch) != std::string_view::npos)) {
      out += ch;
    } else {
      out += '%';
      out += kHexDigits[c >> 4];
      out += kHexDigits[c & 0xF];
    }
  }
  return out;
}

}  // namespace herald::dispatch
