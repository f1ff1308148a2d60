#pragma once

#include <string>
#include <string_view>

namespace herald::web {

// The languages the recipient pages speak. Azerbaijani is the default.
enum class Language { kAz, kRu, kEn };

const char* LanguageCode(Language l);  // "az", "ru", "en": the page's <html lang>

// The subject's locale first (a BCP 47 tag such as "ru-RU"), then the browser's
// Accept-Language (highest q wins, ties by order, q=0 never), then Azerbaijani.
Language NegotiateLanguage(std::string_view subject_locale, std::string_view accept_language);

}  // namespace herald::web
