#pragma once

#include <string>
#include <vector>

#include "common/config/section.h"

namespace herald::web {

// The `http.*` section (the HTTP connection front of every listener, the public listener of
// the web role) and `links.*` (the recipient pages /u/{token}, /p/{token}).
struct HttpSettings {
  std::string listen = "127.0.0.1:8080";
  int threads = 32;                 // each idle keep-alive connection holds one for up to 2 s
  int rate_limit_per_minute = 120;  // per client IP on /u/, /p/, /hooks/; 0: off
  int rate_limit_burst = 20;
  std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For we believe
  // The connection front: see docs/configuration.md.
  int request_timeout_ms = 10000;  // head and body of one request, whatever the pace
  int max_connections = 1024;
  int max_connections_per_client = 32;  // trusted proxies exempt
  int max_uri_bytes = 8192;             // request line; 414 over it
  int max_header_bytes = 16384;         // request head; 431 over it
  int max_headers = 100;                // header fields; 431 over it
  int max_body_bytes = 65536;           // routes without a limit of their own; 413
  // Secret-authenticated hooks (/hooks/email/, /hooks/sms/): their own per-client bucket.
  int hooks_rate_limit_per_minute = 6000;
  int hooks_rate_limit_burst = 200;
  int links_lifetime_days = 365;  // older genuine tokens only unsubscribe (reduced page)
  std::string links_policy_url;   // the operator's privacy policy, linked from /p/
};

const config::Section<HttpSettings>& HttpSection();

}  // namespace herald::web
