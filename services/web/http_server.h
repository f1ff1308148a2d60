#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "services/web/client_ip.h"
#include "services/web/connection_front.h"
#include "services/web/connection_io.h"
#include "services/web/http_types.h"
#include "services/web/rate_limiter.h"

namespace herald::web {

// The limits of the routes under one path prefix (longest prefix wins). A route class has
// its own body limit and, when rate_per_second > 0, its own per-client bucket, so a hook
// authenticated by a secret neither shares the public pages' bucket nor raises their limit.
struct RouteLimits {
  std::string prefix;
  size_t max_body_bytes = 64 * 1024;
  double rate_per_second = 0;  // 0: this class is not rate-limited
  double rate_burst = 20;
};

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  int threads = 32;
  // Body limit of every path that no entry of `routes` covers.
  size_t max_body_bytes = 64 * 1024;
  int write_timeout_s = 5;  // a whole response, from its first byte to its last
  int keep_alive_max_requests = 20;
  int keep_alive_timeout_s = 2;  // idle time allowed between two requests
  // Public paths (recipients' pages and providers' hooks): every request under these
  // prefixes is charged to its client before routing; over the limit it gets 429 with
  // Retry-After. rate_per_second 0 turns the limit off.
  std::vector<std::string> limited_prefixes = {"/u/", "/p/", "/hooks/"};
  double rate_per_second = 0;
  double rate_burst = 20;
  // Peers whose X-Forwarded-For names the client (CIDRs). Empty: the TCP peer is the client.
  // They are also exempt from max_connections_per_client.
  std::vector<std::string> trusted_proxies;
  const Clock* clock = nullptr;  // for the rate limiters; nullptr: the system clock

  // From a request's first byte (a new connection: from the accept) until its head and
  // body are in; over it, 408 and close. Slow clients cost memory, never a worker.
  int request_timeout_ms = 10000;
  size_t max_connections = 1024;
  size_t max_connections_per_client = 32;
  size_t max_request_line_bytes = 8192;  // 414 over it
  size_t max_header_bytes = 16 * 1024;   // request line and headers; 431 over it
  size_t max_headers = 100;              // 431 over it
  // Body limit and limiter per path prefix (see RouteLimits).
  std::vector<RouteLimits> routes;
  // Paths answered by their own worker, so probes answer while every worker is busy.
  std::vector<std::string> probe_paths = {"/healthz", "/readyz"};
  // The byte I/O of each accepted connection; empty: plain TCP (a TLS listener sets it).
  ConnectionIoFactory io;
};

// cpp-httplib behind the project's types. An epoll connection front (connection_front.h)
// owns accept and reads every request under a total deadline and the head and body limits;
// only complete requests reach the pool, where httplib parses and routes them from memory.
// Per-client rate limits before routing; exception and error handlers always installed
// (never a stack trace, never a crash, never a 500: an exception answers 503 with a
// generic page). Throws std::invalid_argument for a malformed trusted proxy.
class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions options);
  ~HttpServer();

  // Routes: `pattern` is a regex over the path; captures become path_params.
  void Get(const std::string& pattern, HttpHandler handler);
  void Post(const std::string& pattern, HttpHandler handler);
  // Any of GET, POST, PUT, PATCH, DELETE, OPTIONS (e.g. to answer 405 on a POST-only path);
  // throws std::invalid_argument for another method.
  void Handle(std::string_view method, const std::string& pattern, HttpHandler handler);

  // Binds and starts accepting on a thread; returns once it accepts. Throws on bind failure.
  void Start();
  void Stop();
  int port() const { return port_; }
  // The body limit of a path (what a 413 names).
  size_t BodyLimit(std::string_view path) const;
  ConnectionFront::Stats connection_stats() const;

 private:
  class Processor;
  class WorkPool;
  const RouteLimits* RouteFor(std::string_view path) const;
  void Process(const FrontRequest& request);

  HttpServerOptions options_;
  SystemClock system_clock_;
  TrustedProxies trusted_;
  std::unique_ptr<RateLimiter> limiter_;
  std::vector<std::unique_ptr<RateLimiter>> route_limiters_;  // parallel to options_.routes
  std::unique_ptr<Processor> server_;
  std::unique_ptr<ConnectionFront> front_;
  std::unique_ptr<WorkPool> pool_;
  std::unique_ptr<WorkPool> probe_pool_;
  int port_ = 0;
};

}  // namespace herald::web
