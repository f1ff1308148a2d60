#include "services/inbound/mail/subject_markers.h"

#include <glib.h>

#include <algorithm>
#include <array>
#include <memory>

namespace herald::inbound {
namespace {

struct GFreeDeleter {
  void operator()(gchar* p) const { g_free(p); }
};
using GString_ = std::unique_ptr<gchar, GFreeDeleter>;

// STANDARDS §2b, exact phrases in the three languages.
struct Marker {
  MarkerRequest request;
  const char* phrase;
};
constexpr std::array<Marker, 9> kMarkers = {{
    {MarkerRequest::kRevokeConsent, "Şəxsi məlumatların işlənməsinə razılığın ləğvi"},
    {MarkerRequest::kRevokeConsent, "Отзыв согласия на обработку персональных данных"},
    {MarkerRequest::kRevokeConsent, "Revocation of consent to the processing of personal data"},
    {MarkerRequest::kRefuseMarketing,
     "yeni məhsul və xidmətlər və xüsusi təkliflər barədə bildirişlərdən imtina"},
    {MarkerRequest::kRefuseMarketing,
     "Отказ от уведомлений о новых продуктах и услугах и специальных предложениях"},
    {MarkerRequest::kRefuseMarketing,
     "Refusal of notifications about new products and services and special offers"},
    {MarkerRequest::kRectify, "Şəxsi məlumatların yenilənməsi"},
    {MarkerRequest::kRectify, "Актуализация персональных данных"},
    {MarkerRequest::kRectify, "Updating personal data"},
}};

std::string ValidUtf8(std::string_view s) {
  GString_ valid(g_utf8_make_valid(s.data(), static_cast<gssize>(s.size())));
  return valid.get();
}

bool IsSpace(gunichar c) {
  return g_unichar_isspace(c) || c == 0x00A0 || c == 0x2007 || c == 0x202F || c == 0xFEFF;
}

// Collapses white space runs to one ASCII space and trims.
std::string CollapseSpace(const std::string& utf8) {
  std::string out;
  bool pending = false;
  for (const char* p = utf8.c_str(); *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (IsSpace(c) || c == '\r' || c == '\n' || c == '\t') {
      pending = true;
      continue;
    }
    if (pending && !out.empty()) out.push_back(' ');
    pending = false;
    char buf[6];
    out.append(buf, static_cast<size_t>(g_unichar_to_utf8(c, buf)));
  }
  return out;
}

// Length in bytes of a reply/forward prefix at the start of `s` (already collapsed), or 0.
// A prefix is one of ReplyPrefixes(), optionally followed by a counter "[2]" or "(2)", then
// a colon (ASCII or full width), then optional space.
size_t PrefixLength(const std::string& s) {
  // Fold only the head of the subject: prefixes are short.
  std::string folded = FoldForMatch(s.substr(0, 64));
  for (const auto& prefix : ReplyPrefixes()) {
    if (folded.rfind(prefix, 0) != 0) continue;
    // Map the folded prefix length back to the original: count characters.
    glong chars = g_utf8_strlen(prefix.c_str(), -1);
    const char* p = s.c_str();
    for (glong i = 0; i < chars && *p; ++i) p = g_utf8_next_char(p);
    // Folding can change lengths (ß -> ss); only accept when the original matches too.
    std::string head(s.c_str(), static_cast<size_t>(p - s.c_str()));
    if (FoldForMatch(head) != prefix) continue;
    size_t i = head.size();
    if (i < s.size() && (s[i] == '[' || s[i] == '(')) {
      char close = s[i] == '[' ? ']' : ')';
      size_t j = i + 1;
      while (j < s.size() && isdigit(static_cast<unsigned char>(s[j]))) ++j;
      if (j > i + 1 && j < s.size() && s[j] == close) i = j + 1;
    }
    while (i < s.size() && s[i] == ' ') ++i;
    if (s.compare(i, 1, ":") == 0) {
      i += 1;
    } else if (s.compare(i, 3, "\xEF\xBC\x9A") == 0) {  // U+FF1A FULLWIDTH COLON
      i += 3;
    } else {
      continue;
    }
    while (i < s.size() && s[i] == ' ') ++i;
    return i;
  }
  return 0;
}

}  // namespace

const char* RequestName(MarkerRequest r) {
  switch (r) {
    case MarkerRequest::kRefuseMarketing:
      return "refuse_marketing";
    case MarkerRequest::kRectify:
      return "rectify";
    case MarkerRequest::kRevokeConsent:
      return "revoke_consent";
  }
  return "?";
}

const std::vector<std::string>& ReplyPrefixes() {
  // Longest first where one is a prefix of another (fwd before fw, отв before от...).
  static const std::vector<std::string> kPrefixes = [] {
    std::vector<std::string> raw = {// English and common international forms
                                    "re", "fwd", "fw", "aw", "wg", "sv", "vs", "antw", "doorst",
                                    "tr", "rif", "enc", "res", "odp", "pd",
                                    // Russian
                                    "ответ", "отв", "пересл", "перес", "на", "фвд",
                                    // Azerbaijani and Turkish
                                    "cavab", "cvb", "yönləndir", "yönləndirilmiş", "ynt", "ilt",
                                    "yanıt", "yanit"};
    std::vector<std::string> folded;
    for (const auto& p : raw) folded.push_back(FoldForMatch(p));
    std::sort(folded.begin(), folded.end(),
              [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
    return folded;
  }();
  return kPrefixes;
}

std::string NormalizeSubject(std::string_view subject) {
  std::string s = CollapseSpace(ValidUtf8(subject));
  for (int guard = 0; guard < 64; ++guard) {
    size_t n = PrefixLength(s);
    if (n == 0) break;
    s = s.substr(n);
  }
  return s;
}

std::string FoldForMatch(std::string_view text) {
  std::string valid = ValidUtf8(text);
  GString_ nfkc(g_utf8_normalize(valid.c_str(), -1, G_NORMALIZE_NFKC));
  if (!nfkc) return std::string();
  // İ (U+0130) and ı (U+0131) become i before folding: the Turkic pairs İ/i and I/ı would
  // otherwise fold apart (İ folds to "i̇", ı stays ı), and a person may type either.
  std::string mapped;
  for (const char* p = nfkc.get(); *p; p = g_utf8_next_char(p)) {
    gunichar c = g_utf8_get_char(p);
    if (c == 0x0130 || c == 0x0131) c = 'i';
    if (c == 0x0307) continue;  // a combining dot above left over from a decomposed İ
    char buf[6];
    mapped.append(buf, static_cast<size_t>(g_unichar_to_utf8(c, buf)));
  }
  GString_ folded(g_utf8_casefold(mapped.c_str(), -1));
  return folded ? std::string(folded.get()) : std::string();
}

std::vector<MarkerRequest> FindMarkers(std::string_view subject) {
  std::string folded = FoldForMatch(NormalizeSubject(subject));
  std::vector<MarkerRequest> found;
  for (const auto& m : kMarkers) {
    if (folded.find(FoldForMatch(CollapseSpace(m.phrase))) == std::string::npos) continue;
    bool seen = false;
    for (auto r : found) seen = seen || r == m.request;
    if (!seen) found.push_back(m.request);
  }
  return found;
}

}  // namespace herald::inbound
