// The operator and retention keys (destruction acts, retention sweep).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "services/heraldd/herald_config.h"
#include "services/privacy/erasure_settings.h"

namespace herald {
namespace {

using ::testing::HasSubstr;

constexpr char kKeys[] = "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

HeraldConfig Load(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  std::string path =
      ::testing::TempDir() + "herald_erasure_config_" + std::to_string(getpid()) + ".yaml";
  {
    std::ofstream out(path);
    out << yaml;
  }
  env["HERALD_SUPPRESSION_KEYS"] = kKeys;
  try {
    HeraldConfig c = LoadHeraldConfig(path, env);
    std::remove(path.c_str());
    return c;
  } catch (...) {
    std::remove(path.c_str());
    throw;
  }
}

std::string ErrorOf(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  try {
    Load(yaml, std::move(env));
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

TEST(ErasureConfigTest, DefaultsAreNinetyDaysAndThreeYears) {
  HeraldConfig c = Load("");
  privacy::ErasureSettings s = c.erasure;
  EXPECT_EQ(s.message_content_days, 90);
  EXPECT_EQ(s.destruction_record_years, 3);
  EXPECT_EQ(s.information_system, "Herald");
  EXPECT_EQ(s.operator_name, "");
}

TEST(ErasureConfigTest, OperatorAndRetentionSectionsFromFileAndEnvironment) {
  HeraldConfig c = Load(
      "operator:\n  name: OOO Example\n  address: 1 Main St, Moscow\n"
      "  information_system: Herald CRM mailing\n"
      "retention:\n  message_content_days: 30\n  destruction_record_years: 5\n",
      {{"HERALD_RETENTION_MESSAGE_CONTENT_DAYS", "45"}});
  privacy::ErasureSettings s = c.erasure;
  EXPECT_EQ(s.operator_name, "OOO Example");
  EXPECT_EQ(s.operator_address, "1 Main St, Moscow");
  EXPECT_EQ(s.information_system, "Herald CRM mailing");
  EXPECT_EQ(s.message_content_days, 45);  // the environment wins
  EXPECT_EQ(s.destruction_record_years, 5);
}

TEST(ErasureConfigTest, BadValuesAndUnknownKeysNameTheKey) {
  EXPECT_THAT(ErrorOf("retention:\n  message_content_days: 0\n"),
              HasSubstr("retention.message_content_days"));
  EXPECT_THAT(ErrorOf("retention:\n  destruction_record_years: forever\n"),
              HasSubstr("retention.destruction_record_years"));
  EXPECT_THAT(ErrorOf("retention:\n  content_days: 9\n"), HasSubstr("retention.content_days"));
  EXPECT_THAT(ErrorOf("operator:\n  phone: 1\n"), HasSubstr("operator.phone"));
  EXPECT_THAT(ErrorOf("operator:\n  information_system: ''\n"),
              HasSubstr("operator.information_system"));
}

}  // namespace
}  // namespace herald
