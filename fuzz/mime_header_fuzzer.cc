// The MIME encoding of outgoing mail: a recipient's name, a subject or a body (campaign
// content, CRM data) must never start a header line of its own or break a relay's limits.
// Each encoder is decoded back here and compared with its input.
//
// Input: one byte choosing the mode, then
//   0: one byte of first-line room, then the header text (EncodeHeaderWords);
//   1: a text body (QuotedPrintableEncode);
//   2: the characters to keep, NUL, the bytes (PercentEncode);
//   3: sender name, NUL, subject, NUL, unsubscribe-mailto subject, NUL, text body (RenderMime).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "services/dispatch/adapters/smtp/mime_encoding.h"
#include "services/dispatch/adapters/smtp/mime_message.h"

namespace {

using namespace herald::dispatch;
using herald::fuzz::Base64Decode;
using herald::fuzz::ValidUtf8;

std::vector<std::string_view> Split(std::string_view s, std::string_view sep) {
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (true) {
    size_t at = s.find(sep, pos);
    parts.push_back(
        s.substr(pos, at == std::string_view::npos ? std::string_view::npos : at - pos));
    if (at == std::string_view::npos) return parts;
    pos = at + sep.size();
  }
}

void HeaderWords(herald::fuzz::Input& in) {
  size_t room = in.Byte();
  std::string_view text = in.Rest();
  std::string encoded = EncodeHeaderWords(text, room);
  std::string decoded;
  auto lines = Split(encoded, "\r\n");
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view word = lines[i];
    if (i > 0) {
      HERALD_FUZZ_CHECK(!word.empty() && word.front() == ' ');  // a fold, never a new header
      word.remove_prefix(1);
    }
    HERALD_FUZZ_CHECK(word.size() <= 75);
    if (i == 0) HERALD_FUZZ_CHECK(word.size() <= std::max<size_t>(room, 20));
    HERALD_FUZZ_CHECK(word.substr(0, 10) == "=?UTF-8?B?" && word.size() >= 12 &&
                      word.substr(word.size() - 2) == "?=");
    std::string_view payload = word.substr(10, word.size() - 12);
    HERALD_FUZZ_CHECK(payload.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                                                "vwxyz0123456789+/=") == std::string_view::npos);
    std::string bytes = Base64Decode(payload);
    // Each word decodes on its own: a whole UTF-8 sequence never straddles two.
    if (ValidUtf8(text)) HERALD_FUZZ_CHECK(ValidUtf8(bytes));
    decoded += bytes;
  }
  HERALD_FUZZ_CHECK(decoded == text);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void QuotedPrintable(std::string_view text) {
  std::string encoded = QuotedPrintableEncode(text);
  HERALD_FUZZ_CHECK(encoded.find("=_") == std::string::npos);  // MIME boundaries start so
  std::string decoded;
  auto lines = Split(encoded, "\r\n");
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    HERALD_FUZZ_CHECK(line.size() <= 76);
    HERALD_FUZZ_CHECK(line.empty() || (line.back() != ' ' && line.back() != '\t'));
    bool soft = !line.empty() && line.back() == '=';
    if (soft) line.remove_suffix(1);
    for (size_t k = 0; k < line.size(); ++k) {
      auto c = static_cast<unsigned char>(line[k]);
      HERALD_FUZZ_CHECK(c == ' ' || c == '\t' || (c >= 33 && c <= 126));
      if (c != '=') {
        decoded += static_cast<char>(c);
        continue;
      }
      HERALD_FUZZ_CHECK(k + 2 < line.size());
      int hi = HexValue(line[k + 1]), lo = HexValue(line[k + 2]);
      HERALD_FUZZ_CHECK(hi >= 0 && lo >= 0);
      decoded += static_cast<char>(hi * 16 + lo);
      k += 2;
    }
    if (!soft && i + 1 < lines.size()) decoded += "\r\n";
  }
  // The input with every line break (CRLF, LF, lone CR) written CRLF.
  std::string expected;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' || text[i] == '\n') {
      if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      expected += "\r\n";
    } else {
      expected += text[i];
    }
  }
  HERALD_FUZZ_CHECK(decoded == expected);
}

void Percent(herald::fuzz::Input& in) {
  std::string_view keep = in.Field();
  std::string_view bytes = in.Rest();
  std::string encoded = PercentEncode(bytes, keep);
  if (keep.find('%') != std::string_view::npos) return;  // then decoding is the caller's riddle
  std::string decoded;
  for (size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      decoded += encoded[i];
      continue;
    }
    HERALD_FUZZ_CHECK(i + 2 < encoded.size());
    int hi = HexValue(encoded[i + 1]), lo = HexValue(encoded[i + 2]);
    HERALD_FUZZ_CHECK(hi >= 0 && lo >= 0);
    decoded += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  HERALD_FUZZ_CHECK(decoded == bytes);
}

void Render(herald::fuzz::Input& in) {
  herald::dispatch::EmailMessage m;
  m.message_id = "0f8e7d6c-5b4a-4938-8271-605f4e3d2c1b";
  m.report_token = "0f8e7d6c5b4a49388271605f4e3d2c1b.abcdefghijklmnop";
  m.from_address = "news@example.com";
  m.to_address = "someone@example.org";
  m.list_unsubscribe_url = "https://example.com/u/token";
  m.list_unsubscribe_mailto = "unsubscribe@example.com";
  m.from_name = in.Field();
  m.subject = in.Field();
  m.list_unsubscribe_subject = in.Field();
  m.text_body = in.Rest();
  m.date = herald::FromUnixMicros(1'700'000'000'000'000);
  std::string mail;
  try {
    mail = RenderMime(m, "example.com");
  } catch (const std::invalid_argument&) {
    return;  // refused naming the field, as documented
  }
  size_t end = mail.find("\r\n\r\n");
  HERALD_FUZZ_CHECK(end != std::string::npos);
  static const char* const kNames[] = {"Date:",
                                       "From:",
                                       "To:",
                                       "Subject:",
                                       "Message-ID:",
                                       "X-Herald-Message-Id:",
                                       "MIME-Version:",
                                       "List-Unsubscribe:",
                                       "List-Unsubscribe-Post:",
                                       "Content-Type:",
                                       "Content-Transfer-Encoding:"};
  int subjects = 0;
  for (std::string_view line : Split(std::string_view(mail).substr(0, end), "\r\n")) {
    HERALD_FUZZ_CHECK(line.size() <= 998);
    HERALD_FUZZ_CHECK(line.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos);
    if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) continue;
    bool known = false;
    for (const char* name : kNames) known = known || line.substr(0, strlen(name)) == name;
    HERALD_FUZZ_CHECK(known);  // no input starts a header of its own
    subjects += line.substr(0, 8) == "Subject:";
  }
  HERALD_FUZZ_CHECK(subjects == 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  herald::fuzz::Input in(data, size);
  switch (in.Byte() % 4) {
    case 0:
      HeaderWords(in);
      break;
    case 1:
      QuotedPrintable(in.Rest());
      break;
    case 2:
      Percent(in);
      break;
    default:
      Render(in);
      break;
  }
  return 0;
}
