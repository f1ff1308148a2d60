// The reflection service's answers over the descriptor pool (the key check in front of it
// is tested against a running heraldd in tests/integration/edge_test.cc). SEC-7.
#include "common/grpc/reflection_service.h"

#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include "herald/v1/dispatch.grpc.pb.h"

namespace herald {
namespace {

using Request = ReflectionService::Request;

class ReflectionAnswers : public ::testing::Test {
 protected:
  ReflectionAnswers()
      : auth_({}),
        runner_(auth_, metrics_),
        service_(runner_, {"herald.v1.DispatchService", "grpc.health.v1.Health"}) {
    v1::SendRequest::descriptor();  // links dispatch.proto into the pool
  }
  ApiKeyAuthenticator auth_;
  Metrics metrics_;
  RpcRunner runner_;
  ReflectionService service_;
};

TEST_F(ReflectionAnswers, ListsTheServicesItWasGiven) {
  Request r;
  r.set_list_services("");
  std::set<std::string> sent;
  auto resp = service_.Answer(r, sent);
  ASSERT_EQ(resp.list_services_response().service_size(), 2);
  EXPECT_EQ(resp.list_services_response().service(0).name(), "herald.v1.DispatchService");
}

TEST_F(ReflectionAnswers, FileContainingSymbolCarriesTheFileAndItsDependenciesOnce) {
  Request r;
  r.set_file_containing_symbol("herald.v1.DispatchService");
  std::set<std::string> sent;
  auto resp = service_.Answer(r, sent);
  ASSERT_TRUE(resp.has_file_descriptor_response()) << resp.DebugString();
  std::vector<std::string> names;
  for (const auto& bytes : resp.file_descriptor_response().file_descriptor_proto()) {
    google::protobuf::FileDescriptorProto fd;
    ASSERT_TRUE(fd.ParseFromString(bytes));
    names.push_back(fd.name());
  }
  ASSERT_FALSE(names.empty());
  EXPECT_EQ(names[0], "herald/v1/dispatch.proto");
  EXPECT_NE(std::find(names.begin(), names.end(), "herald/v1/common.proto"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "google/protobuf/timestamp.proto"), names.end());
  // A method name resolves too; files already sent on this stream are not repeated.
  r.set_file_containing_symbol("herald.v1.DispatchService.Send");
  auto again = service_.Answer(r, sent);
  EXPECT_EQ(again.file_descriptor_response().file_descriptor_proto_size(), 1);
}

TEST_F(ReflectionAnswers, UnknownNamesAnswerNotFound) {
  Request r;
  r.set_file_containing_symbol("herald.v1.NoSuchService");
  std::set<std::string> sent;
  EXPECT_EQ(service_.Answer(r, sent).error_response().error_code(), grpc::NOT_FOUND);
  r.set_file_by_filename("../../etc/passwd");
  EXPECT_EQ(service_.Answer(r, sent).error_response().error_code(), grpc::NOT_FOUND);
  r.set_file_by_filename("herald/v1/dispatch.proto");  // positive control
  EXPECT_TRUE(service_.Answer(r, sent).has_file_descriptor_response());
}

}  // namespace
}  // namespace herald
