#include "services/dispatch/content/recipient_footer.h"

#include <utility>
#include <vector>

#include "common/translations.h"

namespace herald::dispatch {
namespace {

// Indexed az, ru, en. The markers are the exact phrases of STANDARDS §2b.
constexpr FooterText kTexts[] = {
    {"Bu məktublardan abunəlikdən çıxmaq", "Abunəlik seçimləri",
     "yeni məhsul və xidmətlər və xüsusi təkliflər barədə bildirişlərdən imtina"},
    {"Отписаться от этих писем", "Настроить подписки",
     "Отказ от уведомлений о новых продуктах и услугах и специальных предложениях"},
    {"Unsubscribe from these e-mails", "Manage your subscriptions",
     "Refusal of notifications about new products and services and special offers"},
};

}  // namespace

void RequireCompleteFooterTexts() { RequireCompleteTranslations(kTexts, "footer texts"); }

const FooterText& FooterTextFor(std::string_view locale) {
  std::string_view language = locale.substr(0, 2);
  if (language == "ru") return kTexts[1];
  if (language == "en") return kTexts[2];
  return kTexts[0];
}

void AddRecipientFooter(std::string_view locale, const RecipientLinks& links, std::string& text,
                        std::string& html) {
  const FooterText& t = FooterTextFor(locale);
  std::vector<std::pair<const char*, const std::string*>> wanted = {
      {t.unsubscribe, &links.unsubscribe_url}, {t.preferences, &links.preferences_url}};
  std::string text_footer;
  for (const auto& [label, url] : wanted) {
    if (url->empty() || text.find(*url) != std::string::npos) continue;
    text_footer += std::string(label) + ": " + *url + "\n";
  }
  if (!text_footer.empty()) text += "\n\n-- \n" + text_footer;
  if (html.empty()) return;
  std::string html_footer;
  for (const auto& [label, url] : wanted) {
    if (url->empty() || html.find(*url) != std::string::npos) continue;
    // The URLs are base64url tokens under our own base: nothing in them needs escaping.
    if (!html_footer.empty()) html_footer += " &middot; ";
    html_footer += "<a href=\"" + *url + "\">" + label + "</a>";
  }
  if (html_footer.empty()) return;
  html_footer = "<p style=\"font-size:small\">" + html_footer + "</p>";
  size_t body_end = html.rfind("</body>");
  if (body_end == std::string::npos) {
    html += html_footer;
  } else {
    html.insert(body_end, html_footer);
  }
}

}  // namespace herald::dispatch
