#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/domain/topics.h"
#include "common/error.h"
#include "services/subscriptions/recipient_links.h"
#include "services/web/http_server.h"
#include "services/web/recipient/csrf.h"
#include "services/web/recipient/language.h"

namespace herald::web {

struct RecipientPagesOptions {
  std::string policy_url;       // linked from the preference center when set
  std::string public_base_url;  // its origin is accepted in Origin headers of form POSTs
};

// The pages a recipient reaches from a message (docs/recipient-pages.md):
//   GET  /u/{token}  confirmation page; changes nothing (E1)
//   POST /u/{token}  List-Unsubscribe=One-Click: unsubscribes, 200, idempotent (E2);
//                    action=undo (+ the undo ticket and session cookie of the page that
//                    has just unsubscribed, within 15 minutes: E8): subscribes that topic
//                    on that channel again
//   GET  /p/{token}  preference center (reduced page for old or address-only tokens)
//   POST /p/{token}  save toggles / unsubscribe from everything (csrf + same origin)
//   GET  /static/recipient.css
// Forged, truncated, tampered or retired-key tokens answer 404 and change nothing (E3).
// This class routes, checks the request (CSRF field, same origin, form syntax) and renders
// the templates; what a link may do and every change are RecipientLinks' (the domain).
class RecipientPages {
 public:
  RecipientPages(subscriptions::RecipientLinks& links, const CsrfGuard& csrf,
                 const TopicCatalog& topics, const Clock& clock, RecipientPagesOptions options);

  // The cookie holding the undo session of the page that has just unsubscribed.
  static constexpr char kUndoCookie[] = "herald_undo";

  void AddRoutes(HttpServer& server);

  HttpResponse GetUnsubscribe(const HttpRequest& req);
  HttpResponse PostUnsubscribe(const HttpRequest& req);
  HttpResponse GetPreferences(const HttpRequest& req);
  HttpResponse PostPreferences(const HttpRequest& req);
  static HttpResponse Stylesheet();

 private:
  using Link = subscriptions::OpenedLink;

  std::optional<Link> Open(const HttpRequest& req) const;
  Language LanguageFor(const HttpRequest& req, const Link* link);
  std::string TopicLabel(Language lang, const std::string& topic) const;
  HttpResponse Invalid(const HttpRequest& req);
  HttpResponse Refused(Language lang, const std::string& title, const std::string& text,
                       int status) const;
  HttpResponse ErrorPage(Language lang, const herald::Error& e) const;
  HttpResponse ReducedPreferences(Language lang, const Link& link, int status) const;
  HttpResponse PreferencesPage(Language lang, const Link& link,
                               const google::protobuf::RepeatedPtrField<v1::Preference>& prefs,
                               const std::string& status_text) const;
  // `turned_off`: the topics this request unsubscribed, which its page offers to undo (E8).
  HttpResponse Unsubscribed(Language lang, const Link& link,
                            const std::vector<std::string>& turned_off) const;
  HttpResponse Undo(const HttpRequest& req, Language lang, const Link& link);

  subscriptions::RecipientLinks& links_;
  const CsrfGuard& csrf_;
  const TopicCatalog& topics_;
  const Clock& clock_;
  RecipientPagesOptions options_;
  std::string public_origin_;
};

}  // namespace herald::web
