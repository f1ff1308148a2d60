// The web role's HttpServer over loopback, without a database: form decoding of both
// encodings, the rate limit before routing, the bounded pool, no 500 from a handler that
// throws, and the connection front's defences (SEC-1 slow and idle clients, SEC-2 request
// head limits, SEC-9 limits per route).
#include "services/web/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"

namespace herald::web {
namespace {

using ::testing::HasSubstr;

std::unique_ptr<HttpServer> Serve(HttpServerOptions o) {
  o.listen = "127.0.0.1:0";
  auto s = std::make_unique<HttpServer>(o);
  s->Post("/u/(.*)", [](const HttpRequest& r) {
    HttpResponse out;
    out.body = "form=" + r.FormValue("List-Unsubscribe") + ";param=" + r.path_params.at(0) +
               ";client=" + r.client_ip;
    return out;
  });
  s->Get("/boom", [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("x"); });
  s->Start();
  return s;
}

TEST(HttpServerTest, DecodesUrlEncodedAndMultipartForms) {
  auto s = Serve({});
  httplib::Client c("127.0.0.1", s->port());
  auto a = c.Post("/u/tok", "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
  ASSERT_TRUE(a) << httplib::to_string(a.error());
  EXPECT_EQ(a->body, "form=One-Click;param=tok;client=127.0.0.1");
  httplib::MultipartFormDataItems items = {{"List-Unsubscribe", "One-Click", "", ""}};
  auto b = c.Post("/u/tok2", items);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->body, "form=One-Click;param=tok2;client=127.0.0.1");
  EXPECT_EQ(b->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(b->get_header_value("Referrer-Policy"), "no-referrer");
}

TEST(HttpServerTest, HandlerExceptionIsAGeneric503NeverA500) {
  auto s = Serve({});
  httplib::Client c("127.0.0.1", s->port());
  auto r = c.Get("/boom");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "30");
  EXPECT_THAT(r->body, HasSubstr("Temporarily unavailable"));
}

TEST(HttpServerTest, RateLimitBeforeRoutingOnPublicPrefixesOnly) {
  HttpServerOptions o;
  o.rate_per_second = 0.01;
  o.rate_burst = 2;
  auto s = Serve(o);
  httplib::Client c("127.0.0.1", s->port());
  EXPECT_EQ(c.Post("/u/a", "", "text/plain")->status, 200);
  EXPECT_EQ(c.Post("/u/a", "", "text/plain")->status, 200);
  auto r = c.Post("/u/a", "", "text/plain");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->get_header_value("Retry-After"), "100");
  EXPECT_EQ(c.Get("/hooks/sms/x/inbound")->status, 429);  // a hook route added later is covered
  EXPECT_EQ(c.Get("/boom")->status, 503);                 // not a public prefix: not limited
}

// Opens a TCP connection and sends nothing: what an idle keep-alive client or a slow client
// looks like to the pool.
int IdleConnection(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  return fd;
}

double TimedPostMs(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(10, 0);
  auto start = std::chrono::steady_clock::now();
  auto r = c.Post("/u/x", "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
  EXPECT_TRUE(r);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Idle connections each hold a worker only until the keep-alive timeout: fewer of them than
// threads do not delay a page at all, and as many as threads delay it by at most that
// timeout, never indefinitely.
TEST(HttpServerTest, IdleConnectionsCannotStallThePages) {
  HttpServerOptions o;
  o.threads = 4;
  o.keep_alive_timeout_s = 2;
  auto s = Serve(o);
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(IdleConnection(s->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  double below = TimedPostMs(s->port());
  EXPECT_LT(below, 500) << "3 idle connections, 4 threads";
  for (int i = 0; i < 5; ++i) idle.push_back(IdleConnection(s->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  double above = TimedPostMs(s->port());
  EXPECT_LT(above, 2 * 2000 + 1000) << "8 idle connections, 4 threads";
  std::cerr << "page latency with 3 idle connections: " << below
            << " ms; with 8 idle connections on 4 threads: " << above << " ms\n";
  for (int fd : idle) close(fd);

  // The default pool (http.threads 32) takes a couple dozen idle clients without a delay.
  auto d = Serve({});
  std::vector<int> many;
  for (int i = 0; i < 24; ++i) many.push_back(IdleConnection(d->port()));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  double with_default = TimedPostMs(d->port());
  EXPECT_LT(with_default, 500) << "24 idle connections, default pool";
  std::cerr << "page latency with 24 idle connections on the default pool: " << with_default
            << " ms\n";
  for (int fd : many) close(fd);
}

// ---- The connection front (SEC-1, SEC-2, SEC-9) ----

using Clock = std::chrono::steady_clock;

using testing::Eventually;

// A TCP connection to the server from the loopback address `from` (127.0.0.x plays another
// host); -1 when it cannot connect.
int ConnectFrom(const std::string& from, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, from.c_str(), &src.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0) {
    close(fd);
    return -1;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void SendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Reads until the peer closes, `enough` says the answer is complete, or `limit` passes.
std::string ReadUntil(int fd, const std::function<bool(const std::string&)>& enough,
                      std::chrono::milliseconds limit = std::chrono::milliseconds(3000)) {
  std::string got;
  auto end = Clock::now() + limit;
  while (Clock::now() < end && !enough(got)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + 1)) {
    ++n;
  }
  return n;
}

// The web role's routes, in miniature: a page, a form post, a hook and the probes.
std::unique_ptr<HttpServer> ServeSite(HttpServerOptions o) {
  o.listen = "127.0.0.1:0";
  auto s = std::make_unique<HttpServer>(o);
  auto text = [](const std::string& body) {
    return [body](const HttpRequest&) {
      HttpResponse r;
      r.body = body;
      return r;
    };
  };
  s->Get("/healthz", text("ok"));
  s->Get("/readyz", text("ready"));
  s->Get("/u/([a-z0-9]+)", [](const HttpRequest& r) {
    HttpResponse out;
    out.body = "page " + r.path_params.at(0);
    return out;
  });
  s->Post("/u/([a-z0-9]+)", [](const HttpRequest& r) {
    HttpResponse out;
    out.body = "posted " + std::to_string(r.body.size());
    return out;
  });
  s->Post("/hooks/email/inbound", [](const HttpRequest& r) {
    HttpResponse out;
    out.body = "mail " + std::to_string(r.body.size());
    return out;
  });
  s->Start();
  return s;
}

// SEC-1: 300 slow or idle connections from 120 addresses of 127.0.0.0/8 - idle ones, ones
// that send a header byte at a time, kept-alive ones between polls - and meanwhile every
// page, form post and probe answers within its 2 s client timeout.
TEST(ConnectionFrontTest, SlowAndIdleClientsFromManyAddressesDoNotStallPagesOrProbes) {
  HttpServerOptions o;
  o.threads = 4;  // fewer workers than attackers by far
  auto s = ServeSite(o);
  const int port = s->port();

  std::vector<int> idle, slow, kept;
  for (int i = 0; i < 300; ++i) {
    std::string from = "127.0.0." + std::to_string(2 + i % 120);
    int fd = ConnectFrom(from, port);
    ASSERT_GE(fd, 0) << "connect from " << from;
    if (i % 3 == 0) {
      idle.push_back(fd);
    } else if (i % 3 == 1) {
      SendAll(fd, "GET /u/slow HTTP/1.1\r\nHost: x\r\n");
      slow.push_back(fd);
    } else {
      SendAll(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      kept.push_back(fd);
    }
  }
  // The attack is real: every connection is held open by the server.
  ASSERT_TRUE(Eventually([&] { return s->connection_stats().open >= 300; }))
      << "open: " << s->connection_stats().open;
  for (int fd : kept) {
    std::string r =
        ReadUntil(fd, [](const std::string& g) { return g.find("ok") != std::string::npos; });
    ASSERT_NE(r.find("200 OK"), std::string::npos);
  }

  std::atomic<bool> attacking{true};
  std::thread trickle([&] {
    // One more header byte on every slow connection every 200 ms: each read resets a
    // per-read timeout, never the request's deadline.
    while (attacking) {
      for (int fd : slow) send(fd, "X", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });

  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(2, 0);
  c.set_write_timeout(2, 0);
  int requests = 0;
  auto end = Clock::now() + std::chrono::seconds(3);
  while (Clock::now() < end) {
    auto h = c.Get("/healthz");
    ASSERT_TRUE(h) << httplib::to_string(h.error());
    EXPECT_EQ(h->status, 200);
    auto r = c.Get("/readyz");
    ASSERT_TRUE(r) << httplib::to_string(r.error());
    EXPECT_EQ(r->body, "ready");
    auto p = c.Get("/u/abc");
    ASSERT_TRUE(p) << httplib::to_string(p.error());
    EXPECT_EQ(p->body, "page abc");
    auto f = c.Post("/u/abc", "List-Unsubscribe=One-Click", "application/x-www-form-urlencoded");
    ASSERT_TRUE(f) << httplib::to_string(f.error());
    EXPECT_EQ(f->status, 200);
    requests += 4;
  }
  // The attack still held while the pages answered.
  EXPECT_GE(s->connection_stats().open, 150u);
  attacking = false;
  trickle.join();
  std::cerr << "requests answered under attack: " << requests << "\n";
  for (auto* v : {&idle, &slow, &kept}) {
    for (int fd : *v) close(fd);
  }
}

// SEC-1: a request has one deadline for its head and body, whatever its pace: a client
// trickling a byte every 100 ms gets 408 at the deadline. Positive control: a request sent
// in pieces that all arrive within the deadline is answered.
TEST(ConnectionFrontTest, TricklingRequestGets408AtItsDeadline) {
  HttpServerOptions o;
  o.request_timeout_ms = 1000;
  auto s = ServeSite(o);
  int fd = ConnectFrom("127.0.0.2", s->port());
  ASSERT_GE(fd, 0);
  auto start = Clock::now();
  std::string answer;
  std::string head = "GET /u/abc HTTP/1.1\r\nHost: x\r\nX-Pad: ";
  for (size_t i = 0; answer.empty() && Clock::now() - start < std::chrono::seconds(5); ++i) {
    send(fd, i < head.size() ? &head[i] : "a", 1, MSG_NOSIGNAL);
    answer = ReadUntil(
        fd, [](const std::string& g) { return !g.empty(); }, std::chrono::milliseconds(100));
  }
  answer += ReadUntil(
      fd, [](const std::string&) { return false; }, std::chrono::milliseconds(500));
  EXPECT_EQ(answer.rfind("HTTP/1.1 408 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("Connection: close"), std::string::npos);
  close(fd);

  int control = ConnectFrom("127.0.0.3", s->port());
  for (const char* piece : {"GET /u/abc HTTP/1.1\r\n", "Host: x\r\n", "X-Pad: a\r\n\r\n"}) {
    SendAll(control, piece);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::string ok = ReadUntil(
      control, [](const std::string& g) { return g.find("page abc") != std::string::npos; });
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 ", 0), 0u) << ok;
  close(control);
}

// SEC-1: a client address holds at most max_connections_per_client connections; another
// address is unaffected, and a trusted proxy (carrying many clients) is exempt.
TEST(ConnectionFrontTest, ConnectionsPerClientAreCappedButNotForTrustedProxies) {
  HttpServerOptions o;
  o.max_connections_per_client = 4;
  o.trusted_proxies = {"127.0.0.9"};
  auto s = ServeSite(o);
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(ConnectFrom("127.0.0.8", s->port()));
  ASSERT_TRUE(Eventually([&] { return s->connection_stats().open == 4; }));
  int fifth = ConnectFrom("127.0.0.8", s->port());
  std::string refused = ReadUntil(fifth, [](const std::string&) { return false; });
  EXPECT_EQ(refused.rfind("HTTP/1.1 429 ", 0), 0u) << refused;
  close(fifth);

  int other = ConnectFrom("127.0.0.10", s->port());
  SendAll(other, "GET /u/other HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(
      ReadUntil(other,
                [](const std::string& g) { return g.find("page other") != std::string::npos; })
          .find("page other"),
      std::string::npos);
  close(other);

  for (int i = 0; i < 8; ++i) held.push_back(ConnectFrom("127.0.0.9", s->port()));
  SendAll(held.back(), "GET /u/proxied HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(
      ReadUntil(held.back(),
                [](const std::string& g) { return g.find("page proxied") != std::string::npos; })
          .find("page proxied"),
      std::string::npos);
  EXPECT_EQ(s->connection_stats().refused_per_client, 1u);
  for (int fd : held) close(fd);
}

// SEC-1: at max_connections a newcomer takes the place of an idle connection; pages keep
// answering.
TEST(ConnectionFrontTest, FullServerEvictsIdleConnectionsForNewOnes) {
  HttpServerOptions o;
  o.max_connections = 20;
  auto s = ServeSite(o);
  std::vector<int> idle;
  for (int i = 0; i < 20; ++i)
    idle.push_back(ConnectFrom("127.0.0." + std::to_string(20 + i), s->port()));
  ASSERT_TRUE(Eventually([&] { return s->connection_stats().open == 20; }));
  httplib::Client c("127.0.0.1", s->port());
  c.set_read_timeout(2, 0);
  auto r = c.Get("/u/abc");
  ASSERT_TRUE(r) << httplib::to_string(r.error());
  EXPECT_EQ(r->body, "page abc");
  EXPECT_GE(s->connection_stats().evicted, 1u);
  EXPECT_LE(s->connection_stats().open, 20u);
  for (int fd : idle) close(fd);
}

// SEC-1: health probes have a worker of their own: they answer while every worker is busy
// with a slow handler. Positive control: the slow requests are answered too, once released.
TEST(ConnectionFrontTest, ProbesAnswerWhileEveryWorkerIsBusy) {
  HttpServerOptions o;
  o.listen = "127.0.0.1:0";
  o.threads = 2;
  HttpServer s(o);
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> busy{0};
  s.Get("/slow", [&](const HttpRequest&) {
    ++busy;
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });
    HttpResponse r;
    r.body = "slow";
    return r;
  });
  s.Get("/healthz", [](const HttpRequest&) { return HttpResponse{200, "text/plain", "ok", {}}; });
  s.Start();
  std::vector<std::thread> clients;
  std::atomic<int> slow_ok{0};
  for (int i = 0; i < 3; ++i) {
    clients.emplace_back([&] {
      httplib::Client c("127.0.0.1", s.port());
      c.set_read_timeout(10, 0);
      auto r = c.Get("/slow");
      if (r && r->body == "slow") ++slow_ok;
    });
  }
  ASSERT_TRUE(Eventually([&] { return busy == 2; }));
  httplib::Client probe("127.0.0.1", s.port());
  probe.set_read_timeout(2, 0);
  auto h = probe.Get("/healthz");
  ASSERT_TRUE(h) << httplib::to_string(h.error());
  EXPECT_EQ(h->body, "ok");
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : clients) t.join();
  EXPECT_EQ(slow_ok, 3);
}

// Pipelined requests are answered in order, each once; past keep_alive_max_requests the
// last answer says Connection: close and the rest are refused by the close, never dropped
// silently while the connection stays open.
TEST(ConnectionFrontTest, PipelinedRequestsAreAnsweredInOrder) {
  auto s = ServeSite({});
  int fd = ConnectFrom("127.0.0.1", s->port());
  SendAll(fd,
          "GET /u/one HTTP/1.1\r\nHost: x\r\n\r\n"
          "POST /u/two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
          "GET /u/three HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string got =
      ReadUntil(fd, [](const std::string& g) { return g.find("page three") != std::string::npos; });
  auto one = got.find("page one"), two = got.find("posted 5"), three = got.find("page three");
  ASSERT_NE(one, std::string::npos) << got;
  ASSERT_NE(two, std::string::npos) << got;
  ASSERT_NE(three, std::string::npos) << got;
  EXPECT_LT(one, two);
  EXPECT_LT(two, three);
  EXPECT_EQ(Count(got, "HTTP/1.1 200 OK"), 3u);
  close(fd);

  HttpServerOptions o;
  o.keep_alive_max_requests = 2;
  auto capped = ServeSite(o);
  fd = ConnectFrom("127.0.0.1", capped->port());
  SendAll(fd,
          "GET /u/one HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /u/two HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /u/three HTTP/1.1\r\nHost: x\r\n\r\n");
  got = ReadUntil(fd, [](const std::string&) { return false; });  // until the server closes
  EXPECT_EQ(Count(got, "HTTP/1.1 200 OK"), 2u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_EQ(got.find("page three"), std::string::npos);
  close(fd);
}

// "Expect: 100-continue" is answered by the front before the body is sent.
TEST(ConnectionFrontTest, ExpectContinueIsAnsweredBeforeTheBody) {
  auto s = ServeSite({});
  int fd = ConnectFrom("127.0.0.1", s->port());
  SendAll(fd,
          "POST /u/abc HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  std::string interim =
      ReadUntil(fd, [](const std::string& g) { return g.find("\r\n\r\n") != std::string::npos; });
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  SendAll(fd, "abc");
  std::string final_answer =
      ReadUntil(fd, [](const std::string& g) { return g.find("posted 3") != std::string::npos; });
  EXPECT_EQ(final_answer.rfind("HTTP/1.1 200 ", 0), 0u) << final_answer;
  EXPECT_EQ(Count(final_answer, "100 Continue"), 0u);
  close(fd);
}

// SEC-2: a head over max_header_bytes is answered 431 and the connection closed while the
// client is still sending: it never gets to send much more than the limit (the probe sent
// 64 MB). Positive control: a head just under the limit is served.
TEST(ConnectionFrontTest, HeaderFloodIsAnswered431AndClosedNearTheLimit) {
  HttpServerOptions o;
  o.max_header_bytes = 16 * 1024;
  auto s = ServeSite(o);

  int fd = ConnectFrom("127.0.0.2", s->port());
  ASSERT_GE(fd, 0);
  int small = 64 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string line = "X-Flood: " + std::string(1000, 'a') + "\r\n";
  std::string flood;
  while (flood.size() < 64 * 1024) flood += line;
  SendAll(fd, "GET /u/abc HTTP/1.1\r\nHost: x\r\n");
  size_t sent = 0;
  std::string answer;
  bool closed = false;
  auto end = Clock::now() + std::chrono::seconds(10);
  const size_t kFlood = 64u * 1024 * 1024;
  while (!closed && sent < kFlood && Clock::now() < end) {
    pollfd p{fd, POLLIN | POLLOUT, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      ssize_t n = recv(fd, buf, sizeof buf, 0);
      if (n > 0) {
        answer.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        closed = true;
      }
    } else if (p.revents & POLLOUT) {
      size_t at = sent % flood.size();
      ssize_t n = send(fd, flood.data() + at, flood.size() - at, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        closed = true;
      }
    }
  }
  close(fd);
  EXPECT_EQ(answer.rfind("HTTP/1.1 431 ", 0), 0u) << answer.substr(0, 200);
  EXPECT_NE(answer.find("16384 bytes"), std::string::npos) << answer;
  EXPECT_TRUE(closed) << "the server kept reading";
  // The limit plus what the kernels' socket buffers held when the server closed.
  EXPECT_LT(sent, 4u * 1024 * 1024);
  std::cerr << "header flood: " << sent << " bytes sent before the close (limit 16384)\n";

  int ok = ConnectFrom("127.0.0.3", s->port());
  std::string head = "GET /u/abc HTTP/1.1\r\nHost: x\r\n";
  while (head.size() + line.size() + 2 <= 16 * 1024) head += line;
  SendAll(ok, head + "\r\n");
  std::string served =
      ReadUntil(ok, [](const std::string& g) { return g.find("page abc") != std::string::npos; });
  EXPECT_EQ(served.rfind("HTTP/1.1 200 ", 0), 0u) << served.substr(0, 200);
  close(ok);
}

std::string Exchange(int port, const std::string& request) {
  int fd = ConnectFrom("127.0.0.1", port);
  SendAll(fd, request);
  std::string got = ReadUntil(fd, [](const std::string& g) {
    auto head_end = g.find("\r\n\r\n");
    if (head_end == std::string::npos) return false;
    auto at = g.find("Content-Length: ");
    if (at == std::string::npos || at > head_end) return false;
    return g.size() >= head_end + 4 + std::stoul(g.substr(at + 16));
  });
  close(fd);
  return got;
}

// SEC-2: a long request line is 414, too many header fields 431; one below each limit is
// served (positive controls).
TEST(ConnectionFrontTest, RequestLineAndHeaderCountLimits) {
  HttpServerOptions o;
  o.max_request_line_bytes = 2048;
  o.max_headers = 20;
  auto s = ServeSite(o);
  std::string long_uri = "/u/" + std::string(2100, 'a');
  EXPECT_EQ(Exchange(s->port(), "GET " + long_uri + " HTTP/1.1\r\nHost: x\r\n\r\n")
                .rfind("HTTP/1.1 414 ", 0),
            0u);
  std::string fits = "/u/" + std::string(1900, 'a');
  EXPECT_EQ(
      Exchange(s->port(), "GET " + fits + " HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 200 ", 0),
      0u);

  std::string many = "GET /u/abc HTTP/1.1\r\n";
  for (int i = 0; i < 21; ++i) many += "X-H" + std::to_string(i) + ": v\r\n";
  std::string answer = Exchange(s->port(), many + "\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 431 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("more than 20 header fields"), std::string::npos);
  std::string enough = "GET /u/abc HTTP/1.1\r\n";
  for (int i = 0; i < 20; ++i) enough += "X-H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Exchange(s->port(), enough + "\r\n").rfind("HTTP/1.1 200 ", 0), 0u);
}

// SEC-9: every route has its own body limit, and the 413 names it. The mail hook's larger
// limit does not raise the public pages' (it did: one limit for every route).
TEST(ConnectionFrontTest, BodyLimitPerRouteAndThe413NamesIt) {
  HttpServerOptions o;
  o.max_body_bytes = 64 * 1024;
  o.routes = {{"/hooks/email/", 1024 * 1024, 0, 20}};
  auto s = ServeSite(o);
  httplib::Client c("127.0.0.1", s->port());
  c.set_read_timeout(5, 0);
  std::string big(100 * 1024, 'x');
  auto page = c.Post("/u/abc", big, "text/plain");
  ASSERT_TRUE(page) << httplib::to_string(page.error());
  EXPECT_EQ(page->status, 413);
  EXPECT_NE(page->body.find("limit of 65536 bytes"), std::string::npos) << page->body;
  auto fits_page = c.Post("/u/abc", std::string(60 * 1024, 'x'), "text/plain");
  ASSERT_TRUE(fits_page);
  EXPECT_EQ(fits_page->body, "posted 61440");

  auto mail = c.Post("/hooks/email/inbound", big, "message/rfc822");
  ASSERT_TRUE(mail) << httplib::to_string(mail.error());
  EXPECT_EQ(mail->body, "mail 102400");
  auto huge = c.Post("/hooks/email/inbound", std::string(2 * 1024 * 1024, 'x'), "message/rfc822");
  ASSERT_TRUE(huge) << httplib::to_string(huge.error());
  EXPECT_EQ(huge->status, 413);
  EXPECT_NE(huge->body.find("limit of 1048576 bytes"), std::string::npos) << huge->body;
  EXPECT_EQ(s->BodyLimit("/hooks/email/inbound"), 1024u * 1024);
  EXPECT_EQ(s->BodyLimit("/u/abc"), 64u * 1024);
}

// SEC-9: a route class with its own limiter does not share the public bucket: with the
// public one empty, the mail hook still answers (and its own bucket still limits).
TEST(ConnectionFrontTest, SecretHooksHaveTheirOwnBucket) {
  HttpServerOptions o;
  o.rate_per_second = 0.01;
  o.rate_burst = 2;
  o.routes = {{"/hooks/email/", 1024 * 1024, 0.01, 5}};
  auto s = ServeSite(o);
  httplib::Client c("127.0.0.1", s->port());
  EXPECT_EQ(c.Post("/u/a", "", "text/plain")->status, 200);
  EXPECT_EQ(c.Post("/u/a", "", "text/plain")->status, 200);
  EXPECT_EQ(c.Post("/u/a", "", "text/plain")->status, 429);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(c.Post("/hooks/email/inbound", "m", "message/rfc822")->status, 200) << i;
  }
  EXPECT_EQ(c.Post("/hooks/email/inbound", "m", "message/rfc822")->status, 429);
}

// SEC-9: IPv6 clients behind a trusted proxy are charged by /64: another address of the
// same /64 shares the bucket, another /64 has its own (positive control).
TEST(ConnectionFrontTest, Ipv6ClientsThroughTrustedProxyAreKeyedBy64) {
  HttpServerOptions o;
  o.rate_per_second = 0.01;
  o.rate_burst = 2;
  o.trusted_proxies = {"127.0.0.1"};
  auto s = ServeSite(o);
  httplib::Client c("127.0.0.1", s->port());
  auto post = [&](const std::string& xff) {
    return c.Post("/u/a", httplib::Headers{{"X-Forwarded-For", xff}}, "", "text/plain")->status;
  };
  EXPECT_EQ(post("2001:db8:1:2::1"), 200);
  EXPECT_EQ(post("2001:db8:1:2::2"), 200);
  EXPECT_EQ(post("2001:db8:1:2:ffff::3"), 429);  // same /64, a third address
  EXPECT_EQ(post("2001:db8:1:3::1"), 200);       // another /64
}

// SEC-9: heraldctl inbound-mail names the limit when a message is too large for the hook,
// and exits 65 (refused for good, the MTA bounces it). Positive control: one that fits is
// posted.
TEST(ConnectionFrontTest, HeraldctlInboundMailNamesTheLimit) {
  HttpServerOptions o;
  o.routes = {{"/hooks/email/", 2000, 0, 20}};
  auto s = ServeSite(o);
  auto run = [&](size_t size, std::string* out) {
    char path[] = "/tmp/herald-http-mail.XXXXXX";
    int fd = mkstemp(path);
    std::string mail = "From: a@example.com\r\n\r\n" + std::string(size, 'x');
    EXPECT_EQ(write(fd, mail.data(), mail.size()), static_cast<ssize_t>(mail.size()));
    close(fd);
    std::string cmd = "HERALDCTL_INBOUND_URL=http://127.0.0.1:" + std::to_string(s->port()) +
                      "/hooks/email/inbound HERALDCTL_INBOUND_SECRET=x " + HERALD_HERALDCTL_PATH +
                      " inbound-mail < " + path + " 2>&1";
    int status = testing::RunCommand(cmd, out);
    unlink(path);
    return status;
  };
  std::string out;
  EXPECT_EQ(run(5000, &out), 65) << out;
  EXPECT_THAT(out, HasSubstr("limit of 2000 bytes"));
  EXPECT_THAT(out, HasSubstr("inbound_mail.max_bytes"));
  EXPECT_EQ(run(1000, &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("mail 10"));
}

}  // namespace
}  // namespace herald::web
