#include "services/web/http_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <vector>

#include "common/log/log.h"

namespace herald::web {
namespace {

// Headers every response carries, whatever answered it.
void SetOnce(httplib::Response& res, const char* name, const char* value) {
  if (!res.has_header(name)) res.set_header(name, value);
}

void BaseHeaders(httplib::Response& res) {
  SetOnce(res, "X-Content-Type-Options", "nosniff");
  SetOnce(res, "Referrer-Policy", "no-referrer");
}

std::string ClientOf(const httplib::Request& req, const TrustedProxies& trusted) {
  return ClientIp(req.remote_addr, req.get_header_value("X-Forwarded-For"), trusted);
}

HttpRequest Translate(const httplib::Request& req, const TrustedProxies& trusted) {
  HttpRequest out;
  out.method = req.method;
  out.path = req.path;
  for (const auto& [k, v] : req.headers) out.headers.emplace(k, v);
  out.body = req.body;
  out.remote_addr = req.remote_addr;
  out.client_ip = ClientOf(req, trusted);
  for (size_t i = 1; i < req.matches.size(); ++i) out.path_params.push_back(req.matches[i]);
  if (req.is_multipart_form_data()) {
    for (const auto& [name, part] : req.files) out.form.emplace(name, part.content);
  } else {
    std::string type = req.get_header_value("Content-Type");
    if (type.rfind("application/x-www-form-urlencoded", 0) == 0) {
      out.form = ParseUrlEncoded(req.body);
    }
  }
  return out;
}

httplib::Server::Handler Wrap(HttpHandler handler, const TrustedProxies* trusted) {
  return
      [handler = std::move(handler), trusted](const httplib::Request& req, httplib::Response& res) {
        HttpResponse r = handler(Translate(req, *trusted));
        res.status = r.status;
        for (const auto& [k, v] : r.headers) res.set_header(k, v);
        BaseHeaders(res);  // after the handler's own, so none is sent twice
        res.set_content(r.body, r.content_type);
      };
}

// httplib 0.11's ThreadPool queues without bound. This one holds at most `max_queued`
// accepted connections; enqueue (called by the accept loop) waits for room, so a flood
// backs up into the kernel's listen backlog instead of memory.
class BoundedThreadPool final : public httplib::TaskQueue {
 public:
  BoundedThreadPool(size_t threads, size_t max_queued) : max_queued_(max_queued) {
    for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~BoundedThreadPool() override = default;

  void enqueue(std::function<void()> fn) override {
    std::unique_lock lock(mu_);
    room_.wait(lock, [this] { return jobs_.size() < max_queued_ || shutdown_; });
    jobs_.push_back(std::move(fn));
    ready_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    ready_.notify_all();
    room_.notify_all();
    for (auto& t : workers_) t.join();
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> fn;
      {
        std::unique_lock lock(mu_);
        ready_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;  // shut down and drained
        fn = std::move(jobs_.front());
        jobs_.pop_front();
      }
      room_.notify_one();
      fn();
    }
  }

  const size_t max_queued_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::condition_variable room_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  bool shutdown_ = false;
};

constexpr char kErrorPage[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Temporarily unavailable</title></head><body><main><h1>Temporarily unavailable"
    "</h1><p>Please try again in a minute.</p></main></body></html>\n";

}  // namespace

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)),
      trusted_(TrustedProxies::Parse(options_.trusted_proxies)),
      limiter_(std::make_unique<RateLimiter>(
          options_.clock ? *options_.clock : static_cast<const Clock&>(system_clock_),
          options_.rate_per_second, options_.rate_burst)),
      server_(std::make_unique<httplib::Server>()) {
  size_t threads = static_cast<size_t>(std::max(1, options_.threads));
  size_t queued = std::max<size_t>(1, options_.max_queued_connections);
  server_->new_task_queue = [threads, queued] { return new BoundedThreadPool(threads, queued); };
  server_->set_payload_max_length(options_.max_body_bytes);
  server_->set_read_timeout(options_.read_timeout_s, 0);
  server_->set_write_timeout(options_.write_timeout_s, 0);
  server_->set_keep_alive_max_count(options_.keep_alive_max_requests);
  server_->set_keep_alive_timeout(options_.keep_alive_timeout_s);
  // TCP_NODELAY on the listening socket is inherited by every accepted one (Linux). Without
  // it a kept-alive client waits for a delayed ACK (~40 ms) before each small response body
  // leaves, since httplib writes headers and body separately.
  server_->set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
  });
  // A handler that throws (the database went away, a bug) answers a generic page; the log
  // line names only the path prefix, never a token or an address.
  server_->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        log::Error("http handler failed", {{"path_prefix", req.path.substr(0, 3)}});
        res.status = 503;
        res.headers.clear();
        BaseHeaders(res);
        res.set_header("Retry-After", "30");
        res.set_header("Cache-Control", "no-store");
        res.set_content(kErrorPage, "text/html; charset=utf-8");
      });
  server_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    BaseHeaders(res);
    SetOnce(res, "Cache-Control", "no-store");
    if (res.body.empty()) {
      res.set_content(std::to_string(res.status) + "\n", "text/plain; charset=utf-8");
    }
  });
  server_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!limiter_->enabled()) return httplib::Server::HandlerResponse::Unhandled;
    bool limited = false;
    for (const auto& prefix : options_.limited_prefixes) {
      if (req.path.rfind(prefix, 0) == 0) limited = true;
    }
    if (!limited) return httplib::Server::HandlerResponse::Unhandled;
    int wait = limiter_->Take(ClientOf(req, trusted_));
    if (wait == 0) return httplib::Server::HandlerResponse::Unhandled;
    res.status = 429;
    BaseHeaders(res);
    res.set_header("Retry-After", std::to_string(wait));
    res.set_header("Cache-Control", "no-store");
    res.set_content("too many requests; retry later\n", "text/plain; charset=utf-8");
    return httplib::Server::HandlerResponse::Handled;
  });
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& pattern, HttpHandler handler) {
  server_->Get(pattern, Wrap(std::move(handler), &trusted_));
}

void HttpServer::Post(const std::string& pattern, HttpHandler handler) {
  server_->Post(pattern, Wrap(std::move(handler), &trusted_));
}

void HttpServer::Start() {
  auto colon = options_.listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("http.listen: expected host:port");
  std::string host = options_.listen.substr(0, colon);
  int port = std::stoi(options_.listen.substr(colon + 1));
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
    if (port_ < 0) throw std::runtime_error("http.listen: cannot bind");
  } else {
    if (!server_->bind_to_port(host, port)) throw std::runtime_error("http.listen: cannot bind");
    port_ = port;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  // httplib has no wait_until_ready: poll is_running() after the bind.
  for (int i = 0; i < 500 && !server_->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace herald::web
