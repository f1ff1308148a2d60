// SEC-8: the listener table against a running heraldd. Each listener serves only its own
// routes; the ops listener (/healthz, /readyz, /metrics) runs in every role, a worker-only
// process included; /metrics can require a bearer token and serves a cached text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <string>

#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/json_client.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using testing::HttpGet;
using ::testing::Not;

constexpr char kMailSecret[] = "listeners-test-mail-secret-0123";
constexpr char kMetricsToken[] = "listeners-test-metrics-token-0123";

int Post(int port, const std::string& path, const std::string& body,
         const std::string& bearer = "") {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(5, 0);
  httplib::Headers h;
  if (!bearer.empty()) h.emplace("Authorization", "Bearer " + bearer);
  auto res = c.Post(path, h, body, "message/rfc822");
  return res ? res->status : 0;
}

int GetWithBearer(int port, const std::string& path, const std::string& bearer,
                  std::string* body = nullptr) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2, 0);
  auto res = c.Get(path, {{"Authorization", "Bearer " + bearer}});
  if (!res) return 0;
  if (body) *body = res->body;
  return res->status;
}

void ListTopics(HeralddProcess& server) {
  auto stub = v1::SubscriptionService::NewStub(server.Channel());
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kCrmKey);
  v1::ListTopicsResponse topics;
  ASSERT_TRUE(stub->ListTopics(&ctx, v1::ListTopicsRequest(), &topics).ok());
}

class ListenersTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
  }
  std::unique_ptr<testing::TestDatabase> db_;
};

TEST_F(ListenersTest, EachListenerServesOnlyItsOwnRoutes) {
  HeralddProcess server(db_->dsn());
  server.AddEnv(std::string("HERALD_INBOUND_MAIL_SECRET=") + kMailSecret);
  server.Start();
  const std::string message =
      "From: someone@example.org\r\nTo: news@herald.test\r\nSubject: hello\r\n"
      "Message-ID: <listeners-1@example.org>\r\n\r\nhello\r\n";
  // Ops: the probes and metrics.
  EXPECT_EQ(HttpGet(server.ops_port(), "/healthz"), 200);
  EXPECT_EQ(HttpGet(server.ops_port(), "/readyz"), 200);
  std::string metrics;
  EXPECT_EQ(HttpGet(server.ops_port(), "/metrics", &metrics), 200);
  EXPECT_THAT(metrics, HasSubstr("herald_db_pool_connections"));
  EXPECT_EQ(Post(server.ops_port(), "/hooks/email/inbound", message, kMailSecret), 404);
  EXPECT_EQ(HttpGet(server.ops_port(), "/u/anything"), 404);
  // Public: neither probes nor metrics nor the MTA's hook.
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    EXPECT_EQ(HttpGet(server.http_port(), path), 404) << path;
  }
  EXPECT_EQ(Post(server.http_port(), "/hooks/email/inbound", message, kMailSecret), 404);
  // ...but its own pages still answer (a forged token is a 404 page, not a missing route).
  std::string page;
  EXPECT_EQ(HttpGet(server.http_port(), "/u/not-a-token", &page), 404);
  EXPECT_THAT(page, HasSubstr("<html"));
  // Mail: the hook only, behind its secret.
  EXPECT_EQ(Post(server.mail_port(), "/hooks/email/inbound", message), 401);
  EXPECT_EQ(Post(server.mail_port(), "/hooks/email/inbound", message, kMailSecret), 200);
  EXPECT_EQ(HttpGet(server.mail_port(), "/metrics"), 404);
  EXPECT_EQ(HttpGet(server.mail_port(), "/u/not-a-token"), 404);
  // JSON API: the RPCs, keyed, and nothing else; no other listener serves them.
  const std::string topics = "/v1/SubscriptionService/ListTopics";
  EXPECT_EQ(testing::PostJson(server.json_port(), topics, "{}", HeralddProcess::kCrmKey).status,
            200);
  for (int port : {server.http_port(), server.mail_port(), server.ops_port()}) {
    EXPECT_EQ(testing::PostJson(port, topics, "{}", HeralddProcess::kCrmKey).status, 404) << port;
  }
  for (const char* path : {"/healthz", "/metrics", "/u/not-a-token"}) {
    EXPECT_EQ(HttpGet(server.json_port(), path), 404) << path;
  }
  EXPECT_EQ(Post(server.json_port(), "/hooks/email/inbound", message, kMailSecret), 404);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

