// grpc.reflection: on by default (behind the key check), off on request, nothing else. SEC-7.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/config/config.h"

namespace herald {
namespace {

using Env = std::map<std::string, std::string>;

Env With(Env extra) {
  extra["HERALD_SUPPRESSION_KEYS"] =
      "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  return extra;
}

TEST(GrpcReflectionConfig, OnByDefaultOffOnRequestAndNothingElse) {
  EXPECT_TRUE(LoadConfig("", With({})).grpc_reflection);
  EXPECT_FALSE(LoadConfig("", With({{"HERALD_GRPC_REFLECTION", "false"}})).grpc_reflection);
  EXPECT_TRUE(LoadConfig("", With({{"HERALD_GRPC_REFLECTION", "true"}})).grpc_reflection);
  try {
    LoadConfig("", With({{"HERALD_GRPC_REFLECTION", "off"}}));
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), ::testing::HasSubstr("grpc.reflection"));
  }
}

}  // namespace
}  // namespace herald
