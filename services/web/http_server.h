#pragma once

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "services/web/client_ip.h"
#include "services/web/http_types.h"
#include "services/web/rate_limiter.h"

namespace httplib {
class Server;
}

namespace herald::web {

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  int threads = 32;
  size_t max_body_bytes = 64 * 1024;
  int read_timeout_s = 5;
  int write_timeout_s = 5;
  int keep_alive_max_requests = 20;
  int keep_alive_timeout_s = 2;
  // Accepted connections waiting for a worker; when full, the accept loop waits (the
  // kernel's backlog holds the rest), so memory stays bounded under a flood.
  size_t max_queued_connections = 256;
  // Public paths (recipients' pages and providers' hooks): every request under these
  // prefixes is charged to its client IP before routing; over the limit it gets 429 with
  // Retry-After. rate_per_second 0 turns the limit off.
  std::vector<std::string> limited_prefixes = {"/u/", "/p/", "/hooks/"};
  double rate_per_second = 0;
  double rate_burst = 20;
  // Peers whose X-Forwarded-For names the client (CIDRs). Empty: the TCP peer is the client.
  std::vector<std::string> trusted_proxies;
  const Clock* clock = nullptr;  // for the rate limiter; nullptr: the system clock
};

// cpp-httplib behind the project's types: pool sized explicitly with a bounded queue,
// timeouts and body limit set, per-client rate limit on public prefixes before routing,
// exception and error handlers always installed (never a stack trace, never a crash, never
// a 500: an exception answers 503 with a generic page).
// Throws std::invalid_argument for a malformed trusted proxy.
class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();

  // Routes: `pattern` is a regex over the path; captures become path_params.
  void Get(const std::string& pattern, HttpHandler handler);
  void Post(const std::string& pattern, HttpHandler handler);

  // Binds and starts listening on a thread; returns once it accepts. Throws on bind failure.
  void Start();
  void Stop();
  int port() const { return port_; }

 private:
  HttpServerOptions options_;
  SystemClock system_clock_;
  TrustedProxies trusted_;
  std::unique_ptr<RateLimiter> limiter_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace herald::web
