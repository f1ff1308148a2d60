#include "services/inbound/sms/keywords.h"

#include <stdexcept>

namespace herald::inbound::sms {
namespace {

// Decodes one UTF-8 code point at text[*i]; false on malformed input.
bool NextCodePoint(std::string_view text, size_t* i, char32_t* cp) {
  auto b = static_cast<unsigned char>(text[*i]);
  int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || *i + len > text.size()) return false;
  char32_t c = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
  for (int k = 1; k < len; ++k) {
    auto cont = static_cast<unsigned char>(text[*i + k]);
    if ((cont & 0xC0) != 0x80) return false;
    c = (c << 6) | (cont & 0x3F);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMin[len] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
  *i += len;
  *cp = c;
  return true;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// Simple lower-casing for the scripts keywords are written in.
char32_t Lower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 0x20;
  // Azerbaijani I/ı and İ/i: people type either on any keyboard, so all four compare equal.
  if (c == 0x130 || c == 0x131) return 'i';
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;  // Latin-1
  if (c >= 0x100 && c <= 0x137 && c % 2 == 0) return c + 1;  // Latin Ext-A (Ğ, …)
  if (c >= 0x14A && c <= 0x177 && c % 2 == 0) return c + 1;  // Ş, …
  if (c == 0x18F) return 0x259;                              // Ə -> ə
  if (c >= 0x410 && c <= 0x42F) return c + 0x20;             // Cyrillic А-Я
  if (c >= 0x400 && c <= 0x40F) return c + 0x50;             // Ё, Ђ, …
  return c;
}

bool IsSpace(char32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0xA0 ||
         c == 0x2007 || c == 0x202F || c == 0x3000 || c == 0xFEFF;
}

}  // namespace

const char* KeywordClassName(KeywordClass k) {
  switch (k) {
    case KeywordClass::kStop:
      return "stop";
    case KeywordClass::kStart:
      return "start";
    case KeywordClass::kHelp:
      return "help";
    case KeywordClass::kNone:
      break;
  }
  return "none";
}

std::vector<std::string> DefaultStopKeywords() {
  return {"STOP",   "STOPALL", "UNSUBSCRIBE", "CANCEL", "END",        "QUIT", "REVOKE",
          "OPTOUT", "OPT-OUT", "REMOVE",      "СТОП",   "ОТПИСАТЬСЯ", "DAYAN"};
}
std::vector<std::string> DefaultStartKeywords() { return {"START", "YES", "UNSTOP"}; }
std::vector<std::string> DefaultHelpKeywords() { return {"HELP", "INFO"}; }

bool FoldKeyword(std::string_view text, std::string* out) {
  std::vector<char32_t> cps;
  for (size_t i = 0; i < text.size();) {
    char32_t c;
    if (!NextCodePoint(text, &i, &c)) return false;
    cps.push_back(c);
  }
  size_t b = 0, e = cps.size();
  while (b < e && IsSpace(cps[b])) ++b;
  while (e > b && IsSpace(cps[e - 1])) --e;
  out->clear();
  for (size_t k = b; k < e; ++k) AppendUtf8(Lower(cps[k]), out);
  return true;
}

KeywordMatcher::KeywordMatcher(const std::vector<std::string>& stop,
                               const std::vector<std::string>& start,
                               const std::vector<std::string>& help) {
  auto add = [this](const std::vector<std::string>& list, KeywordClass k) {
    for (const auto& word : list) {
      std::string folded;
      if (!FoldKeyword(word, &folded)) throw std::invalid_argument("keyword: not UTF-8");
      if (folded.empty()) throw std::invalid_argument("keyword: empty");
      for (const auto& [w, other] : folded_) {
        if (w == folded && other != k) {
          throw std::invalid_argument("keyword " + word + ": in two lists");
        }
      }
      folded_.emplace_back(folded, k);
    }
  };
  add(stop, KeywordClass::kStop);
  add(start, KeywordClass::kStart);
  add(help, KeywordClass::kHelp);
}

KeywordClass KeywordMatcher::Classify(std::string_view text) const {
  std::string folded;
  if (!FoldKeyword(text, &folded) || folded.empty()) return KeywordClass::kNone;
  for (const auto& [w, k] : folded_) {
    if (w == folded) return k;
  }
  return KeywordClass::kNone;
}

}  // namespace herald::inbound::sms
