// grpc.reflection: on by default (behind the key check), off on request, nothing else. SEC-7.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/heraldd/herald_config.h"

namespace herald {
namespace {

using Env = std::map<std::string, std::string>;

Env With(Env extra) {
  extra["HERALD_SUPPRESSION_KEYS"] =
      "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
  return extra;
}

TEST(GrpcReflectionConfig, OnByDefaultOffOnRequestAndNothingElse) {
  EXPECT_TRUE(LoadHeraldConfig("", With({})).core.grpc_reflection);
  EXPECT_FALSE(
      LoadHeraldConfig("", With({{"HERALD_GRPC_REFLECTION", "false"}})).core.grpc_reflection);
  EXPECT_TRUE(
      LoadHeraldConfig("", With({{"HERALD_GRPC_REFLECTION", "true"}})).core.grpc_reflection);
  try {
    LoadHeraldConfig("", With({{"HERALD_GRPC_REFLECTION", "off"}}));
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_THAT(std::string(e.what()), ::testing::HasSubstr("grpc.reflection"));
  }
}

}  // namespace
}  // namespace herald
