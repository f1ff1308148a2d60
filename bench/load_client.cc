#include "bench/load_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace herald::bench {
namespace {

// Latencies and counts shared by completion callbacks (gRPC threads).
class Recorder {
 public:
  void Record(SteadyClock::time_point start, SteadyClock::time_point end, bool ok,
              const std::string& error, bool counted) {
    std::lock_guard lock(mu_);
    if (!counted) return;
    if (ok) {
      ++ok_;
      lat_us_.push_back(std::chrono::duration<double, std::micro>(end - start).count());
    } else {
      ++errors_;
      if (first_error_.empty()) first_error_ = error;
    }
  }
  LoadResult Finish(double seconds) {
    std::lock_guard lock(mu_);
    LoadResult r;
    r.ok = ok_;
    r.errors = errors_;
    r.seconds = seconds;
    r.rate = seconds > 0 ? ok_ / seconds : 0;
    r.first_error = first_error_;
    if (!lat_us_.empty()) {
      std::sort(lat_us_.begin(), lat_us_.end());
      auto at = [&](double q) {
        size_t i = std::min(lat_us_.size() - 1, static_cast<size_t>(q * lat_us_.size()));
        return lat_us_[i] / 1000.0;
      };
      r.p50_ms = at(0.50);
      r.p99_ms = at(0.99);
      r.max_ms = lat_us_.back() / 1000.0;
    }
    return r;
  }

 private:
  std::mutex mu_;
  uint64_t ok_ = 0, errors_ = 0;
  std::string first_error_;
  std::vector<double> lat_us_;
};

// Waits until every issued call has completed (callbacks reference the shared state).
class InFlight {
 public:
  void Add() {
    std::lock_guard lock(mu_);
    ++n_;
  }
  void Remove() {
    std::lock_guard lock(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  int Count() {
    std::lock_guard lock(mu_);
    return n_;
  }
  void WaitBelow(int limit) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return n_ < limit; });
  }
  void WaitZero() { WaitBelow(1); }
  void Notify() { cv_.notify_all(); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

}  // namespace

LoadResult ClosedLoop(const IssueFn& issue, int concurrency, std::chrono::milliseconds duration,
                      std::chrono::milliseconds warmup) {
  auto rec = std::make_shared<Recorder>();
  auto flight = std::make_shared<InFlight>();
  auto seq = std::make_shared<std::atomic<uint64_t>>(0);
  auto t0 = SteadyClock::now();
  auto measure_from = t0 + warmup;
  auto stop_at = measure_from + duration;
  // One "slot" per concurrent call: on completion it records and issues the next call.
  auto next = std::make_shared<std::function<void()>>();
  *next = [=, &issue, weak = std::weak_ptr<std::function<void()>>(next)]() {
    auto start = SteadyClock::now();
    if (start >= stop_at) return;
    flight->Add();
    issue((*seq)++, [=](bool ok, const std::string& err) {
      auto end = SteadyClock::now();
      rec->Record(start, end, ok, err, start >= measure_from && end <= stop_at);
      if (auto n = weak.lock()) (*n)();
      flight->Remove();
    });
  };
  for (int i = 0; i < concurrency; ++i) (*next)();
  std::this_thread::sleep_until(stop_at);
  flight->WaitZero();
  *next = nullptr;
  LoadResult result = rec->Finish(std::chrono::duration<double>(duration).count());
  result.issued = seq->load();
  return result;
}

LoadResult OpenLoop(const IssueFn& issue, double rate, std::chrono::milliseconds duration,
                    int max_outstanding) {
  auto rec = std::make_shared<Recorder>();
  auto flight = std::make_shared<InFlight>();
  auto t0 = SteadyClock::now() + std::chrono::milliseconds(10);
  auto total = static_cast<uint64_t>(rate * std::chrono::duration<double>(duration).count());
  for (uint64_t i = 0; i < total; ++i) {
    auto scheduled = t0 + std::chrono::duration_cast<SteadyClock::duration>(
                              std::chrono::duration<double>(i / rate));
    std::this_thread::sleep_until(scheduled);
    flight->WaitBelow(max_outstanding);
    flight->Add();
    issue(i, [=](bool ok, const std::string& err) {
      rec->Record(scheduled, SteadyClock::now(), ok, err, true);
      flight->Remove();
    });
  }
  flight->WaitZero();
  double seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
  LoadResult result = rec->Finish(seconds);
  result.issued = total;
  return result;
}

struct JsonPoster::Shared {
  struct Connection {
    int fd = -1;
    bool busy = false;
    std::string out, in;
    size_t sent = 0;
    Done done;
  };
  int port = 0;
  std::string head;  // the request up to Content-Length's value
  std::function<std::string(uint64_t)> body;
  int epoll_fd = -1, wake_fd = -1;
  std::vector<Connection> connections;
  std::mutex mu;
  std::deque<std::pair<uint64_t, Done>> calls;  // issued, not yet on a connection
  std::atomic<bool> stop{false};

