// A running heraldd over real sockets: authentication and scopes, bad input over the wire,
// health, metrics, logs without personal data, readiness following PostgreSQL, and a
// graceful stop.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <pqxx/pqxx>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using ::testing::Not;

class HeralddTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    server_ = std::make_unique<HeralddProcess>(db_->dsn());
    server_->Start();
    stub_ = v1::SubscriptionService::NewStub(server_->Channel());
  }

  grpc::Status Upsert(const std::string& key, const v1::UpsertSubjectRequest& r,
                      v1::UpsertSubjectResponse* resp = nullptr) {
    grpc::ClientContext ctx;
    if (!key.empty()) testing::Authorize(ctx, key);
    v1::UpsertSubjectResponse ignored;
    return stub_->UpsertSubject(&ctx, r, resp ? resp : &ignored);
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> stub_;
};

TEST_F(HeralddTest, HealthNeedsNoKeyAndSaysServing) {
  auto health = grpc::health::v1::Health::NewStub(server_->Channel());
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  EXPECT_EQ(testing::HttpGet(server_->ops_port(), "/healthz"), 200);
}

TEST_F(HeralddTest, NoKeyWrongKeyAndWrongScope) {
  v1::UpsertSubjectRequest r;
  r.set_external_id("auth-1");
  EXPECT_EQ(Upsert("", r).error_code(), grpc::UNAUTHENTICATED);
  EXPECT_EQ(Upsert("not-a-key", r).error_code(), grpc::UNAUTHENTICATED);
  auto wrong_scope = Upsert(HeralddProcess::kSchedulerKey, r);
  EXPECT_EQ(wrong_scope.error_code(), grpc::PERMISSION_DENIED);
  EXPECT_THAT(wrong_scope.error_message(), HasSubstr("crm"));
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM subjects"), "0");
  // The scheduler may ask the gate.
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
  v1::CheckEligibilityRequest check;
  check.mutable_recipient()->set_address("someone@example.com");
  check.set_channel(v1::EMAIL);
  check.set_topic("webinars");
  v1::CheckEligibilityResponse resp;
  ASSERT_TRUE(stub_->CheckEligibility(&ctx, check, &resp).ok());
  EXPECT_EQ(resp.decision().reason(), v1::NO_CONSENT);
  EXPECT_TRUE(Upsert(HeralddProcess::kCrmKey, r).ok());
  EXPECT_TRUE(Upsert(HeralddProcess::kAdminKey, r).ok());  // admin may do everything
}

TEST_F(HeralddTest, BadInputGetsInvalidArgumentNamingTheFieldAndWritesNothing) {
  struct Case {
    std::string field;
    std::string value;
    std::function<void(v1::UpsertSubjectRequest&, const std::string&)> set;
  };
  std::vector<Case> cases = {
      {"emails[0]", "ivan.petrov@@example.com", [](auto& r, auto& v) { r.add_emails(v); }},
      {"phones[0]", "+7 916 CALL-NOW", [](auto& r, auto& v) { r.add_phones(v); }},
      {"surname", std::string(10000, 'W'), [](auto& r, auto& v) { r.set_surname(v); }},
      {"given_name", "Ivan\r\nBcc: victim@example.com",
       [](auto& r, auto& v) { r.set_given_name(v); }},
      {"patronymic", std::string("Ivan\0ovich", 10), [](auto& r, auto& v) { r.set_patronymic(v); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field);
    v1::UpsertSubjectRequest r;
    r.set_external_id("bad-input");
    r.add_emails("valid@example.com");
    if (c.field == "emails[0]") r.clear_emails();
    c.set(r, c.value);
    auto status = Upsert(HeralddProcess::kCrmKey, r);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr(c.field));
    EXPECT_THAT(status.error_message(), Not(HasSubstr(c.value.substr(0, 8))));
  }
  // Unknown topic, on two RPCs.
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::CheckEligibilityRequest check;
    check.mutable_recipient()->set_address("x@example.com");
    check.set_channel(v1::EMAIL);
    check.set_topic("crypto_scams");
    v1::CheckEligibilityResponse resp;
    auto status = stub_->CheckEligibility(&ctx, check, &resp);
    EXPECT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("topic"));
    EXPECT_THAT(status.error_message(), Not(HasSubstr("crypto_scams")));
  }
  {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::OptOutRequest opt;
    opt.set_address("x@example.com");
    opt.set_scope(v1::TOPIC);
    opt.set_topic("crypto_scams");
    opt.mutable_proof()->set_source(v1::CRM);
    v1::OptOutResponse resp;
    EXPECT_EQ(stub_->OptOut(&ctx, opt, &resp).error_code(), grpc::INVALID_ARGUMENT);
  }
  for (const char* table : {"subjects", "addresses", "events", "suppressions", "consents"}) {
    EXPECT_EQ(db_->Scalar(std::string("SELECT count(*) FROM ") + table), "0") << table;
  }
}

