// The web role's HttpServer over loopback, without a database: form decoding of both
// encodings, the rate limit before routing, the bounded pool, and no 500 from a handler
// that throws.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <stdexcept>

#include "services/web/http_server.h"

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
  EXPECT_EQ(c.Get("/boom")->status, 503);                  // not a public prefix: not limited
}

}  // namespace
}  // namespace herald::web
