// The section machinery: options bound to members of their own section's struct, composed
// once; a key or variable declared by two sections is refused when they are composed.
#include "common/config/section.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>

namespace herald {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

struct FirstSettings {
  int workers = 2;
  std::string name = "a";
};
struct SecondSettings {
  int workers = 3;
  bool on = false;
};
struct Root {
  FirstSettings first;
  SecondSettings second;
};

const config::Section<FirstSettings>& First() {
  static const config::Section<FirstSettings> kSection{{
      config::Int("first.workers", &FirstSettings::workers, 1, 8, "Workers."),
      config::Text("first.name", &FirstSettings::name, "Name."),
  }};
  return kSection;
}

const config::Section<SecondSettings>& Second() {
  static const config::Section<SecondSettings> kSection{{
      config::Int("second.workers", &SecondSettings::workers, 1, 8, "Workers."),
      config::Bool("second.on", &SecondSettings::on, "On."),
  }};
  return kSection;
}

std::string Error(const config::Schema<Root>& schema,
                  const std::map<std::string, std::string>& env) {
  try {
    schema.Load("", env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ConfigSectionTest, EachSectionFillsItsOwnMember) {
  auto schema = config::Schema<Root>().Add(&Root::first, First()).Add(&Root::second, Second());
  Root r = schema.Load("", {{"HERALD_FIRST_WORKERS", "5"}, {"HERALD_SECOND_ON", "true"}});
  EXPECT_EQ(r.first.workers, 5);
  EXPECT_EQ(r.second.workers, 3);
  EXPECT_TRUE(r.second.on);
  EXPECT_EQ(schema.Value(r, "second.workers"), "3");
  EXPECT_EQ(schema.Table().size(), 4u);
  EXPECT_THAT(schema.Describe(), AllOf(HasSubstr("first.workers  /  HERALD_FIRST_WORKERS"),
                                       HasSubstr("second.on  /  HERALD_SECOND_ON")));
}

TEST(ConfigSectionTest, AnUnknownKeyInEitherSectionFails) {
  auto schema = config::Schema<Root>().Add(&Root::first, First()).Add(&Root::second, Second());
  EXPECT_THAT(Error(schema, {{"HERALD_FIRST_WORKER", "1"}}), HasSubstr("HERALD_FIRST_WORKER"));
  EXPECT_THAT(Error(schema, {{"HERALD_SECOND_OFF", "1"}}),
              AllOf(HasSubstr("HERALD_SECOND_OFF"), HasSubstr("unknown environment variable")));
  EXPECT_THAT(Error(schema, {{"HERALD_SECOND_WORKERS", "30s"}}),
              AllOf(HasSubstr("second.workers"), HasSubstr("(set by HERALD_SECOND_WORKERS)")));
}

TEST(ConfigSectionTest, AKeyDeclaredByTwoSectionsIsRefused) {
  struct Clash {
    int workers = 1;
  };
  struct Both {
    FirstSettings first;
    Clash clash;
  };
  static const config::Section<Clash> kClash{{
      config::Int("first.workers", &Clash::workers, 1, 8, "The same key again."),
  }};
  config::Schema<Both> schema;
  schema.Add(&Both::first, First());
  EXPECT_THROW(schema.Add(&Both::clash, kClash), std::logic_error);
}

}  // namespace
}  // namespace herald
