#include "tests/services/dispatch/adapters/smtp/mime_test_util.h"

#include <gtest/gtest.h>

namespace herald::dispatch::smtp_test {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

std::vector<std::string> CrlfLines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find("\r\n", start);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(start, end - start));
    start = end + 2;
  }
  return lines;
}

std::vector<std::pair<std::string, std::string>> Headers(std::string_view message) {
  std::vector<std::pair<std::string, std::string>> headers;
  for (const std::string& line : CrlfLines(message)) {
    if (line.empty()) break;
    if (line[0] == ' ' || line[0] == '\t') {
      if (!headers.empty()) headers.back().second += line;  // unfold: drop only the CRLF
      continue;
    }
    std::size_t colon = line.find(':');
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    headers.emplace_back(line.substr(0, colon), value);
  }
  return headers;
}

std::string HeaderValue(std::string_view message, std::string_view name) {
  std::string found;
  int count = 0;
  for (const auto& [n, v] : Headers(message)) {
    if (n == name) {
      found = v;
      ++count;
    }
  }
  EXPECT_EQ(count, 1) << "header " << name;
  return found;
}

std::string Body(std::string_view message) {
  std::size_t at = message.find("\r\n\r\n");
  return at == std::string_view::npos ? "" : std::string(message.substr(at + 4));
}

std::string Base64Decode(std::string_view b64) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    if (c == '=') break;
    std::size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) {
      ADD_FAILURE() << "not base64: " << b64;
      return out;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

std::vector<std::string> EncodedWords(std::string_view value) {
  std::vector<std::string> words;
  std::size_t pos = 0;
  while ((pos = value.find("=?", pos)) != std::string_view::npos) {
    // "=?charset?B?text?=": the end is the "?=" after the third '?'.
    std::size_t q2 = value.find('?', pos + 2);
    std::size_t q3 = q2 == std::string_view::npos ? q2 : value.find('?', q2 + 1);
    std::size_t end = q3 == std::string_view::npos ? q3 : value.find("?=", q3 + 1);
    if (end == std::string_view::npos) break;
    words.emplace_back(value.substr(pos, end + 2 - pos));
    pos = end + 2;
  }
  return words;
}

std::string DecodeEncodedWords(std::string_view value) {
  std::string out;
  std::size_t pos = 0;
  bool after_word = false;
  while (pos < value.size()) {
    if (value.compare(pos, 10, "=?UTF-8?B?") == 0) {
      std::size_t end = value.find("?=", pos + 10);
      if (end == std::string_view::npos) break;
      out += Base64Decode(value.substr(pos + 10, end - pos - 10));
      pos = end + 2;
      after_word = true;
      continue;
    }
    std::size_t next = value.find("=?", pos + 1);
    std::string_view chunk = value.substr(pos, next == std::string_view::npos ? next : next - pos);
    bool blank = chunk.find_first_not_of(" \t\r\n") == std::string_view::npos;
    // RFC 2047 6.2: white space between two adjacent encoded-words is not displayed.
    if (!(after_word && blank && next != std::string_view::npos)) out += chunk;
    after_word = false;
    pos += chunk.size();
  }
  return out;
}

std::string QpDecode(std::string_view qp) {
  std::string out;
  for (std::size_t i = 0; i < qp.size(); ++i) {
    if (qp.compare(i, 3, "=\r\n") == 0) {
      i += 2;  // soft line break
    } else if (qp.compare(i, 2, "\r\n") == 0) {
      out += '\n';
      ++i;
    } else if (qp[i] == '=' && i + 2 < qp.size() && HexValue(qp[i + 1]) >= 0 &&
               HexValue(qp[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(qp[i + 1]) * 16 + HexValue(qp[i + 2]));
      i += 2;
    } else {
      out += qp[i];
    }
  }
  return out;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool IsValidUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80           ? 1
                    : (c >> 5) == 0x6  ? 2
                    : (c >> 4) == 0xE  ? 3
                    : (c >> 3) == 0x1E ? 4
                                       : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

}  // namespace herald::dispatch::smtp_test
