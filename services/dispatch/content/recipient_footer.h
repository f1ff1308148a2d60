#pragma once

#include <string>
#include <string_view>

namespace herald::dispatch {

// What the recipient of a marketing e-mail reads beside its links, in their language: the
// footer's two link labels and the refusal marker that is the subject of the mailto
// List-Unsubscribe fallback (seed §4.2; inbound mail recognises the marker in all three
// languages, so the reply works whichever one the recipient's mail client sends back).
struct FooterText {
  const char* unsubscribe;
  const char* preferences;
  const char* refusal_marker;
};

// Throws std::logic_error naming the language and field when a text is missing, so that
// the worker's construction fails at start-up rather than a message at send time.
void RequireCompleteFooterTexts();

// The texts for a subject's locale ("ru", "en-GB", "az" ...): its first two letters choose
// the language; anything else gets Azerbaijani, the operator's language.
const FooterText& FooterTextFor(std::string_view locale);

// The links every marketing message carries: one-click unsubscribe (/u/) and the preference
// center (/p/).
struct RecipientLinks {
  std::string unsubscribe_url;
  std::string preferences_url;
};

// Adds a footer with whichever of the two links the template did not place itself, to the
// text body and, when there is one, the HTML body (before </body>). A body that already
// carries both links is left alone.
void AddRecipientFooter(std::string_view locale, const RecipientLinks& links, std::string& text,
                        std::string& html);

}  // namespace herald::dispatch
