// heraldd's wiring of the SMS hooks: which providers /hooks/sms/ accepts comes from each
// provider's kind registration, with the secret from its variable.
#include "services/heraldd/wiring.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

ProviderConfig Provider(const std::string& name, const std::string& kind,
                        const std::string& secret) {
  ProviderConfig p;
  p.name = name;
  p.kind = kind;
  p.country = "RU";
  p.secret = secret;
  return p;
}

TEST(HeralddWiringTest, EverySmsKindGetsItsHookDialectAndSecret) {
  CoreConfig c;
  c.providers = {Provider("relay", "smtp", "pw"), Provider("tw", "twilio", "token"),
                 Provider("js", "json_sms", ""), Provider("tw2", "twilio", "t2")};
  auto hooks = SmsHookProviders(c.providers);
  ASSERT_EQ(hooks.size(), 3u);
  EXPECT_EQ(hooks[0].name, "tw");
  EXPECT_EQ(hooks[0].dialect, inbound::sms::Dialect::kTwilio);
  EXPECT_EQ(hooks[0].secret, "token");
  EXPECT_EQ(hooks[1].name, "js");
  EXPECT_EQ(hooks[1].dialect, inbound::sms::Dialect::kJson);
  EXPECT_EQ(hooks[1].secret, "");  // listed, so its calls get a 403 rather than a 404
  EXPECT_EQ(hooks[2].name, "tw2");
}

TEST(HeralddWiringTest, NoSmsProvidersNoHooks) {
  CoreConfig c;
  c.providers = {Provider("relay", "smtp", "pw")};
  EXPECT_TRUE(SmsHookProviders(c.providers).empty());
}

}  // namespace
}  // namespace herald
