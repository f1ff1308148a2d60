// B6: p99 of page and probe requests while 300 slow or idle connections from 100 loopback
// addresses (127.0.0.2-101) are held open - idle ones, ones trickling a header byte every
// 500 ms, kept-alive ones - beside the p99 of the same requests without them (same server,
// same run). The web role's HttpServer in-process, with the default options.
//   build/bench/bench_b6 [--smoke]
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <iostream>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "services/web/http_server.h"

using namespace herald::bench;
using herald::web::HttpRequest;
using herald::web::HttpResponse;
using herald::web::HttpServer;
using herald::web::HttpServerOptions;
using Clock = std::chrono::steady_clock;

namespace {

int ConnectFrom(const std::string& from, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(static_cast<uint16_t>(port));
  dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// 300 attacking connections, reopened whenever the server closes one, so the attack holds
// for the whole measurement.
class Attack {
 public:
  explicit Attack(int port) : port_(port) {
    for (int i = 0; i < kConnections; ++i) slots_.push_back({-1, i % 3});
    thread_ = std::thread([this] { Run(); });
  }
  ~Attack() {
    stop_ = true;
    thread_.join();
    for (auto& s : slots_) {
      if (s.fd >= 0) close(s.fd);
    }
  }
  int reopened() const { return reopened_; }

 private:
  static constexpr int kConnections = 300;
  struct Slot {
    int fd;
    int kind;  // 0 idle, 1 trickle, 2 kept alive after a request
  };

  void Open(size_t i) {
    Slot& s = slots_[i];
    s.fd = ConnectFrom("127.0.0." + std::to_string(2 + i % 100), port_);
    if (s.fd < 0) return;
    const char* start = s.kind == 1   ? "GET /u/slow HTTP/1.1\r\nHost: x\r\n"
                        : s.kind == 2 ? "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                      : "";
    send(s.fd, start, strlen(start), MSG_NOSIGNAL);
  }

  void Run() {
    for (size_t i = 0; i < slots_.size(); ++i) Open(i);
    auto next_byte = Clock::now();
    while (!stop_) {
      for (size_t i = 0; i < slots_.size(); ++i) {
        Slot& s = slots_[i];
        if (s.fd < 0) {
          Open(i);
          ++reopened_;
          continue;
        }
        pollfd p{s.fd, POLLIN, 0};
        if (poll(&p, 1, 0) > 0) {
          char buf[4096];
          if (recv(s.fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) {
            close(s.fd);
            s.fd = -1;
          }
        }
      }
      if (Clock::now() >= next_byte) {
        next_byte += std::chrono::milliseconds(500);
        for (auto& s : slots_) {
          if (s.fd >= 0 && s.kind == 1) send(s.fd, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  const int port_;
  std::vector<Slot> slots_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> reopened_{0};
};

struct Sample {
  std::vector<double> ms;
  int errors = 0;
  double P(double q) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
  }
};

// 4 clients in a closed loop, each on its own kept-alive connection with a 2 s timeout,
// alternating a page and a probe.
Sample Measure(int port, std::chrono::seconds duration) {
  Sample out;
  std::mutex mu;
  std::vector<std::thread> clients;
  auto end = Clock::now() + duration;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      httplib::Client c("127.0.0.1", port);
      c.set_connection_timeout(2, 0);
      c.set_read_timeout(2, 0);
      c.set_write_timeout(2, 0);
      std::vector<double> mine;
      int errors = 0;
      for (int i = 0; Clock::now() < end; ++i) {
        auto start = Clock::now();
        auto r = (i + t) % 2 ? c.Get("/u/abc") : c.Get("/healthz");
        if (!r || r->status != 200) {
          ++errors;
          continue;
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
      std::lock_guard lock(mu);
      out.ms.insert(out.ms.end(), mine.begin(), mine.end());
      out.errors += errors;
    });
  }
  for (auto& c : clients) c.join();
  return out;
}

}  // namespace

int main(int argc, char** argv) try {
  bool smoke = ParseSmoke(argc, argv);
  const auto duration = std::chrono::seconds(smoke ? 1 : 15);
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  HttpServer server(o);
  const std::string page =
      "<!DOCTYPE html><html><body>" + std::string(2000, 'x') + "</body></html>";
  server.Get("/u/([a-z]+)", [&](const HttpRequest&) {
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = page;
    return r;
  });
  server.Get("/healthz", [](const HttpRequest&) {
    HttpResponse r;
    r.body = "ok\n";
    return r;
  });
  server.Start();

  Sample quiet = Measure(server.port(), duration);
  Sample attacked;
  int reopened = 0;
  size_t open_during = 0;
  {
    Attack attack(server.port());
    auto until = Clock::now() + std::chrono::seconds(5);
    while (server.connection_stats().open < 300 && Clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    open_during = server.connection_stats().open;
    attacked = Measure(server.port(), duration);
    reopened = attack.reopened();
  }
  server.Stop();
  std::cerr << "B6: " << quiet.ms.size() << " requests without the attack, " << attacked.ms.size()
            << " under it (" << open_during << " connections open when it started, " << reopened
            << " reopened)\n";
  if (quiet.errors || quiet.ms.empty()) {
    std::cerr << "B6: requests failed without any attack: " << quiet.errors << "\n";
    return 1;
  }
  double p99 = attacked.P(0.99), ref = quiet.P(0.99);
  bool pass = attacked.errors == 0 && p99 < 2000;
  Report({"B6", "page+probe p99, 300 slow/idle connections from 100 addresses held open", p99, "ms",
          "the same requests without them", ref, ref > 0 ? p99 / ref : 0,
          "no error and p99 < 2000 ms (the client timeout)", pass});
  Report({"B6.errors", "requests failed or timed out (2 s) under the attack",
          static_cast<double>(attacked.errors), "requests", "", 0, 0, "", true});
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B6 failed: " << e.what() << "\n";
  return 1;
}
