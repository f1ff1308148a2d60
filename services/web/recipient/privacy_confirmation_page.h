#pragma once

#include <string>

#include "services/privacy/request_confirmation.h"
#include "services/web/http_server.h"
#include "services/web/recipient/csrf.h"

namespace herald::web {

// The page behind the link of a privacy-request confirmation e-mail (STANDARDS §2b):
//   GET  /c/{token}  says what confirming does, with a form; changes nothing (mail scanners
//                    and link previews fetch it)
//   POST /c/{token}  confirms (csrf field + same-origin, as the preference center's forms)
// A forged, tampered, expired or other-purpose token (an unsubscribe link's included) gets
// the localised 404 page and changes nothing. In the subject's language, then the
// browser's, then Azerbaijani.
class PrivacyConfirmationPage {
 public:
  PrivacyConfirmationPage(privacy::RequestConfirmation& confirmation, const CsrfGuard& csrf,
                          const std::string& public_base_url);

  void AddRoutes(HttpServer& server);

  HttpResponse Get(const HttpRequest& req);
  HttpResponse Post(const HttpRequest& req);

 private:
  privacy::RequestConfirmation& confirmation_;
  const CsrfGuard& csrf_;
  std::string public_origin_;
};

}  // namespace herald::web
