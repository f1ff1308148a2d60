#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "services/web/client_ip.h"
#include "services/web/connection_io.h"
#include "services/web/request_head.h"

namespace herald::web {

struct FrontOptions {
  HeadLimits head;
  // From a request's first byte until its head and body are all in; over it, 408 and close.
  // A new connection has this long for its first byte too.
  std::chrono::milliseconds request_timeout{10000};
  // A kept-alive connection with no request started is closed after this.
  std::chrono::milliseconds keep_alive_idle{2000};
  int keep_alive_max_requests = 20;
  // From a response's first byte to its last; a client that does not read is closed.
  std::chrono::milliseconds write_timeout{5000};
  size_t max_connections = 1024;
  // Open connections per client (ClientKey of the TCP peer). Peers in `trusted` (the
  // proxies in front of us) are exempt: they carry many clients.
  size_t max_connections_per_client = 32;
  TrustedProxies trusted;
  // The body limit of the route a path goes to: a larger Content-Length is answered 413
  // before any of the body is read.
  std::function<size_t(std::string_view path)> body_limit = [](std::string_view) {
    return size_t{64 * 1024};
  };
  ConnectionIoFactory io = PlainTcp;
  // A connection refused at accept (per client, or full) is told why in plain HTTP first;
  // off for TLS, whose client could not read it before a handshake.
  bool answer_refusals = true;
};

// One complete request, handed to the worker pool.
struct FrontRequest {
  uint64_t connection = 0;
  std::string bytes;  // head and body, exactly one request
  std::string path;
  std::string peer_ip;
  int peer_port = 0;
  bool last = false;           // the connection closes after this answer
  bool continue_sent = false;  // "100 Continue" already went out
};

// Accepts connections and reads requests with one epoll thread, so a slow or idle client
// costs a few bytes of memory and never a worker: only complete requests, checked against
// every limit, reach the pool (`dispatch`, called on the front's thread, must not block).
// One request per connection is in the pool at a time and the next one is read only once
// its answer is out, so pipelined requests are answered in order. Under pressure a new
// connection takes the place of the oldest idle kept-alive one, then of the oldest one that
// has been sending its request for more than a second.
class ConnectionFront {
 public:
  using Dispatch = std::function<void(FrontRequest)>;
  ConnectionFront(FrontOptions options, Dispatch dispatch);
  ~ConnectionFront();

  // Takes a bound, listening socket (owned from now on) and starts the thread.
  void Start(int listen_fd);
  // Closes every connection and the listener; answers arriving later are dropped.
  void Stop();
  // The answer to a dispatched request (any thread). `close`: close after sending it.
  void Complete(uint64_t connection, std::string response, bool close);

  struct Stats {
    size_t open = 0;
    uint64_t accepted = 0;
    uint64_t refused_per_client = 0;  // over max_connections_per_client
    uint64_t refused_full = 0;        // over max_connections with nothing to evict
    uint64_t evicted = 0;             // closed to make room for a new connection
    uint64_t timed_out = 0;           // 408, or idle past keep_alive_idle
    uint64_t refused_requests = 0;    // 400, 411, 413, 414, 431, 505 answered by the front
  };
  Stats stats() const;

 private:
  struct Conn;
  struct Completion {
    uint64_t connection;
    std::string response;
    bool close;
  };
  using Clock = std::chrono::steady_clock;

  void Loop();
  void AcceptAll();
  bool MakeRoom();
  void OnEvent(Conn& c, uint32_t events);
  void ReadRequest(Conn& c);
  void Advance(Conn& c);
  void Refuse(Conn& c, int status, const std::string& reason, size_t linger_bytes);
  void Flush(Conn& c);
  void StartLinger(Conn& c);
  void Linger(Conn& c);
  void TakeCompletions();
  void CheckDeadlines();
  void Watch(Conn& c, uint32_t events);
  void Close(uint64_t id);

  const FrontOptions options_;
  const Dispatch dispatch_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int listen_fd_ = -1;
  bool accept_paused_ = false;
  Clock::time_point accept_resume_{};
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  // Owned by the front's thread.
  std::unordered_map<uint64_t, std::unique_ptr<Conn>> conns_;
  std::unordered_map<std::string, size_t> per_client_;
  uint64_t next_id_ = 16;

  mutable std::mutex mu_;  // completions_ and stats_
  std::vector<Completion> completions_;
  Stats stats_;
};

}  // namespace herald::web
