// The provider registry builds each provider from its kind's registration: a hand-made
// entry (not through LoadConfig) is checked by the same rules.
#include "services/dispatch/providers/provider_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace herald::dispatch {
namespace {

using ::testing::HasSubstr;

ProviderConfig Twilio(std::map<std::string, std::string> settings) {
  ProviderConfig p;
  p.name = "tw";
  p.kind = "twilio";
  p.country = "RU";
  p.secret = "token";
  p.settings = std::move(settings);
  return p;
}

std::string BuildError(const ProviderConfig& p) {
  SystemClock clock;
  try {
    ProviderRegistry registry({p}, {"RU"}, clock);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ProviderRegistryTest, HandMadeEntriesAreCheckedByTheirKind) {
  EXPECT_THAT(
      BuildError(Twilio({{"account_sid", "AC1"}, {"from", "Herald"}, {"timeout_s", "15s"}})),
      HasSubstr("providers.tw.settings.timeout_s"));
  EXPECT_THAT(BuildError(Twilio({{"account_sid", "AC1"}, {"from", "Herald"}, {"port", "1"}})),
              HasSubstr("providers.tw.settings.port"));
  ProviderConfig unknown = Twilio({});
  unknown.kind = "fax";
  EXPECT_THAT(BuildError(unknown), HasSubstr("providers.tw.kind"));
}

TEST(ProviderRegistryTest, AValidEntryServesItsChannel) {
  SystemClock clock;
  ProviderRegistry registry({Twilio({{"account_sid", "AC1"}, {"from", "Herald"}})}, {"RU"}, clock);
  auto sms = registry.Pick(Channel::kSms, false);
  ASSERT_TRUE(sms.has_value());
  EXPECT_EQ(sms->name, "tw");
  EXPECT_FALSE(registry.Pick(Channel::kEmail, true).has_value());
}

}  // namespace
}  // namespace herald::dispatch