TEST_F(ListenersTest, WithoutTheSecretTheMailListenerIsNotOpened) {
  HeralddProcess server(db_->dsn());
  server.Start();
  EXPECT_EQ(server.mail_port(), 0) << "heraldd reported a mail listener";
  EXPECT_EQ(HttpGet(server.mail_port(), "/hooks/email/inbound"), 0);  // nobody listens
  EXPECT_EQ(HttpGet(server.ops_port(), "/healthz"), 200);
}

TEST_F(ListenersTest, WorkerOnlyProcessStartsTheOpsListener) {
  HeralddProcess server(db_->dsn(), "roles: [worker]\n");
  server.Start();  // waits for /readyz on the ops listener
  EXPECT_EQ(HttpGet(server.ops_port(), "/healthz"), 200);
  EXPECT_EQ(HttpGet(server.ops_port(), "/readyz"), 200);
  std::string metrics;
  EXPECT_EQ(HttpGet(server.ops_port(), "/metrics", &metrics), 200);
  EXPECT_THAT(metrics, HasSubstr("herald_db_pool_connections"));
  // No public or API listener in this role.
  EXPECT_EQ(server.http_port(), 0) << "heraldd reported a public listener";
  EXPECT_EQ(server.grpc_target(), "127.0.0.1:0") << "heraldd reported a gRPC listener";
  EXPECT_EQ(server.json_port(), 0) << "heraldd reported a JSON API listener";
  EXPECT_EQ(HttpGet(server.http_port(), "/u/x"), 0);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  EXPECT_THAT(server.Log(), HasSubstr("\"ops\":\"127.0.0.1:" + std::to_string(server.ops_port())));
}

TEST_F(ListenersTest, MetricsTokenIsRequiredWhenConfigured) {
  HeralddProcess server(db_->dsn());
  server.AddEnv(std::string("HERALD_OPS_METRICS_TOKEN=") + kMetricsToken);
  server.Start();
  EXPECT_EQ(HttpGet(server.ops_port(), "/metrics"), 401);
  EXPECT_EQ(GetWithBearer(server.ops_port(), "/metrics", "listeners-test-wrong-token-00000"), 401);
  std::string body;
  EXPECT_EQ(GetWithBearer(server.ops_port(), "/metrics", kMetricsToken, &body), 200);
  EXPECT_THAT(body, HasSubstr("herald_db_pool_connections"));
  // Probes stay open: a kubelet sends no token.
  EXPECT_EQ(HttpGet(server.ops_port(), "/healthz"), 200);
  EXPECT_EQ(HttpGet(server.ops_port(), "/readyz"), 200);
}

// A burst of scrapes shares one computation: within the cache age a scrape returns the text
// computed before, so an RPC made in between is not counted yet. With the cache off (the
// control) the same sequence shows the RPC at once.
TEST_F(ListenersTest, MetricsScrapeIsCached) {
  auto rpc_lines = [](const std::string& text) {
    std::string out;
    size_t pos = 0;
    while ((pos = text.find("herald_rpc_requests_total{", pos)) != std::string::npos) {
      size_t end = text.find('\n', pos);
      out += text.substr(pos, end - pos) + "\n";
      pos = end;
    }
    return out;
  };
  for (int cache_ms : {600000, 0}) {
    HeralddProcess server(db_->dsn());
    server.AddEnv("HERALD_OPS_METRICS_CACHE_MS=" + std::to_string(cache_ms));
    server.Start();
    std::string before, after;
    ASSERT_EQ(HttpGet(server.ops_port(), "/metrics", &before), 200);
    ListTopics(server);
    ASSERT_EQ(HttpGet(server.ops_port(), "/metrics", &after), 200);
    if (cache_ms > 0) {
      EXPECT_EQ(after, before);
      EXPECT_THAT(rpc_lines(after), Not(HasSubstr("ListTopics")));
    } else {
      EXPECT_THAT(rpc_lines(after), HasSubstr("ListTopics"));
    }
  }
}

}  // namespace
}  // namespace herald
