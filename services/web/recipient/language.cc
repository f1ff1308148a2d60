#include "services/web/recipient/language.h"

#include <cctype>
#include <optional>
#include <string>

namespace herald::web {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The primary subtag of a language tag, if it is one we speak.
std::optional<Language> Primary(std::string_view tag) {
  tag = Trim(tag);
  auto end = tag.find_first_of("-_");
  std::string_view primary = tag.substr(0, end);
  if (primary.size() != 2) return std::nullopt;
  std::string p;
  for (char c : primary)
    p.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (p == "az") return Language::kAz;
  if (p == "ru") return Language::kRu;
  if (p == "en") return Language::kEn;
  return std::nullopt;
}

// q-value of "q=0.8" (RFC 9110: 0 to 1, up to three decimals); nullopt when malformed.
std::optional<int> ParseQ(std::string_view param) {
  param = Trim(param);
  if (param.size() < 3 || (param[0] != 'q' && param[0] != 'Q') || param[1] != '=') {
    return std::nullopt;
  }
  std::string_view v = param.substr(2);
  if (v.empty() || v.size() > 5) return std::nullopt;
  if (v[0] != '0' && v[0] != '1') return std::nullopt;
  int thousandths = (v[0] - '0') * 1000;
  if (v.size() > 1) {
    if (v[1] != '.') return std::nullopt;
    int scale = 100;
    for (size_t i = 2; i < v.size(); ++i, scale /= 10) {
      if (!std::isdigit(static_cast<unsigned char>(v[i]))) return std::nullopt;
      thousandths += (v[i] - '0') * scale;
    }
  }
  if (thousandths > 1000) return std::nullopt;
  return thousandths;
}

}  // namespace

const char* LanguageCode(Language l) {
  switch (l) {
    case Language::kRu:
      return "ru";
    case Language::kEn:
      return "en";
    case Language::kAz:
      break;
  }
  return "az";
}

Language NegotiateLanguage(std::string_view subject_locale, std::string_view accept_language) {
  if (auto l = Primary(subject_locale)) return *l;
  std::optional<Language> best;
  int best_q = 0;
  std::string_view rest = accept_language.substr(0, 1024);  // a browser sends far less
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    auto semi = item.find(';');
    int q = 1000;
    if (semi != std::string_view::npos) {
      auto parsed = ParseQ(item.substr(semi + 1));
      if (!parsed) continue;
      q = *parsed;
    }
    auto l = Primary(item.substr(0, semi));
    if (!l || q == 0) continue;
    if (!best || q > best_q) {
      best = l;
      best_q = q;
    }
  }
  return best.value_or(Language::kAz);
}

}  // namespace herald::web
