#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <utility>

namespace herald::testing {

// Polls `predicate` every `poll` until it holds or `timeout` passes; evaluates it once more at
// the deadline, so a condition that turns true during the last sleep still counts. Tests wait
// with this instead of sleeping a fixed time: a fast machine does not wait for nothing and a
// slow one gets the whole timeout.
template <typename Predicate>
bool Eventually(Predicate&& predicate, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(poll);
  }
  return static_cast<bool>(predicate());
}

}  // namespace herald::testing

// A failed wait names the condition and the timeout; append `<< details` for more.
#define HERALD_EVENTUALLY_MESSAGE_(condition, timeout)                          \
  "never became true within "                                                   \
      << std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count() \
      << " ms: " << #condition << "\n"

// ASSERT_EVENTUALLY(expr, timeout): polls the boolean expression `expr` until it holds or
// fails the test (fatally) when the timeout passes.
#define ASSERT_EVENTUALLY(condition, timeout)                                    \
  ASSERT_TRUE(::herald::testing::Eventually([&] { return (condition); },         \
                                            std::chrono::milliseconds(timeout))) \
      << HERALD_EVENTUALLY_MESSAGE_(condition, std::chrono::milliseconds(timeout))

// The non-fatal form.
#define EXPECT_EVENTUALLY(condition, timeout)                                    \
  EXPECT_TRUE(::herald::testing::Eventually([&] { return (condition); },         \
                                            std::chrono::milliseconds(timeout))) \
      << HERALD_EVENTUALLY_MESSAGE_(condition, std::chrono::milliseconds(timeout))
