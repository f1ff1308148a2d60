#include "common/crypto/hash.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace herald::crypto {
namespace {

TEST(HexDigitValueTest, BothCasesAndNothingElse) {
  EXPECT_EQ(HexDigitValue('0'), 0);
  EXPECT_EQ(HexDigitValue('9'), 9);
  EXPECT_EQ(HexDigitValue('a'), 10);
  EXPECT_EQ(HexDigitValue('F'), 15);
  for (char c : std::string("gG/:@`-x \0\xff", 11)) EXPECT_EQ(HexDigitValue(c), -1) << int(c);
}

TEST(HexTest, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  EXPECT_EQ(ToHex(std::string("\x00\x7f\x80\xff", 4)), "007f80ff");
  EXPECT_EQ(FromHex(ToHex(all)), all);
  EXPECT_EQ(FromHex("ABcd"), "\xab\xcd");
}

TEST(HexTest, FromHexRejectsOddLengthAndNonDigits) {
  EXPECT_THROW(FromHex("abc"), std::invalid_argument);
  EXPECT_THROW(FromHex("zz"), std::invalid_argument);
  EXPECT_THROW(FromHex("0x"), std::invalid_argument);
  EXPECT_EQ(FromHex(""), "");
}

}  // namespace
}  // namespace herald::crypto
