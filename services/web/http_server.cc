#include "services/web/http_server.h"

#include <httplib.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "common/log/log.h"
#include "common/strict_int.h"

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

// One complete request in memory, as httplib's parser reads it; the answer is collected
// for the connection front to send.
class BufferedStream final : public httplib::Stream {
 public:
  BufferedStream(const FrontRequest& request, std::string* out) : r_(request), out_(out) {}

  bool is_readable() const override { return pos_ < r_.bytes.size(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override {
    size_t n = std::min(size, r_.bytes.size() - pos_);
    std::memcpy(ptr, r_.bytes.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }
  ssize_t write(const char* ptr, size_t size) override {
    // The whole body is here before httplib runs, and the front sent "100 Continue" itself
    // if it was due: httplib's own would be a stray interim answer.
    static constexpr char kContinue[] = "HTTP/1.1 100 ";
    if (out_->empty() && size >= sizeof kContinue - 1 &&
        std::memcmp(ptr, kContinue, sizeof kContinue - 1) == 0) {
      return static_cast<ssize_t>(size);
    }
    out_->append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = r_.peer_ip;
    port = r_.peer_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = 0;
  }
  // No socket behind it; httplib 0.11 refuses descriptors >= FD_SETSIZE, never -1.
  socket_t socket() const override { return -1; }

 private:
  const FrontRequest& r_;
  std::string* out_;
  size_t pos_ = 0;
};

int Listen(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found) != 0) {
    throw std::runtime_error("http.listen: cannot resolve the host");
  }
  int fd = -1;
  for (addrinfo* a = found; a && fd < 0; a = a->ai_next) {
    fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    int yes = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    // Inherited by every accepted socket (Linux): a response never waits for a delayed ACK.
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) throw std::runtime_error("http.listen: cannot bind");
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (addr.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port);
  }
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

constexpr char kErrorPage[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Temporarily unavailable</title></head><body><main><h1>Temporarily unavailable"
    "</h1><p>Please try again in a minute.</p></main></body></html>\n";

}  // namespace

// httplib's parser and router, fed complete requests from memory.
class HttpServer::Processor final : public httplib::Server {
 public:
  bool Process(httplib::Stream& stream, bool close_connection, bool& connection_closed) {
    return process_request(stream, close_connection, connection_closed, nullptr);
  }
};

// Workers over an unbounded queue: the front puts at most one request per connection in
// it, so max_connections bounds it, and the front's thread never waits.
class HttpServer::WorkPool {
 public:
  explicit WorkPool(size_t threads) {
    for (size_t i = 0; i < threads; ++i) workers_.emplace_back([this] { Work(); });
  }
  ~WorkPool() { Shutdown(); }

  void Push(std::function<void()> job) {
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    ready_.notify_one();
  }

