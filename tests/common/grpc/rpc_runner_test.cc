// The RPC edge maps whatever a handler throws to one status; nothing escapes to the server.
#include "common/grpc/rpc_runner.h"

#include <gmock/gmock.h>
#include <grpcpp/test/server_context_test_spouse.h>
#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <stdexcept>
#include <string>

#include "common/crypto/hash.h"
#include "common/error.h"

namespace herald {
namespace {

constexpr char kCrmKey[] = "crm-key-0123456789";

class RpcRunnerTest : public ::testing::Test {
 protected:
  RpcRunnerTest()
      : auth_({{"crm", crypto::ToHex(crypto::Sha256(kCrmKey)), {Scope::kCrm}}}),
        runner_(auth_, metrics_) {}

  template <typename Fn>
  grpc::Status Call(Fn&& handler) {
    grpc::ServerContext ctx;
    grpc::testing::ServerContextTestSpouse spouse(&ctx);
    spouse.AddClientMetadata("authorization", std::string("Bearer ") + kCrmKey);
    return runner_.Run(&ctx, "ListTopics", nullptr, nullptr, std::forward<Fn>(handler));
  }

  ApiKeyAuthenticator auth_;
  Metrics metrics_;
  RpcRunner runner_;
};

TEST_F(RpcRunnerTest, HeraldErrorsKeepTheirCode) {
  auto status = Call([](const Caller&) { throw NotFound("campaign_id: campaign"); });
  EXPECT_EQ(status.error_code(), grpc::NOT_FOUND);
}

TEST_F(RpcRunnerTest, StandardExceptionsAnswerInternal) {
  auto status = Call([](const Caller&) { throw std::logic_error("secret detail"); });
  EXPECT_EQ(status.error_code(), grpc::INTERNAL);
  EXPECT_EQ(status.error_message(), "internal error");
}

// The database away or out of space answers UNAVAILABLE with what happened to the change:
// the caller knows to retry later, not to report a bug.
TEST_F(RpcRunnerTest, DatabaseOutagesAnswerUnavailableAndSayWhatBecameOfTheChange) {
  auto status =
      Call([](const Caller&) { throw pqxx::sql_error("could not extend file", "", "53100"); });
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("disk full"));
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("nothing was changed"));
  status =
      Call([](const Caller&) { throw pqxx::sql_error("terminating connection", "", "57P01"); });
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("restarting"));
  status = Call([](const Caller&) { throw pqxx::in_doubt_error("commit result unknown"); });
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), ::testing::HasSubstr("same idempotency key"));
  status = Call([](const Caller&) { throw pqxx::broken_connection("gone"); });
  EXPECT_EQ(status.error_code(), grpc::UNAVAILABLE);
  status = Call([](const Caller&) { throw pqxx::sql_error("syntax", "", "42601"); });
  EXPECT_EQ(status.error_code(), grpc::INTERNAL);
}

// A thrown int (or any type not derived from std::exception) must not reach the gRPC
// library, which would terminate the whole server; it is one more internal error, counted.
TEST_F(RpcRunnerTest, ANonStandardThrownValueAnswersInternalAndIsCounted) {
  struct NotAnException {};
  auto status = Call([](const Caller&) { throw 42; });
  EXPECT_EQ(status.error_code(), grpc::INTERNAL);
  EXPECT_EQ(status.error_message(), "internal error");
  status = Call([](const Caller&) { throw NotAnException{}; });
  EXPECT_EQ(status.error_code(), grpc::INTERNAL);
  std::string text = metrics_.Serialize();
  EXPECT_NE(text.find("herald_rpc_requests_total{code=\"INTERNAL\",method=\"ListTopics\"} 2"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace herald
