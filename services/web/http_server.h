#pragma once

#include <memory>
#include <string>
#include <thread>

#include "services/web/http_types.h"

namespace httplib {
class Server;
}

namespace herald::web {

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8080";  // host:port; port 0 picks a free one
  int threads = 8;
  size_t max_body_bytes = 64 * 1024;
  int read_timeout_s = 5;
  int write_timeout_s = 5;
  int keep_alive_max_requests = 20;
  int keep_alive_timeout_s = 2;
};

// cpp-httplib behind the project's types: pool sized explicitly, timeouts and body limit
// set, exception and error handlers always installed (never a stack trace, never a crash).
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
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace herald::web
