#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/crypto/link_token.h"
#include "common/domain/topics.h"
#include "common/error.h"
#include "services/subscriptions/registry.h"
#include "services/web/http_server.h"
#include "services/web/recipient/csrf.h"
#include "services/web/recipient/language.h"

namespace herald::web {

struct RecipientPagesOptions {
  // Genuine tokens older than this still unsubscribe but get a reduced page (STANDARDS E3).
  std::chrono::seconds token_lifetime = std::chrono::hours(24 * 365);
  std::string policy_url;       // linked from the preference center when set
  std::string public_base_url;  // its origin is accepted in Origin headers of form POSTs
};

// The pages a recipient reaches from a message (docs/recipient-pages.md):
//   GET  /u/{token}  confirmation page; changes nothing (E1)
//   POST /u/{token}  List-Unsubscribe=One-Click: unsubscribes, 200, idempotent (E2);
//                    action=undo (+ csrf): subscribes that topic on that channel again
//   GET  /p/{token}  preference center (reduced page for old or address-only tokens)
//   POST /p/{token}  save toggles / unsubscribe from everything (csrf + same origin)
//   GET  /static/recipient.css
// Forged, truncated, tampered or retired-key tokens answer 404 and change nothing (E3).
// Every change goes through SubscriptionRegistry with Proof{source LINK, message id of the
// token, client IP, user agent}.
class RecipientPages {
 public:
  RecipientPages(const crypto::LinkSigner& links, const CsrfGuard& csrf,
                 subscriptions::SubscriptionRegistry& registry, const TopicCatalog& topics,
                 const Clock& clock, RecipientPagesOptions options);

  void AddRoutes(HttpServer& server);

  HttpResponse GetUnsubscribe(const HttpRequest& req);
  HttpResponse PostUnsubscribe(const HttpRequest& req);
  HttpResponse GetPreferences(const HttpRequest& req);
  HttpResponse PostPreferences(const HttpRequest& req);
  static HttpResponse Stylesheet();

 private:
  struct Link {
    std::string token;
    crypto::LinkClaims claims;
    bool expired = false;
    std::string topic;  // the topic to act on: the token's, or "" (all marketing) when the
                        // token's topic is empty, unknown now, or not marketing
  };
  std::optional<Link> Open(const HttpRequest& req) const;
  Language LanguageFor(const HttpRequest& req, const Link* link);
  v1::Proof ProofFor(const HttpRequest& req, const Link& link) const;
  std::string TopicLabel(Language lang, const std::string& topic) const;
  std::string Details(Language lang, const Link& link) const;
  HttpResponse Invalid(const HttpRequest& req);
  HttpResponse Refused(Language lang, const std::string& title, const std::string& text,
                       int status) const;
  HttpResponse ErrorPage(Language lang, const herald::Error& e) const;
  HttpResponse ReducedPreferences(Language lang, const Link& link, int status) const;
  HttpResponse PreferencesPage(Language lang, const Link& link,
                               const google::protobuf::RepeatedPtrField<v1::Preference>& prefs,
                               const std::string& status_text) const;
  HttpResponse Unsubscribed(Language lang, const Link& link) const;

  const crypto::LinkSigner& links_;
  const CsrfGuard& csrf_;
  subscriptions::SubscriptionRegistry& registry_;
  const TopicCatalog& topics_;
  const Clock& clock_;
  RecipientPagesOptions options_;
  std::string public_origin_;
};

// Whether a genuine token is past its lifetime (it then only unsubscribes). A token dated in
// the future (clock skew between signer and verifier) is not expired.
bool TokenExpired(Timestamp issued_at, Timestamp now, std::chrono::seconds lifetime);

// HTML-escapes text for element content and attribute values.
std::string EscapeHtml(std::string_view text);

// A recipient-facing page: the shared document shell around `main` (already HTML) with the
// security headers every recipient page carries (no script, never framed, no-store).
HttpResponse RecipientHtml(Language lang, int status, const std::string& title,
                           const std::string& main);

}  // namespace herald::web
