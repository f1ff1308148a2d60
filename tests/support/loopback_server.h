#pragma once

#include <httplib.h>

#include <string>
#include <thread>

namespace herald::testing {

// An HTTP server on 127.0.0.1 and a free port, in-process, for provider stand-ins: add
// routes to server(), then Start(). Stops and joins on destruction.
class LoopbackServer {
 public:
  LoopbackServer();
  ~LoopbackServer();
  LoopbackServer(const LoopbackServer&) = delete;
  LoopbackServer& operator=(const LoopbackServer&) = delete;

  httplib::Server& server() { return server_; }
  void Start();
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = -1;
};

// A port on 127.0.0.1 that refuses connections: bound (so nothing else takes it) but never
// listening, so a connect gets a reset at once.
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = -1;
};

}  // namespace herald::testing
