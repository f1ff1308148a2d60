// SEC-5 knobs: the authserv-ids of our own MTA (off by default: every revocation and update
// marker waits for its link) and how long a confirmation link works.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "services/heraldd/herald_config.h"

namespace herald {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kKeys[] = "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

HeraldConfig Load(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  env["HERALD_SUPPRESSION_KEYS"] = kKeys;
  std::string path = ::testing::TempDir() + "marker-config-" + std::to_string(getpid()) + ".yaml";
  std::ofstream(path) << yaml;
  struct Remove {
    std::string p;
    ~Remove() { std::remove(p.c_str()); }
  } remove{path};
  return LoadHeraldConfig(path, env);
}

std::string Error(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  try {
    Load(yaml, std::move(env));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(MarkerConfigTest, NoTrustedMtaAndThirtyDayLinksByDefault_SEC5) {
  HeraldConfig c = Load("log_level: info\n");
  EXPECT_TRUE(c.inbound_mail.trusted_authserv_ids.empty());
  EXPECT_EQ(c.privacy.confirmation_link_days, 30);
}

TEST(MarkerConfigTest, TrustedIdsFromAFileListOrTheEnvironment_SEC5) {
  HeraldConfig file = Load(
      "inbound_mail:\n  trusted_authserv_ids: [mx1.herald.test, mx2.herald.test]\n"
      "privacy:\n  confirmation_link_days: 7\n");
  EXPECT_THAT(file.inbound_mail.trusted_authserv_ids,
              ElementsAre("mx1.herald.test", "mx2.herald.test"));
  EXPECT_EQ(file.privacy.confirmation_link_days, 7);
  HeraldConfig env = Load("", {{"HERALD_INBOUND_MAIL_TRUSTED_AUTHSERV_IDS", " mx.herald.test "}});
  EXPECT_THAT(env.inbound_mail.trusted_authserv_ids, ElementsAre("mx.herald.test"));
}

TEST(MarkerConfigTest, MalformedValuesAreRefusedNamingTheKey_SEC5) {
  EXPECT_THAT(Error("", {{"HERALD_INBOUND_MAIL_TRUSTED_AUTHSERV_IDS", "mx herald; dmarc=pass"}}),
              HasSubstr("inbound_mail.trusted_authserv_ids: an authserv-id is one token"));
  EXPECT_THAT(Error("privacy:\n  confirmation_link_days: 0\n"),
              HasSubstr("privacy.confirmation_link_days"));
  EXPECT_THAT(Error("privacy:\n  confirmation_link_days: 400\n"),
              HasSubstr("privacy.confirmation_link_days"));
}

}  // namespace
}  // namespace herald
