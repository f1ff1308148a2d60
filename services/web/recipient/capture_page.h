#pragma once

#include <string>

#include "services/capture/capture_service.h"
#include "services/web/http_server.h"
#include "services/web/recipient/csrf.h"

namespace herald::web {

// The pages of consent capture (docs/consent-capture.md):
//   GET  /f/{form}[/{az|ru|en}]  the hosted form: names, e-mail, the topics offered, and the
//                                two separate consent boxes with their document versions
//   POST /f/{form}               a submission, from the hosted form (csrf field + same
//                                origin) or from a page of an origin the form lists; answers
//                                the same page whatever the address (CAP-6), 400 in the form's
//                                language naming the field (CAP-7), or JSON when asked
//   GET  /fc/{token}             the confirmation link: a Confirm button; writes nothing
//   POST /fc/{token}             confirms (csrf field + same origin) (CAP-3)
//   POST /fcode                  an SMS request's code (fields token, code, csrf), from the
//                                answer page's code form; five wrong codes end it (CAP-8)
// A filled honeypot field (`website`, hidden from people) is answered as a success and
// records nothing.
class CapturePage {
 public:
  CapturePage(capture::CaptureService& capture, const CsrfGuard& csrf, const Clock& clock,
              const std::string& public_base_url);

  void AddRoutes(HttpServer& server);

  HttpResponse Form(const HttpRequest& req);
  HttpResponse Submit(const HttpRequest& req);
  HttpResponse Link(const HttpRequest& req);
  HttpResponse Confirm(const HttpRequest& req);
  HttpResponse Code(const HttpRequest& req);

 private:
  std::string FormCsrf(const std::string& form_id, int64_t hour) const;
  bool FormCsrfValid(const std::string& form_id, const std::string& csrf) const;

  capture::CaptureService& capture_;
  const CsrfGuard& csrf_;
  const Clock& clock_;
  std::string public_origin_;
};

}  // namespace herald::web
