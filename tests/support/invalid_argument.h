#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "common/error.h"

namespace herald::testing {

// Runs `fn`, expects herald::Error with kInvalidArgument, and returns its message ("" and a
// failure when nothing or something else is thrown).
inline std::string InvalidMessage(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected herald::Error";
  return "";
}

}  // namespace herald::testing
