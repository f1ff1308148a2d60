#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto/key_ring.h"
#include "services/web/http_types.h"

namespace herald::web {

// The hidden `csrf` field of the recipient pages' forms: an HMAC bound to the link token,
// made with the link key ring under its own context label (so it is never a valid link
// MAC), base64url. Stateless: no cookie, no session. Any key still in the ring verifies
// it, so a rotation does not break a form that is open in a browser.
class CsrfGuard {
 public:
  explicit CsrfGuard(crypto::KeyRing ring) : ring_(std::move(ring)) {}
  std::string Token(std::string_view link_token) const;
  bool Verify(std::string_view link_token, std::string_view csrf) const;

  // The undo offered by the page that has just unsubscribed (E8): "<issued unix
  // microseconds>.<topics, comma-separated>.<HMAC>" bound to the link token, to `session` (a
  // random id the same response keeps in a cookie of that browser) and to the topics that
  // request turned off, under its own context label. It verifies for kUndoWindow after
  // `issued`, and only with that session, so an old or forwarded link, or the page's HTML
  // copied elsewhere, never re-subscribes.
  static constexpr int64_t kUndoWindowSeconds = 15 * 60;
  struct UndoGrant {
    int64_t issued_micros = 0;
    std::vector<std::string> topics;
  };
  std::string UndoTicket(std::string_view link_token, std::string_view session,
                         int64_t issued_micros, const std::vector<std::string>& topics) const;
  std::optional<UndoGrant> VerifyUndoTicket(std::string_view link_token, std::string_view session,
                                            std::string_view ticket, int64_t now_micros) const;

 private:
  crypto::KeyRing ring_;
};

// Whether a form POST comes from our own pages: refused when Sec-Fetch-Site says
// cross-site, or when an Origin is given that is neither `public_origin` (scheme://host
// [:port] of public_base_url) nor the origin of the Host the request was sent to. A request
// without either header (an old browser, a mail client) passes; the csrf field still has
// to verify.
// "Origin: null" passes only with Sec-Fetch-Site: same-origin (a browser's own post under
// Referrer-Policy: no-referrer).
bool SameOriginPost(const HttpRequest& req, std::string_view public_origin);

// "https://example.org:8443/x" -> "https://example.org:8443"; lower-cased scheme and host.
std::string OriginOf(std::string_view url);

}  // namespace herald::web
