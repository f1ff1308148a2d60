// A running heraldd under pressure stays available and honest about it: a saturated pool is
// not an unready instance, stalled recipient streams hold no connection other calls need,
// and once SIGTERM arrives no probe says "serving" again.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <memory>
#include <pqxx/pqxx>
#include <thread>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/campaign_driver.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using testing::HeralddProcess;
using HealthStatus = grpc::health::v1::HealthCheckResponse;

constexpr int kPoolSize = 2;

class AvailabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    server_ = std::make_unique<HeralddProcess>(db_->dsn());
    server_->AddEnv("HERALD_DATABASE_POOL_SIZE=" + std::to_string(kPoolSize));
    server_->AddEnv("HERALD_DATABASE_ACQUIRE_TIMEOUT_MS=500");
    server_->Start();
    dispatch_ = v1::DispatchService::NewStub(server_->Channel());
    health_ = grpc::health::v1::Health::NewStub(server_->Channel());
  }

  HealthStatus::ServingStatus Health() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc::health::v1::HealthCheckRequest req;
    HealthStatus resp;
    if (!health_->Check(&ctx, req, &resp).ok()) return HealthStatus::UNKNOWN;
    return resp.status();
  }

  std::string CreateCampaign() {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::CreateCampaignRequest r;
    r.set_idempotency_key("availability");
    r.set_name("Availability");
    r.set_topic("special_offers");
    r.set_channel(v1::EMAIL);
    r.mutable_content()->set_subject("Offers");
    r.mutable_content()->set_text("Hello");
    v1::CreateCampaignResponse resp;
    auto status = dispatch_->CreateCampaign(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return resp.campaign().id();
  }

  grpc::Status GetCampaign(const std::string& id, int deadline_ms = 5000) {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(deadline_ms));
    v1::GetCampaignRequest r;
    r.set_campaign_id(id);
    v1::Campaign c;
    return dispatch_->GetCampaign(&ctx, r, &c);
  }

  grpc::Status ListCampaigns() {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    v1::ListCampaignsResponse resp;
    return dispatch_->ListCampaigns(&ctx, v1::ListCampaignsRequest(), &resp);
  }

  // heraldd's sessions waiting on a lock the test holds.
  int LockWaiters() {
    return std::stoi(
        db_->Scalar("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"));
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::DispatchService::Stub> dispatch_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

// Every pooled connection busy (calls waiting on a lock) is load, not ill health: a load
// balancer that saw NOT_SERVING would drop the busiest healthy instance.
TEST_F(AvailabilityTest, ASaturatedPoolStaysServing) {
  std::string id = CreateCampaign();
  ASSERT_EQ(Health(), HealthStatus::SERVING);
  pqxx::connection blocker(db_->dsn());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE");
  std::vector<std::thread> stuck;
  for (int i = 0; i < kPoolSize; ++i) stuck.emplace_back([&] { GetCampaign(id, 20000); });
  EXPECT_TRUE(
      testing::Eventually([&] { return LockWaiters() >= kPoolSize; }, std::chrono::seconds(10)));
  // The pool is saturated: a call that needs a connection waits out the acquire timeout.
  EXPECT_EQ(ListCampaigns().error_code(), grpc::UNAVAILABLE);
  // Several probe periods (500 ms each) pass while the pool stays saturated.
  for (int i = 0; i < 15; ++i) {
    EXPECT_EQ(Health(), HealthStatus::SERVING) << "sample " << i;
    EXPECT_EQ(testing::HttpGet(server_->ops_port(), "/readyz"), 200) << "sample " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  lock.commit();
  for (auto& t : stuck) t.join();
  EXPECT_TRUE(GetCampaign(id).ok());
}

// More stalled AddRecipients streams than the pool has connections: the rest of the service
// keeps answering, and each stream, once it goes on, ends with the results it always had.
TEST_F(AvailabilityTest, StalledRecipientStreamsLeaveOtherCallsAnswering) {
  auto subjects = testing::MakeSubjects(*db_, 6, "stall");
  std::string id = CreateCampaign();
  constexpr int kStreams = kPoolSize + 1;
  struct Stream {
    grpc::ClientContext ctx;
    v1::AddRecipientsResponse resp;
    std::unique_ptr<grpc::ClientWriter<v1::AddRecipientsRequest>> writer;
  };
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < kStreams; ++i) {
    auto s = std::make_unique<Stream>();
    testing::Authorize(s->ctx, HeralddProcess::kSchedulerKey);
    s->writer = dispatch_->AddRecipients(&s->ctx, &s->resp);
    v1::AddRecipientsRequest m;
    m.set_campaign_id(id);
    m.add_rows()->set_subject_id(subjects[static_cast<size_t>(i)]);
    m.add_rows()->set_address("not an address");
    ASSERT_TRUE(s->writer->Write(m));
    streams.push_back(std::move(s));
  }
  // Gives the server the time to take whatever the open streams would hold (a pooled
  // connection in an open transaction each, once); the assertions below are about answers.
  testing::Eventually(
      [&] {
        return std::stoi(db_->Scalar("SELECT count(*) FROM pg_stat_activity WHERE state ="
                                     " 'idle in transaction' AND datname = current_database()")) >=
               kPoolSize;
      },
      std::chrono::seconds(2));
  for (int i = 0; i < 3; ++i) {
    auto got = GetCampaign(id);
    EXPECT_TRUE(got.ok()) << got.error_message();
    auto listed = ListCampaigns();
    EXPECT_TRUE(listed.ok()) << listed.error_message();
  }
  EXPECT_EQ(Health(), HealthStatus::SERVING);
  // The streams go on and end with their usual results.
  for (int i = 0; i < kStreams; ++i) {
    auto& s = *streams[static_cast<size_t>(i)];
    v1::AddRecipientsRequest m;
    m.add_rows()->set_subject_id(subjects[static_cast<size_t>(kStreams) + static_cast<size_t>(i)]);
    m.add_rows()->set_subject_id(subjects[0]);
    ASSERT_TRUE(s.writer->Write(m));
    ASSERT_TRUE(s.writer->WritesDone());
    auto status = s.writer->Finish();
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(s.resp.received(), 4);
    EXPECT_EQ(s.resp.skipped(), 1);
    EXPECT_EQ(s.resp.skipped_by_reason().at("bad address"), 1);
    ASSERT_EQ(s.resp.errors_size(), 1);
    EXPECT_EQ(s.resp.errors(0).row(), 2);
  }
  // The resolver queues the received rows in the background.
  EXPECT_EVENTUALLY(testing::Number(*db_, "SELECT count(*) FROM messages") == 6, 30000);
}

// From SIGTERM on, while in-flight calls drain, neither /readyz nor gRPC health may say
// "serving" again: the load balancer must stop sending before the listener closes.
TEST_F(AvailabilityTest, NoProbeSaysServingOnceTheDrainBegins) {
  std::string id = CreateCampaign();
  pqxx::connection blocker(db_->dsn());
  pqxx::work lock(blocker);
  lock.exec("LOCK TABLE campaigns IN ACCESS EXCLUSIVE MODE");
  grpc::Status in_flight;
  std::thread call([&] { in_flight = GetCampaign(id, 20000); });
  ASSERT_TRUE(testing::Eventually([&] { return LockWaiters() >= 1; }, std::chrono::seconds(10)));
  std::thread stopper([&] { EXPECT_EQ(server_->Stop(SIGTERM), 0); });
  ASSERT_TRUE(
      testing::Eventually([&] { return server_->Log().find("shutting down") != std::string::npos; },
                          std::chrono::seconds(10)));
  // The call is still held by the lock: the drain is in progress through every sample.
  for (int i = 0; i < 15; ++i) {
    EXPECT_NE(testing::HttpGet(server_->ops_port(), "/readyz"), 200) << "sample " << i;
    EXPECT_NE(Health(), HealthStatus::SERVING) << "sample " << i;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  lock.commit();
  call.join();
  stopper.join();
  EXPECT_TRUE(in_flight.ok()) << in_flight.error_message();
}

}  // namespace
}  // namespace herald
