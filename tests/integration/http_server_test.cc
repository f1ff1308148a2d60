// The web role's HttpServer over loopback, without a database: form decoding of both
// encodings, the rate limit before routing, the bounded pool, and no 500 from a handler
// that throws.
#include "services/web/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <stdexcept>
#include <thread>
#include <vector>

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

}  // namespace
}  // namespace herald::web
