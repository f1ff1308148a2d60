// The SMS keyword and reply config keys: lists replace the defaults, reply texts land in
// their slot, and texts or lists that cannot work stop start-up naming the key.
#include <gtest/gtest.h>

#include "services/heraldd/herald_config.h"
#include "services/inbound/sms/inbound_sms_config.h"

namespace herald {
namespace {

const std::string kKeys = "k1:" + std::string(64, 'a');

HeraldConfig Load(std::map<std::string, std::string> env) {
  env["HERALD_SUPPRESSION_KEYS"] = kKeys;
  return LoadHeraldConfig("", env);
}

TEST(SmsConfigTest, DefaultsAreTheStandardsLists) {
  HeraldConfig c = Load({});
  auto m = inbound::sms::KeywordsFromConfig(c.sms);
  EXPECT_EQ(m.Classify("ОТПИСАТЬСЯ"), inbound::sms::KeywordClass::kStop);
  EXPECT_EQ(m.Classify("unstop"), inbound::sms::KeywordClass::kStart);
  auto o = inbound::sms::InboundOptionsFromConfig(c.sms, c.core.default_phone_region);
  EXPECT_EQ(o.start_document_version, "sms-start");
  EXPECT_EQ(o.replies.at("help").size(), 3u);
}

TEST(SmsConfigTest, ListsAndRepliesFromTheEnvironment) {
  HeraldConfig c = Load({{"HERALD_SMS_STOP_KEYWORDS", "HALT, СТОП"},
                         {"HERALD_SMS_REPLY_STOP_RU", "Готово, вы отписаны."},
                         {"HERALD_SMS_START_DOCUMENT_VERSION", "sms-2026"}});
  auto m = inbound::sms::KeywordsFromConfig(c.sms);
  EXPECT_EQ(m.Classify("halt"), inbound::sms::KeywordClass::kStop);
  EXPECT_EQ(m.Classify("стоп"), inbound::sms::KeywordClass::kStop);
  EXPECT_EQ(m.Classify("STOP"), inbound::sms::KeywordClass::kNone);
  auto o = inbound::sms::InboundOptionsFromConfig(c.sms, c.core.default_phone_region);
  EXPECT_EQ(o.replies.at("stop").at("ru"), "Готово, вы отписаны.");
  EXPECT_NE(o.replies.at("stop").at("az"), "");  // the others keep their defaults
  EXPECT_EQ(o.start_document_version, "sms-2026");
}

TEST(SmsConfigTest, UnusableValuesNameTheKey) {
  try {
    Load({{"HERALD_SMS_REPLY_HELP_EN", "Hi {{name}}"}});
    FAIL() << "a template tag was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sms.reply_help_en"), std::string::npos);
  }
  HeraldConfig both = Load({{"HERALD_SMS_HELP_KEYWORDS", "STOP"}});
  EXPECT_THROW(inbound::sms::KeywordsFromConfig(both.sms), std::invalid_argument);
}

}  // namespace
}  // namespace herald
