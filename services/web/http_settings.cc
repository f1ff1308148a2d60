#include "services/web/http_settings.h"

namespace herald::web {

const config::Section<HttpSettings>& HttpSection() {
  using S = HttpSettings;
  static const config::Section<S> kSection{{
      // Public HTTP listener (web role).
      config::Text("http.listen", &S::listen,
                   "Public HTTP listen address (web role): recipient pages /u/, /p/ and SMS "
                   "hooks /hooks/sms/.",
                   config::ListenAddress),
      config::Int("http.threads", &S::threads, 1, 256, "HTTP worker threads."),
      config::Int("http.rate_limit_per_minute", &S::rate_limit_per_minute, 0, 600000,
                  "Requests per minute per client IP on public paths (/u/, /p/, /hooks/); 0: "
                  "no limit."),
      config::Int("http.rate_limit_burst", &S::rate_limit_burst, 1, 100000,
                  "Requests a client IP may make at once before the per-minute rate applies."),
      config::List("http.trusted_proxies", &S::trusted_proxies,
                   "Reverse proxies (IPs or CIDRs) whose X-Forwarded-For names the client; "
                   "from any other peer the header is ignored."),
      config::Int("http.request_timeout_ms", &S::request_timeout_ms, 100, 600000,
                  "Time a client has to send a whole request, head and body, from its first "
                  "byte (a new connection: from the accept); over it, 408 and close."),
      config::Int("http.max_connections", &S::max_connections, 16, 100000,
                  "Open connections per HTTP listener; at the cap a new one replaces the "
                  "oldest idle or slow one, or is refused."),
      config::Int("http.max_connections_per_client", &S::max_connections_per_client, 1, 100000,
                  "Open connections per client address (IPv6: per /64); http.trusted_proxies "
                  "are exempt."),
      config::Int("http.max_uri_bytes", &S::max_uri_bytes, 256, 8192,
                  "Longest request line (method, URI, version); 414 beyond."),
      config::Int("http.max_header_bytes", &S::max_header_bytes, 1024, 1048576,
                  "Largest request head (request line and headers); 431 and close beyond."),
      config::Int("http.max_headers", &S::max_headers, 8, 10000,
                  "Most header fields in a request; 431 beyond."),
      config::Int("http.max_body_bytes", &S::max_body_bytes, 1024, 16777216,
                  "Body limit of the public pages and SMS hooks (the mail hook has "
                  "inbound_mail.max_bytes); 413 naming the limit beyond."),
      config::Int("http.hooks_rate_limit_per_minute", &S::hooks_rate_limit_per_minute, 0, 600000,
                  "Requests per minute per client on the secret-authenticated hooks "
                  "(/hooks/email/, /hooks/sms/), a bucket apart from the public pages'; 0: no "
                  "limit."),
      config::Int("http.hooks_rate_limit_burst", &S::hooks_rate_limit_burst, 1, 100000,
                  "Requests a client may make at once on those hooks."),
      // Recipient pages (web role).
      config::Int("links.lifetime_days", &S::links_lifetime_days, 1, 36500,
                  "Days a link opens the full preference center; older genuine links still "
                  "unsubscribe but get a reduced page."),
      config::Text("links.policy_url", &S::links_policy_url,
                   "The operator's privacy policy (http or https URL), linked from the "
                   "preference center; empty: no link.",
                   config::HttpUrlOrEmpty),
  }};
  return kSection;
}

}  // namespace herald::web