  void Shutdown() {
    {
      std::lock_guard lock(mu_);
      shutdown_ = true;
    }
    ready_.notify_all();
    for (auto& t : workers_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  void Work() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        ready_.wait(lock, [this] { return !jobs_.empty() || shutdown_; });
        if (jobs_.empty()) return;  // shut down and drained
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> workers_;
  bool shutdown_ = false;
};

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)),
      trusted_(TrustedProxies::Parse(options_.trusted_proxies)),
      limiter_(std::make_unique<RateLimiter>(
          options_.clock ? *options_.clock : static_cast<const Clock&>(system_clock_),
          options_.rate_per_second, options_.rate_burst)),
      server_(std::make_unique<Processor>()) {
  size_t largest_body = options_.max_body_bytes;
  for (const auto& r : options_.routes) {
    largest_body = std::max(largest_body, r.max_body_bytes);
    route_limiters_.push_back(std::make_unique<RateLimiter>(
        options_.clock ? *options_.clock : static_cast<const Clock&>(system_clock_),
        r.rate_per_second, r.rate_burst));
  }
  // The front has checked each route's own limit already.
  server_->set_payload_max_length(largest_body);
  // Only for the Keep-Alive header httplib writes; the front enforces both.
  server_->set_keep_alive_max_count(static_cast<size_t>(options_.keep_alive_max_requests));
  server_->set_keep_alive_timeout(options_.keep_alive_timeout_s);
  // A handler that throws (the database went away, a bug) answers a generic page; the log
  // line names only the path prefix, never a token or an address.
  server_->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, const std::exception_ptr&) {
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
    RateLimiter* limiter = nullptr;
    if (const RouteLimits* route = RouteFor(req.path)) {
      limiter = route_limiters_[static_cast<size_t>(route - options_.routes.data())].get();
    } else {
      for (const auto& prefix : options_.limited_prefixes) {
        if (req.path.rfind(prefix, 0) == 0) limiter = limiter_.get();
      }
    }
    if (!limiter || !limiter->enabled()) return httplib::Server::HandlerResponse::Unhandled;
    int wait = limiter->Take(ClientKey(ClientOf(req, trusted_)));
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
  Handle("GET", pattern, std::move(handler));
}

void HttpServer::Post(const std::string& pattern, HttpHandler handler) {
  Handle("POST", pattern, std::move(handler));
}

void HttpServer::Handle(std::string_view method, const std::string& pattern, HttpHandler handler) {
  auto wrapped = Wrap(std::move(handler), &trusted_);
  if (method == "GET") {
    server_->Get(pattern, std::move(wrapped));
  } else if (method == "POST") {
    server_->Post(pattern, std::move(wrapped));
  } else if (method == "PUT") {
    server_->Put(pattern, std::move(wrapped));
  } else if (method == "PATCH") {
    server_->Patch(pattern, std::move(wrapped));
  } else if (method == "DELETE") {
    server_->Delete(pattern, std::move(wrapped));
  } else if (method == "OPTIONS") {
    server_->Options(pattern, std::move(wrapped));
  } else {
    throw std::invalid_argument("HttpServer::Handle: unsupported method");
  }
}

const RouteLimits* HttpServer::RouteFor(std::string_view path) const {
  const RouteLimits* best = nullptr;
  for (const auto& r : options_.routes) {
    if (path.substr(0, r.prefix.size()) == r.prefix &&
        (!best || r.prefix.size() > best->prefix.size())) {
      best = &r;
    }
  }
  return best;
}

size_t HttpServer::BodyLimit(std::string_view path) const {
  const RouteLimits* r = RouteFor(path);
  return r ? r->max_body_bytes : options_.max_body_bytes;
}

ConnectionFront::Stats HttpServer::connection_stats() const {
  return front_ ? front_->stats() : ConnectionFront::Stats{};
}

void HttpServer::Process(const FrontRequest& request) {
  std::string out;
  BufferedStream stream(request, &out);
  bool closed = false;
  server_->Process(stream, request.last, closed);
  front_->Complete(request.connection, std::move(out), request.last || closed);
}

void HttpServer::Start() {
  auto colon = options_.listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("http.listen: expected host:port");
  std::string host = options_.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  auto parsed = ParseStrictInt<int>(std::string_view(options_.listen).substr(colon + 1));
  if (!parsed || *parsed < 0 || *parsed > 65535) {
    throw std::runtime_error("http.listen: expected host:port (port 0-65535)");
  }
  int port = *parsed;
  int fd = Listen(host, port);
  port_ = BoundPort(fd);

  pool_ = std::make_unique<WorkPool>(static_cast<size_t>(std::max(1, options_.threads)));
  probe_pool_ = std::make_unique<WorkPool>(1);
  FrontOptions f;
  f.head.max_request_line_bytes = options_.max_request_line_bytes;
  f.head.max_header_bytes = options_.max_header_bytes;
  f.head.max_headers = options_.max_headers;
  f.request_timeout = std::chrono::milliseconds(options_.request_timeout_ms);
  f.keep_alive_idle = std::chrono::seconds(options_.keep_alive_timeout_s);
  f.keep_alive_max_requests = options_.keep_alive_max_requests;
  f.write_timeout = std::chrono::seconds(options_.write_timeout_s);
  f.max_connections = options_.max_connections;
  f.max_connections_per_client = options_.max_connections_per_client;
  f.trusted = trusted_;
  f.body_limit = [this](std::string_view path) { return BodyLimit(path); };
  if (options_.io) {
    f.io = options_.io;
    f.answer_refusals = false;
  }
  front_ = std::make_unique<ConnectionFront>(std::move(f), [this](FrontRequest r) {
    bool probe = std::find(options_.probe_paths.begin(), options_.probe_paths.end(), r.path) !=
                 options_.probe_paths.end();
    auto job = [this, r = std::move(r)] { Process(r); };
    (probe ? probe_pool_ : pool_)->Push(std::move(job));
  });
  front_->Start(fd);
}

void HttpServer::Stop() {
  if (front_) front_->Stop();
  if (pool_) pool_->Shutdown();
  if (probe_pool_) probe_pool_->Shutdown();
}

}  // namespace herald::web
