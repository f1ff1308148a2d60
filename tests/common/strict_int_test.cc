#include "common/strict_int.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace herald {
namespace {

TEST(StrictIntTest, AcceptsWholeDecimalNumbers) {
  EXPECT_EQ(ParseStrictInt<int>("30"), 30);
  EXPECT_EQ(ParseStrictInt<int>("0"), 0);
  EXPECT_EQ(ParseStrictInt<int>("-5"), -5);
  EXPECT_EQ(ParseStrictInt<int>("007"), 7);
  EXPECT_EQ(ParseStrictInt<int64_t>("9000000000"), int64_t{9000000000});
}

TEST(StrictIntTest, RefusesWhatAtoiAndStoiWouldQuietlyAccept) {
  for (const char* text :
       {"30s", "30 ", " 30", "+30", "", "-", "0x10", "1e3", "3.0", "30\n", "twelve", "--5"}) {
    EXPECT_EQ(ParseStrictInt<int>(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(StrictIntTest, RefusesValuesOutsideTheType) {
  EXPECT_EQ(ParseStrictInt<int>("2147483648"), std::nullopt);
  EXPECT_EQ(ParseStrictInt<int>("-2147483649"), std::nullopt);
  EXPECT_EQ(ParseStrictInt<unsigned>("-1"), std::nullopt);
  EXPECT_EQ(ParseStrictInt<int>("2147483647"), 2147483647);
}

}  // namespace
}  // namespace herald
