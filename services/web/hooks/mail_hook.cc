#include "services/web/hooks/mail_hook.h"

#include <strings.h>

#include <nlohmann/json.hpp>

#include "common/crypto/hash.h"
#include "common/error.h"
#include "common/log/log.h"

namespace herald::web {
namespace {

const std::string* Header(const HttpRequest& req, const char* name) {
  for (const auto& [k, v] : req.headers) {
    if (strcasecmp(k.c_str(), name) == 0) return &v;
  }
  return nullptr;
}

HttpResponse Problem(int status, const std::string& message) {
  return JsonResponse(status, {{"error", message}});
}

// "message/rfc822; charset=..." -> "message/rfc822"
std::string MediaType(const std::string& value) {
  std::string t = value.substr(0, value.find(';'));
  size_t b = t.find_first_not_of(" \t"), e = t.find_last_not_of(" \t");
  t = b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
  for (auto& c : t) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return t;
}

}  // namespace

HttpHandler MailHookHandler(MailHookOptions options, MailProcessor process) {
  std::string secret_hash = crypto::Sha256(options.secret);
  return [options = std::move(options), secret_hash,
          process = std::move(process)](const HttpRequest& req) -> HttpResponse {
    const std::string* auth = Header(req, "Authorization");
    if (!auth || strncasecmp(auth->c_str(), "Bearer ", 7) != 0 || auth->size() == 7) {
      HttpResponse r = Problem(401, "Authorization: a Bearer secret is required");
      r.headers["WWW-Authenticate"] = "Bearer realm=\"herald-inbound-mail\"";
      return r;
    }
    // Compare digests: constant time, and the lengths never leak.
    if (!crypto::ConstantTimeEquals(crypto::Sha256(auth->substr(7)), secret_hash)) {
      return Problem(403, "Authorization: the secret is not accepted");
    }
    if (req.body.size() > options.max_bytes) {
      return Problem(
          413, "body: " + std::to_string(req.body.size()) + " bytes, larger than the limit of " +
                   std::to_string(options.max_bytes) + " bytes (inbound_mail.max_bytes)");
    }
    const std::string* type = Header(req, "Content-Type");
    std::string media = type ? MediaType(*type) : std::string();
    if (media != "message/rfc822" && media != "application/octet-stream") {
      return Problem(415, "Content-Type: expected message/rfc822 or application/octet-stream");
    }
    if (req.body.empty()) return Problem(400, "body: empty; expected a raw RFC 5322 message");
    try {
      return JsonResponse(200, {{"outcome", process(req.body)}});
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kInvalidArgument) return Problem(400, e.what());
      log::Warn("inbound mail not processed", {{"error_class", static_cast<int>(e.code())}});
    } catch (const std::exception&) {
      // Database and pool errors: their text may quote values, so only the fact is logged.
      log::Warn("inbound mail not processed", {{"error_class", "exception"}});
    }
    HttpResponse r = Problem(503, "inbound mail cannot be processed now; retry later");
    r.headers["Retry-After"] = "60";
    return r;
  };
}

void AddMailHook(HttpServer& server, MailHookOptions options, MailProcessor process) {
  server.Post("/hooks/email/inbound", MailHookHandler(std::move(options), std::move(process)));
}

}  // namespace herald::web
