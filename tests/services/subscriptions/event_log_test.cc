#include "services/subscriptions/event_log.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace herald::subscriptions {
namespace {

TEST(EventTypeTest, EveryTypeHasItsOwnName) {
  std::set<std::string> names;
  for (EventType t : kAllEventTypes) {
    std::string name = EventTypeName(t);
    EXPECT_NE(name, "?");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
  EXPECT_EQ(names.size(), static_cast<size_t>(EventType::kCallConsentGiven) + 1);
}

}  // namespace
}  // namespace herald::subscriptions
