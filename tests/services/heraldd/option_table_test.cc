// The option table: every scalar option is loaded, overridden, bounded and described from its
// one line, and whole numbers are digits only.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "services/heraldd/herald_config.h"

namespace herald {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using Env = std::map<std::string, std::string>;
using Kind = OptionInfo::Kind;

const std::string kKeys = "k1:" + std::string(64, 'a');

Env WithEnv(Env extra) {
  extra.emplace("HERALD_SUPPRESSION_KEYS", kKeys);
  return extra;
}

// `dispatch.workers` and "30s" as YAML: "dispatch:\n  workers: 30s\n".
std::string YamlFor(const std::string& key, const std::string& value) {
  std::string yaml, indent;
  size_t start = 0, dot;
  while ((dot = key.find('.', start)) != std::string::npos) {
    yaml += indent + key.substr(start, dot - start) + ":\n";
    indent += "  ";
    start = dot + 1;
  }
  return yaml + indent + key.substr(start) + ": \"" + value + "\"\n";
}

HeraldConfig LoadYaml(const std::string& yaml, const Env& env = WithEnv({})) {
  static int counter = 0;
  std::string path = ::testing::TempDir() + "herald_option_table_" + std::to_string(getpid()) +
                     "_" + std::to_string(counter++) + ".yaml";
  { std::ofstream(path) << yaml; }
  struct Remove {
    std::string path;
    ~Remove() { std::remove(path.c_str()); }
  } remove{path};
  return LoadHeraldConfig(path, env);
}

std::string Error(const std::function<void()>& load) {
  try {
    load();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string FileError(const std::string& key, const std::string& value) {
  return Error([&] { LoadYaml(YamlFor(key, value)); });
}

std::string EnvError(const std::string& env, const std::string& value) {
  return Error([&] { LoadHeraldConfig("", WithEnv({{env, value}})); });
}

std::vector<OptionInfo> IntOptions() {
  std::vector<OptionInfo> out;
  for (const auto& o : HeraldOptionTable()) {
    if (o.kind == Kind::kInt) out.push_back(o);
  }
  return out;
}

TEST(OptionTableTest, TheTableHasEveryKindOfOption) {
  std::set<Kind> kinds;
  for (const auto& o : HeraldOptionTable()) kinds.insert(o.kind);
  EXPECT_EQ(kinds, (std::set<Kind>{Kind::kInt, Kind::kText, Kind::kBool, Kind::kChoice, Kind::kList,
                                   Kind::kSecret}));
  EXPECT_GE(IntOptions().size(), 25u);
}

TEST(OptionTableTest, AUnitAfterANumberIsRejectedNamingTheKey) {
  EXPECT_THAT(FileError("dispatch.lease_s", "30s"),
              AllOf(HasSubstr("dispatch.lease_s"), HasSubstr("whole number")));
  EXPECT_THAT(EnvError("HERALD_DISPATCH_LEASE_S", "30s"),
              AllOf(HasSubstr("dispatch.lease_s"), HasSubstr("HERALD_DISPATCH_LEASE_S")));
  for (const auto& o : IntOptions()) {
    for (const char* text : {"30s", " 30", "+30", "0x1F", "3e1", "30.0", ""}) {
      EXPECT_THAT(FileError(o.key, text), HasSubstr(o.key)) << "'" << text << "'";
      EXPECT_THAT(EnvError(o.env, text), AllOf(HasSubstr(o.key), HasSubstr(o.env)))
          << "'" << text << "'";
    }
  }
}

TEST(OptionTableTest, EveryIntegerIsBoundedBothWays) {
  for (const auto& o : IntOptions()) {
    SCOPED_TRACE(o.key);
    EXPECT_THAT(FileError(o.key, std::to_string(o.min - 1)), HasSubstr(o.key));
    EXPECT_THAT(FileError(o.key, std::to_string(static_cast<long long>(o.max) + 1)),
                HasSubstr(o.key));
    EXPECT_THAT(EnvError(o.env, std::to_string(o.min - 1)), HasSubstr(o.key));
    EXPECT_THAT(EnvError(o.env, "99999999999999999999"), HasSubstr(o.key));
    EXPECT_EQ(HeraldOptionValue(LoadYaml(YamlFor(o.key, std::to_string(o.min))), o.key),
              std::to_string(o.min));
    EXPECT_EQ(
        HeraldOptionValue(LoadHeraldConfig("", WithEnv({{o.env, std::to_string(o.max)}})), o.key),
        std::to_string(o.max));
  }
}

TEST(OptionTableTest, UnknownKeysAndVariablesAreRejectedNamingThem) {
  EXPECT_THAT(Error([] { LoadYaml("dispatch:\n  wokers: 2\n"); }),
              AllOf(HasSubstr("dispatch.wokers"), HasSubstr("unknown key")));
  EXPECT_THAT(Error([] { LoadYaml("http:\n  listen: 127.0.0.1:1\n  thread: 2\n"); }),
              HasSubstr("http.thread"));
  EXPECT_THAT(EnvError("HERALD_DISPATCH_WOKERS", "2"), HasSubstr("HERALD_DISPATCH_WOKERS"));
  // A key of the table in a section it does not belong to.
  EXPECT_THAT(Error([] { LoadYaml("http:\n  workers: 2\n"); }), HasSubstr("http.workers"));
}

TEST(OptionTableTest, SecretsInTheFileNameTheirVariableAndNotTheValue) {
  std::string msg = Error([] { LoadYaml("link_keys: k1:0123456789abcdef0123\n"); });
  EXPECT_THAT(msg, AllOf(HasSubstr("link_keys"), HasSubstr("HERALD_LINK_KEYS")));
  EXPECT_THAT(msg, Not(HasSubstr("0123456789abcdef0123")));
}

// A value valid for `o` that is not its default, so that applying it shows.
std::string Sample(const OptionInfo& o, const HeraldConfig& defaults) {
  static const std::map<std::string, std::string> kByKey = {
      {"roles", "api"},
      {"addresses.default_phone_region", "AZ"},
      {"home_jurisdictions", "AZ,BY"},
      {"grpc.listen", "127.0.0.1:1"},
      {"http.listen", "127.0.0.1:2"},
      {"ops.listen", "127.0.0.1:3"},
      {"inbound_mail.listen", "127.0.0.1:4"},
      {"json_api.listen", "127.0.0.1:5"},
      {"links.policy_url", "https://example.com/policy"},
      {"crm.base_url", "https://crm.example.org"},
      {"crm.identity_url", "https://id.example.org"},
      {"crm.odata_path", "/odata"},
      {"crm.contact_entity", "Kontakt"},
      {"crm.subscription_entity", "Abonement"},
      {"crm.fields.do_not_use_email", "UsrNoEmail"},
      {"crm.fields.do_not_use_sms", "UsrNoSms"},
      {"crm.fields.do_not_use_call", "UsrNoCall"},
      {"crm.fields.email", "UsrEmail"},
      {"crm.fields.mobile_phone", "UsrMobile"},
      {"crm.fields.name", "UsrName"},
      {"crm.fields.time_zone", "UsrTimeZone"},
      {"quiet_hours.time_zone", "Asia/Yekaterinburg"},
      {"quiet_hours.email", "22:00-08:00"},
      {"quiet_hours.sms", "20:00-10:00"},
      {"quiet_hours.call", "20:30-09:30"},
      {"crm.subscribed_status_id", "0a1b2c3d-0000-4000-8000-000000000001"},
      {"crm.unsubscribed_status_id", "0a1b2c3d-0000-4000-8000-000000000002"},
      {"crm.topic_types", "special_offers=0a1b2c3d-0000-4000-8000-000000000003"},
      {"tls.client_cert_listeners", "http,ops"},
      {"tls.plaintext_listeners", "mail,ops"},
  };
  if (auto it = kByKey.find(o.key); it != kByKey.end()) return it->second;
  std::string current = HeraldOptionValue(defaults, o.key.empty() ? o.env : o.key);
  switch (o.kind) {
    case Kind::kInt:
      return std::to_string(std::to_string(o.min) == current ? o.max : o.min);
    case Kind::kBool:
      return current == "true" ? "false" : "true";
    case Kind::kChoice:
      return o.choices.front() == current ? o.choices.back() : o.choices.front();
    case Kind::kList:
      return "first,second";
    case Kind::kText:
      return "sample text";
    case Kind::kSecret:
      return "a-secret-of-32-characters-000000";
  }
  return "";
}

TEST(OptionTableTest, EveryOptionOfEveryKindIsOverriddenByItsVariable) {
  const HeraldConfig defaults = LoadHeraldConfig("", WithEnv({}));
  for (const auto& o : HeraldOptionTable()) {
    SCOPED_TRACE(o.env);
    // Switching the connector on needs where and how to log in as well:
    // CreatioSettingsTest.EnabledNeedsWhereAndHowToLogIn.
    if (o.env == "HERALD_CRM_ENABLED") continue;
    // Files that must exist and options that come in pairs: TlsConfigTest and
    // KeyRingFileConfigTest (config_test.cc).
    static const std::set<std::string> kTestedApart = {
        "HERALD_SUPPRESSION_KEYS_FILE", "HERALD_LINK_KEYS_FILE", "HERALD_TLS_CERT_FILE",
        "HERALD_TLS_KEY_FILE", "HERALD_TLS_CLIENT_CA_FILE"};
    if (kTestedApart.count(o.env)) continue;
    std::string value = Sample(o, defaults);
    HeraldConfig c;
    ASSERT_NO_THROW(c = LoadHeraldConfig("", WithEnv({{o.env, value}})));
    EXPECT_EQ(HeraldOptionValue(c, o.env), value);
    EXPECT_NE(HeraldOptionValue(defaults, o.env), value);
    if (o.kind == Kind::kSecret) continue;
    // From the file too, and the variable wins over it.
    EXPECT_EQ(HeraldOptionValue(LoadYaml(YamlFor(o.key, value)), o.key), value);
    std::string in_file = HeraldOptionValue(defaults, o.key);
    if (in_file.empty()) continue;  // an empty value in the file is no value for some
    EXPECT_EQ(
        HeraldOptionValue(LoadYaml(YamlFor(o.key, in_file), WithEnv({{o.env, value}})), o.key),
        value);
  }
}

TEST(OptionTableTest, VariableNamesDeriveFromKeysSaveOne) {
  for (const auto& o : HeraldOptionTable()) {
    if (o.key.empty() || o.key == "addresses.default_phone_region") continue;
    std::string derived = "HERALD_";
    for (char ch : o.key)
      derived += ch == '.' ? '_' : static_cast<char>(toupper(static_cast<unsigned char>(ch)));
    EXPECT_EQ(o.env, derived);
  }
}

TEST(OptionTableTest, HelpListsEveryOptionWithItsBounds) {
  const std::string text = DescribeHeraldOptions();
  for (const auto& o : HeraldOptionTable()) {
    EXPECT_THAT(text, HasSubstr(o.env));
    if (!o.key.empty()) {
      EXPECT_THAT(text, HasSubstr("  " + o.key + "  /  " + o.env));
    }
    if (o.kind == Kind::kInt) {
      EXPECT_THAT(o.help,
                  HasSubstr("(" + std::to_string(o.min) + "-" + std::to_string(o.max) + ")"));
    }
  }
  EXPECT_THAT(text, HasSubstr("dispatch.lease_s  /  HERALD_DISPATCH_LEASE_S"));
  EXPECT_THAT(text, HasSubstr("default: 120"));
}

TEST(OptionTableTest, KeysAreUniqueAcrossSectionsAndAnUnknownKeyFailsInEverySection) {
  std::set<std::string> keys, envs, sections;
  for (const auto& o : HeraldOptionTable()) {
    if (!o.key.empty()) {
      EXPECT_TRUE(keys.insert(o.key).second) << o.key << " is declared twice";
      sections.insert(o.key.substr(0, o.key.find('.')));
    }
    EXPECT_TRUE(envs.insert(o.env).second) << o.env << " is declared twice";
  }
  // One section of each service, and the core's.
  for (const char* s : {"dispatch", "email", "gate", "http", "links", "inbound_mail", "sms",
                        "operator", "retention", "database", "grpc", "ops"}) {
    EXPECT_EQ(sections.count(s), 1u) << s;
  }
  for (const auto& s : sections) {
    if (keys.count(s)) continue;  // a top-level option (roles), not a section
    EXPECT_THAT(Error([&] { LoadYaml(s + ":\n  no_such_option: 1\n"); }),
                AllOf(HasSubstr(s + ".no_such_option"), HasSubstr("unknown key")));
    std::string env = "HERALD_";
    for (char ch : s) env += static_cast<char>(toupper(static_cast<unsigned char>(ch)));
    EXPECT_THAT(EnvError(env + "_NO_SUCH_OPTION", "1"),
                AllOf(HasSubstr(env + "_NO_SUCH_OPTION"), HasSubstr("unknown environment")));
  }
  EXPECT_THAT(Error([] { LoadYaml("privacy:\n  no_such_option: 1\n"); }),
              AllOf(HasSubstr("privacy.no_such_option"), HasSubstr("unknown key")));
}

}  // namespace
}  // namespace herald
