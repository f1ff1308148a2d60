#include "services/web/http_server.h"

#include <httplib.h>

#include <chrono>
#include <stdexcept>

#include "common/log/log.h"

namespace herald::web {
namespace {

HttpRequest Translate(const httplib::Request& req) {
  HttpRequest out;
  out.method = req.method;
  out.path = req.path;
  for (const auto& [k, v] : req.headers) out.headers.emplace(k, v);
  out.body = req.body;
  out.remote_addr = req.remote_addr;
  for (size_t i = 1; i < req.matches.size(); ++i) out.path_params.push_back(req.matches[i]);
  return out;
}

httplib::Server::Handler Wrap(HttpHandler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    HttpResponse r = handler(Translate(req));
    res.status = r.status;
    for (const auto& [k, v] : r.headers) res.set_header(k, v);
    res.set_content(r.body, r.content_type);
  };
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options)
    : options_(std::move(options)), server_(std::make_unique<httplib::Server>()) {
  int threads = options_.threads;
  server_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server_->set_payload_max_length(options_.max_body_bytes);
  server_->set_read_timeout(options_.read_timeout_s, 0);
  server_->set_write_timeout(options_.write_timeout_s, 0);
  server_->set_keep_alive_max_count(options_.keep_alive_max_requests);
  server_->set_keep_alive_timeout(options_.keep_alive_timeout_s);
  server_->set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr) {
        log::Error("http handler failed", {{"path_prefix", req.path.substr(0, 3)}});
        res.status = 500;
        res.set_content("internal error\n", "text/plain; charset=utf-8");
      });
  server_->set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(std::to_string(res.status) + "\n", "text/plain; charset=utf-8");
    }
  });
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Get(const std::string& pattern, HttpHandler handler) {
  server_->Get(pattern, Wrap(std::move(handler)));
}

void HttpServer::Post(const std::string& pattern, HttpHandler handler) {
  server_->Post(pattern, Wrap(std::move(handler)));
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