TEST_F(HeralddTest, MetricsCountCallsAndLogsCarryNoPersonalData) {
  v1::UpsertSubjectRequest r;
  r.set_external_id("log-1");
  r.set_surname("Zakharchenko-Unique");
  r.add_emails("log.person@example.org");
  r.add_phones("+994 55 987 65 43");
  ASSERT_TRUE(Upsert(HeralddProcess::kCrmKey, r).ok());
  r.add_emails("broken@@example.org");
  EXPECT_EQ(Upsert(HeralddProcess::kCrmKey, r).error_code(), grpc::INVALID_ARGUMENT);

  std::string metrics;
  ASSERT_EQ(testing::HttpGet(server_->ops_port(), "/metrics", &metrics), 200);
  EXPECT_THAT(metrics,
              HasSubstr("herald_rpc_requests_total{code=\"OK\",method=\"UpsertSubject\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("herald_rpc_requests_total{code=\"INVALID_ARGUMENT\","
                                 "method=\"UpsertSubject\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("herald_rpc_duration_seconds_bucket"));
  EXPECT_THAT(metrics, HasSubstr("herald_db_pool_connections{state=\"in_use\"}"));
  EXPECT_THAT(metrics, HasSubstr("herald_db_statement_duration_seconds_count"));

  std::string log = server_->Log();
  EXPECT_THAT(log, HasSubstr("\"method\":\"UpsertSubject\""));
  EXPECT_THAT(log, HasSubstr("\"status\":\"INVALID_ARGUMENT\""));
  EXPECT_THAT(log, HasSubstr("\"request_id\""));
  EXPECT_THAT(log, HasSubstr("\"latency_ms\""));
  for (const char* personal :
       {"Zakharchenko", "log.person", "example.org", "559876543", "broken@@"}) {
    EXPECT_THAT(log + metrics, Not(HasSubstr(personal))) << personal;
  }
}

TEST_F(HeralddTest, SigtermFinishesTheCallInFlightThenExitsZero) {
  // Hold a lock the gate needs, so a CheckEligibility call is provably in flight.
  pqxx::connection blocker(db_->dsn());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE suppressions IN ACCESS EXCLUSIVE MODE");
  grpc::Status call_status;
  v1::CheckEligibilityResponse resp;
  std::thread call([&] {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::CheckEligibilityRequest check;
    check.mutable_recipient()->set_address("inflight@example.com");
    check.set_channel(v1::EMAIL);
    check.set_topic("events");
    call_status = stub_->CheckEligibility(&ctx, check, &resp);
  });
  // Wait until the server's statement is waiting on our lock.
  testing::Eventually([&] {
    return db_->Scalar(
               "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
               " AND datname = current_database()") == "1";
  });
  ASSERT_EQ(db_->Scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()"),
            "1");
  std::thread stopper([&] { EXPECT_EQ(server_->Stop(SIGTERM), 0); });
  // The drain has begun before the call can complete.
  EXPECT_TRUE(server_->WaitForLogLine({"\"msg\":\"shutting down\""}));
  lock.commit();  // release: the in-flight call completes during shutdown
  call.join();
  stopper.join();
  EXPECT_TRUE(call_status.ok()) << call_status.error_message();
  EXPECT_EQ(resp.decision().reason(), v1::NO_CONSENT);
  std::string log = server_->Log();
  EXPECT_LT(log.find("shutting down"), log.find("\"method\":\"CheckEligibility\""));
  EXPECT_THAT(log, HasSubstr("\"msg\":\"stopped\""));
}

// /readyz and gRPC health follow PostgreSQL: unready while it is stopped, ready again when
// it is back. This test owns its PostgreSQL cluster, so stopping it disturbs no other test.
TEST(HeralddReadiness, FollowsPostgresDownAndUp) {
  if (!std::getenv("HERALD_TEST_DATABASE_URL")) {
    if (testing::InCi()) FAIL() << "HERALD_TEST_DATABASE_URL is not set under CI";
    GTEST_SKIP() << "no PostgreSQL configured";
  }
  const char* state = std::getenv("HERALD_TEST_STATE_DIR");
  std::string dir =
      std::string(state ? state : "/var/tmp") + "/readyz-pg-" + std::to_string(getpid());
  int port = testing::FreePort();
  std::string pg = std::string(HERALD_SOURCE_DIR) + "/deploy/dev/pg";
  auto pg_cmd = [&](const std::string& args) {
    return std::system((pg + " " + args + " >/dev/null").c_str());
  };
  ASSERT_EQ(pg_cmd("start " + dir + " " + std::to_string(port)), 0);
  struct Cleanup {
    std::function<void()> fn;
    ~Cleanup() { fn(); }
  } cleanup{[&] {
    pg_cmd("stop " + dir);
    (void)std::system(("rm -rf '" + dir + "'").c_str());
  }};
  std::string dsn = "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/postgres";
  HeralddProcess server(dsn);
  server.Start();
  auto health = grpc::health::v1::Health::NewStub(server.Channel());
  auto health_status = [&] {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    health->Check(&ctx, req, &resp);
    return resp.status();
  };
  auto wait_for = [&](int want, int seconds) {
    return testing::Eventually(
        [&] { return testing::HttpGet(server.ops_port(), "/readyz") == want; },
        std::chrono::seconds(seconds), std::chrono::milliseconds(100));
  };
  ASSERT_TRUE(wait_for(200, 5));
  EXPECT_EQ(health_status(), grpc::health::v1::HealthCheckResponse::SERVING);

  ASSERT_EQ(pg_cmd("stop " + dir), 0);
  EXPECT_TRUE(wait_for(503, 10)) << server.Log();
  EXPECT_EQ(health_status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  std::string body;
  testing::HttpGet(server.ops_port(), "/readyz", &body);
  EXPECT_THAT(body, HasSubstr("database"));
  // SEC-8: liveness never asks the database: an outage must not get the process restarted.
  EXPECT_EQ(testing::HttpGet(server.ops_port(), "/healthz"), 200);

  ASSERT_EQ(pg_cmd("start " + dir + " " + std::to_string(port)), 0);
  EXPECT_TRUE(wait_for(200, 15)) << server.Log();
  EXPECT_EQ(health_status(), grpc::health::v1::HealthCheckResponse::SERVING);
  // And calls work again through the healed pool.
  auto stub = v1::SubscriptionService::NewStub(server.Channel());
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kCrmKey);
  v1::ListTopicsResponse topics;
  EXPECT_TRUE(stub->ListTopics(&ctx, v1::ListTopicsRequest(), &topics).ok());
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// Runs heraldctl against the server; returns its exit status and output (stdout + stderr).
int RunHeraldctl(const HeralddProcess& server, const std::string& args, std::string* out) {
  return server.Heraldctl(HeralddProcess::kCrmKey, args, out);
}

TEST_F(HeralddTest, HeraldctlDrivesTheService) {
  std::string out;
  EXPECT_EQ(RunHeraldctl(*server_, "health", &out), 0);
  EXPECT_THAT(out, HasSubstr("SERVING"));
  EXPECT_EQ(RunHeraldctl(*server_,
                         "upsert-subject --external-id ctl-1 --surname Aliyev "
                         "--email ctl@example.com --phone '+994 50 123 45 67'",
                         &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("+994501234567"));
  EXPECT_EQ(RunHeraldctl(*server_, "--json find-subjects --external-id ctl-1", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"external_id\":\"ctl-1\""));
  EXPECT_EQ(RunHeraldctl(*server_, "check --channel EMAIL --topic events --address ctl@example.com",
                         &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("DENY NO_CONSENT"));
  EXPECT_EQ(
      RunHeraldctl(*server_, "check --channel FAX --topic events --address x@example.com", &out),
      2);
  EXPECT_EQ(
      RunHeraldctl(*server_, "check --channel EMAIL --topic nope --address x@example.com", &out),
      1);
  EXPECT_THAT(out, HasSubstr("INVALID_ARGUMENT"));
}

}  // namespace
}  // namespace herald
