// The polling every test waits with: it returns as soon as the condition holds, gives up at
// the deadline, and looks once more at the deadline.
#include "tests/support/eventually.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <chrono>

namespace herald::testing {
namespace {

using namespace std::chrono_literals;

TEST(EventuallyTest, ReturnsAsSoonAsTheConditionHolds) {
  int polls = 0;
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(Eventually([&] { return ++polls == 3; }, 10s, 1ms));
  EXPECT_EQ(polls, 3);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(EventuallyTest, GivesUpAtTheDeadline) {
  int polls = 0;
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(Eventually([&] { return ++polls < 0; }, 50ms, 5ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_GE(polls, 2);
}

TEST(EventuallyTest, LooksOnceMoreAtTheDeadline) {
  // True only once the deadline has passed, so only the look at the deadline can see it,
  // however late the scheduler wakes the polling thread.
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(
      Eventually([&] { return std::chrono::steady_clock::now() - start >= 30ms; }, 30ms, 20ms));
}

TEST(EventuallyTest, MacrosPassAndReportTheCondition) {
  int n = 0;
  ASSERT_EVENTUALLY(++n >= 2, 1s);
  EXPECT_EVENTUALLY(n >= 2, 1s);
  auto never = [&] { EXPECT_EVENTUALLY(n < 0, 10ms); };
  EXPECT_NONFATAL_FAILURE(never(), "never became true within 10 ms: n < 0");
}

}  // namespace
}  // namespace herald::testing
