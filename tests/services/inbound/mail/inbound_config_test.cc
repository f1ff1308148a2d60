// The inbound mail options (docs/configuration.md#inbound-e-mail): the secret only from the
// environment, checked for length; the size limit within its range.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "services/heraldd/herald_config.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using Env = std::map<std::string, std::string>;

constexpr char kKeys[] = "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

std::string Error(const std::string& yaml, Env env) {
  env["HERALD_SUPPRESSION_KEYS"] = kKeys;
  std::string path;
  if (!yaml.empty()) {
    path = ::testing::TempDir() + "inbound-config-" + std::to_string(getpid()) + ".yaml";
    std::ofstream(path) << yaml;
  }
  try {
    LoadHeraldConfig(path, env);
  } catch (const ConfigError& e) {
    if (!path.empty()) std::remove(path.c_str());
    return e.what();
  }
  if (!path.empty()) std::remove(path.c_str());
  return "";
}

TEST(InboundMailConfigTest, OffByDefaultWithAOneMebibyteLimit) {
  HeraldConfig c = LoadHeraldConfig("", {{"HERALD_SUPPRESSION_KEYS", kKeys}});
  EXPECT_TRUE(c.inbound_mail.secret.empty());
  EXPECT_EQ(c.inbound_mail.max_bytes, 1048576);
}

TEST(InboundMailConfigTest, SecretFromTheEnvironmentAndLimitFromEither) {
  HeraldConfig c = LoadHeraldConfig("", {{"HERALD_SUPPRESSION_KEYS", kKeys},
                                         {"HERALD_INBOUND_MAIL_SECRET", "0123456789abcdef"},
                                         {"HERALD_INBOUND_MAIL_MAX_BYTES", "5000"}});
  EXPECT_EQ(c.inbound_mail.secret, "0123456789abcdef");
  EXPECT_EQ(c.inbound_mail.max_bytes, 5000);
  EXPECT_EQ(Error("inbound_mail:\n  max_bytes: 2048\n", {}), "");
}

TEST(InboundMailConfigTest, ShortSecretSecretInTheFileAndBadLimitAreRefused) {
  std::string e = Error("", {{"HERALD_INBOUND_MAIL_SECRET", "short-secret"}});
  EXPECT_THAT(e, HasSubstr("HERALD_INBOUND_MAIL_SECRET: at least 16 characters"));
  EXPECT_THAT(e, Not(HasSubstr("short-secret")));  // the value is never repeated
  EXPECT_THAT(Error("inbound_mail:\n  secret: 0123456789abcdef0123\n", {}),
              HasSubstr("inbound_mail.secret: unknown key"));
  EXPECT_THAT(Error("", {{"HERALD_INBOUND_MAIL_MAX_BYTES", "10"}}),
              HasSubstr("inbound_mail.max_bytes: expected a whole number from 1024 to 26214400"));
  EXPECT_THAT(Error("inbound_mail:\n  max_bytes: lots\n", {}), HasSubstr("inbound_mail.max_bytes"));
}

}  // namespace
}  // namespace herald
