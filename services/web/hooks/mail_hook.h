#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "services/web/http_server.h"

namespace herald::web {

struct MailHookOptions {
  // Shared secret the MTA or heraldctl sends as "Authorization: Bearer <secret>".
  std::string secret;
  size_t max_bytes = 1024 * 1024;
};

// Takes a raw RFC 5322 message and returns its outcome name ("refusal_applied", "ignored",
// ...). Throws herald::Error (kInvalidArgument: a message that is not one) or anything else
// when the service cannot take it now.
using MailProcessor = std::function<std::string(std::string_view raw)>;

// The handler of POST /hooks/email/inbound, separate from the server so tests and the route
// share it. Answers: 200 {"outcome": ...}; 400 not a message; 401 no bearer secret; 403 a
// wrong one; 413 too large; 415 not message/rfc822 or application/octet-stream; 503 (with
// Retry-After) when it cannot be processed now, so the MTA retries. Never a 500.
HttpHandler MailHookHandler(MailHookOptions options, MailProcessor process);

// Registers the handler on POST /hooks/email/inbound.
void AddMailHook(HttpServer& server, MailHookOptions options, MailProcessor process);

}  // namespace herald::web
