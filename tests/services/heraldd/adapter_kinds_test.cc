// Each adapter kind's registration: config checks provider entries against it (kind,
// settings, types, bounds) and --help lists it.
#include "common/config/adapter_kinds.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "services/heraldd/herald_config.h"

namespace herald {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const std::string kKeys = "k1:" + std::string(64, 'a');

// Loads a config with one provider of `kind` and `settings` (YAML lines under settings:).
HeraldConfig LoadProvider(const std::string& kind, const std::string& settings) {
  static int counter = 0;
  std::string path = ::testing::TempDir() + "herald_adapter_kinds_" + std::to_string(getpid()) +
                     "_" + std::to_string(counter++) + ".yaml";
  {
    std::ofstream out(path);
    out << "providers:\n  - name: p1\n    kind: " << kind << "\n    country: RU\n";
    if (!settings.empty()) out << "    settings:\n" << settings;
  }
  struct Remove {
    std::string path;
    ~Remove() { std::remove(path.c_str()); }
  } remove{path};
  return LoadHeraldConfig(path, {{"HERALD_SUPPRESSION_KEYS", kKeys}});
}

std::string ProviderError(const std::string& kind, const std::string& settings) {
  try {
    LoadProvider(kind, settings);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(AdapterKindsTest, EveryKindIsRegisteredOnceWithValidDefaults) {
  std::set<std::string> names;
  for (const auto& k : AdapterKinds()) {
    EXPECT_TRUE(names.insert(k.name).second) << k.name;
    EXPECT_EQ(FindAdapterKind(k.name), &k);
    // Its own defaults pass its own checks.
    ProviderConfig p;
    p.name = "p1";
    p.kind = k.name;
    EXPECT_NO_THROW(AdapterSettings::Check(p, "providers[0]")) << k.name;
    // E-mail relays take no webhooks; every SMS kind signs its hooks in some dialect.
    EXPECT_EQ(k.channel == AdapterChannel::kEmail, k.hook_dialect == SmsHookDialect::kNone);
  }
  EXPECT_EQ(names, (std::set<std::string>{"smtp", "twilio", "json_sms"}));
  EXPECT_EQ(FindAdapterKind("sendgrid"), nullptr);
}

TEST(AdapterKindsTest, DefaultsAreFilledInAndTyped) {
  HeraldConfig c = LoadProvider("twilio", "      account_sid: AC123\n      timeout_s: 20\n");
  ASSERT_EQ(c.core.providers.size(), 1u);
  AdapterSettings s = AdapterSettings::Check(c.core.providers[0], "providers[0]");
  EXPECT_EQ(s.kind().id, AdapterKindId::kTwilio);
  EXPECT_EQ(s.Text("account_sid"), "AC123");
  EXPECT_EQ(s.Text("base_url"), "https://api.twilio.com");
  EXPECT_EQ(s.Int("timeout_s"), 20);
  ProviderConfig smtp;
  smtp.name = "relay";
  smtp.kind = "smtp";
  AdapterSettings m = AdapterSettings::Check(smtp, "providers.relay");
  EXPECT_EQ(m.Int("timeout_s"), 30);
  EXPECT_EQ(m.Int("max_connections"), 4);
  EXPECT_TRUE(m.Bool("verify_peer"));
  EXPECT_EQ(m.Text("starttls"), "opportunistic");
  smtp.settings["verify_peer"] = "false";
  EXPECT_FALSE(AdapterSettings::Check(smtp, "providers.relay").Bool("verify_peer"));
}

TEST(AdapterKindsTest, SettingsAreCheckedByTheirKindsRegistration) {
  EXPECT_THAT(ProviderError("smtp", "      timeout_s: 30s\n"),
              AllOf(HasSubstr("providers[0].settings.timeout_s"), HasSubstr("whole number")));
  EXPECT_THAT(ProviderError("smtp", "      max_connections: 0\n"),
              HasSubstr("providers[0].settings.max_connections"));
  EXPECT_THAT(ProviderError("twilio", "      timeout_s: 301\n"),
              HasSubstr("providers[0].settings.timeout_s"));
  EXPECT_THAT(ProviderError("json_sms", "      timeout_s: \" 15\"\n"),
              HasSubstr("providers[0].settings.timeout_s"));
  EXPECT_THAT(ProviderError("smtp", "      starttls: sometimes\n"),
              AllOf(HasSubstr("providers[0].settings.starttls"), HasSubstr("opportunistic")));
  EXPECT_THAT(ProviderError("smtp", "      verify_peer: \"yes\"\n"),
              HasSubstr("providers[0].settings.verify_peer"));
  // A setting of another kind is unknown to this one.
  EXPECT_THAT(ProviderError("twilio", "      max_connections: 4\n"),
              AllOf(HasSubstr("providers[0].settings.max_connections"), HasSubstr("unknown"),
                    HasSubstr("twilio")));
  EXPECT_THAT(ProviderError("carrier_pigeon", ""),
              AllOf(HasSubstr("providers[0].kind"), HasSubstr("smtp, twilio, json_sms")));
  EXPECT_NO_THROW(LoadProvider("json_sms", "      timeout_s: 300\n      from: Herald\n"));
}

TEST(AdapterKindsTest, ProviderNumbersAreStrictToo) {
  EXPECT_EQ(ProviderError("smtp", ""), "(no error)");
  for (const char* field : {"priority", "breaker_failures", "breaker_open_s"}) {
    std::string path = ::testing::TempDir() + "herald_adapter_num_" + std::to_string(getpid()) +
                       "_" + field + ".yaml";
    std::ofstream(path) << "providers:\n  - name: p1\n    kind: smtp\n    country: RU\n    "
                        << field << ": 5s\n";
    std::string error = "(no error)";
    try {
      LoadHeraldConfig(path, {{"HERALD_SUPPRESSION_KEYS", kKeys}});
    } catch (const ConfigError& e) {
      error = e.what();
    }
    std::remove(path.c_str());
    EXPECT_THAT(error, HasSubstr(std::string("providers[0].") + field));
  }
}

TEST(AdapterKindsTest, HelpListsEveryKindAndSetting) {
  const std::string text = DescribeHeraldOptions();
  for (const auto& k : AdapterKinds()) {
    EXPECT_THAT(text, HasSubstr(std::string("kind ") + k.name));
    for (const auto& s : k.settings) EXPECT_THAT(text, HasSubstr(std::string(" ") + s.key));
  }
  EXPECT_THAT(text, HasSubstr("timeout_s=30 (1-600)"));
}

}  // namespace
}  // namespace herald