  // Opens connection i; false when the server cannot be reached.
  bool Connect(size_t i) {
    Connection& c = connections[i];
    if (c.fd >= 0) close(c.fd);
    c = Connection();
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close(c.fd);
      c.fd = -1;
      return false;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c.fd, &ev);
    return true;
  }

  // Closes connection i (it reconnects when it next gets a call) and fails its call.
  void Fail(size_t i, const std::string& why) {
    Connection& c = connections[i];
    Done done = std::move(c.done);
    if (c.fd >= 0) close(c.fd);
    c = Connection();
    if (done) done(false, why);
  }

  void Flush(size_t i) {
    Connection& c = connections[i];
    while (c.sent < c.out.size()) {
      ssize_t n = send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.u64 = i;
        epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
        return;
      }
      if (n <= 0) return Fail(i, "send failed");
      c.sent += static_cast<size_t>(n);
    }
  }

  // Puts waiting calls on idle connections.
  void Assign() {
    for (size_t i = 0; i < connections.size(); ++i) {
      if (connections[i].busy) continue;
      std::pair<uint64_t, Done> call;
      {
        std::lock_guard<std::mutex> lock(mu);
        if (calls.empty()) return;
        call = std::move(calls.front());
        calls.pop_front();
      }
      if (connections[i].fd < 0 && !Connect(i)) {
        call.second(false, "cannot connect to the JSON API");
        continue;
      }
      std::string b = body(call.first);
      Connection& c = connections[i];
      c.busy = true;
      c.done = std::move(call.second);
      c.out = head + std::to_string(b.size()) + "\r\n\r\n" + b;
      c.sent = 0;
      Flush(i);
    }
  }

  // A whole answer in c.in: its status, and how many bytes it took; 0 while incomplete.
  static size_t Complete(const std::string& in, int* status) {
    size_t end = in.find("\r\n\r\n");
    if (end == std::string::npos) return 0;
    *status = in.size() > 12 ? std::atoi(in.c_str() + 9) : 0;
    size_t length = 0;
    for (size_t at = in.find('\n'); at < end; at = in.find('\n', at + 1)) {
      if (strncasecmp(in.c_str() + at + 1, "content-length:", 15) == 0) {
        length = std::strtoul(in.c_str() + at + 16, nullptr, 10);
      }
    }
    size_t total = end + 4 + length;
    return in.size() >= total ? total : 0;
  }

  void Read(size_t i) {
    Connection& c = connections[i];
    char buf[16384];
    while (true) {
      ssize_t n = recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      return Fail(i, "the server closed the connection");
    }
    int status = 0;
    if (size_t used = Complete(c.in, &status)) {
      std::string error = status == 200 ? "" : c.in.substr(0, std::min<size_t>(used, 300));
      c.in.erase(0, used);
      c.busy = false;
      Done done = std::move(c.done);
      done(status == 200, error);
    }
  }

  void Loop() {
    epoll_event events[64];
    while (!stop) {
      int n = epoll_wait(epoll_fd, events, 64, 100);
      for (int k = 0; k < n; ++k) {
        uint64_t i = events[k].data.u64;
        if (i == UINT64_MAX) {
          uint64_t count;
          (void)!read(wake_fd, &count, sizeof count);
          continue;
        }
        if (events[k].events & EPOLLOUT) {
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.u64 = i;
          epoll_ctl(epoll_fd, EPOLL_CTL_MOD, connections[i].fd, &ev);
          Flush(i);
        }
        if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) Read(i);
      }
      Assign();
    }
  }
};

JsonPoster::JsonPoster(int port, const std::string& path, const std::string& bearer_key,
                       int connections, std::function<std::string(uint64_t)> body)
    : shared_(std::make_shared<Shared>()) {
  shared_->port = port;
  shared_->head = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                  "\r\nAuthorization: Bearer " + bearer_key +
                  "\r\nContent-Type: application/json\r\nContent-Length: ";
  shared_->body = std::move(body);
  shared_->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  shared_->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = UINT64_MAX;
  epoll_ctl(shared_->epoll_fd, EPOLL_CTL_ADD, shared_->wake_fd, &ev);
  shared_->connections.resize(static_cast<size_t>(connections));
  thread_ = std::thread([s = shared_] { s->Loop(); });
}

JsonPoster::~JsonPoster() {
  shared_->stop = true;
  thread_.join();
  for (auto& c : shared_->connections) {
    if (c.fd >= 0) close(c.fd);
  }
  close(shared_->epoll_fd);
  close(shared_->wake_fd);
}

IssueFn JsonPoster::issue() {
  return [s = shared_](uint64_t seq, Done done) {
    {
      std::lock_guard<std::mutex> lock(s->mu);
      s->calls.emplace_back(seq, std::move(done));
    }
    uint64_t one = 1;
    (void)!write(s->wake_fd, &one, sizeof one);
  };
}

}  // namespace herald::bench
