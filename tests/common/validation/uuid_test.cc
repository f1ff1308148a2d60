#include "common/validation/uuid.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace herald::validation {
namespace {

TEST(IsUuidTest, AcceptsBothCases) {
  EXPECT_TRUE(IsUuid("00000000-0000-0000-0000-000000000000"));
  EXPECT_TRUE(IsUuid("ABCDEFAB-CDEF-ABCD-EFAB-CDEFABCDEFAB"));
  EXPECT_FALSE(IsUuid(""));
}

TEST(IsUuidTest, RejectsEverythingButTheCanonicalTextForm) {
  for (const std::string& bad : {
           std::string("0123456789abcdef0123456789abcdef"),       // no dashes
           std::string("01234567-89ab-cdef-0123-456789abcde"),    // one digit short
           std::string("01234567-89ab-cdef-0123-456789abcdef0"),  // one digit long
           std::string("0123456-789ab-cdef-0123-456789abcdef"),   // dash moved
           std::string("01234567-89ab-cdef-0123_456789abcdef"),   // not a dash
           std::string("0123456g-89ab-cdef-0123-456789abcdef"),   // not hex
           std::string("{1234567-89ab-cdef-0123-456789abcdef}"),
           std::string(" 1234567-89ab-cdef-0123-456789abcdef"),
           std::string("01234567-89ab-cdef-0123-456789abcde\0", 36),
       }) {
    EXPECT_FALSE(IsUuid(bad)) << bad;
    EXPECT_FALSE(UuidToBytes(bad).has_value()) << bad;
  }
}

TEST(UuidBytesTest, TextToBytesAndBackIsLowerCase) {
  auto bytes = UuidToBytes("0123ABCD-89ab-CDEF-0123-456789abcdef");
  ASSERT_TRUE(bytes.has_value());
  EXPECT_EQ(*bytes,
            std::string("\x01\x23\xab\xcd\x89\xab\xcd\xef\x01\x23\x45\x67\x89\xab\xcd\xef", 16));
  EXPECT_EQ(UuidFromBytes(*bytes), "0123abcd-89ab-cdef-0123-456789abcdef");
}

TEST(UuidBytesTest, FromBytesWantsSixteenBytes) {
  EXPECT_THROW(UuidFromBytes(std::string(15, '\0')), std::invalid_argument);
  EXPECT_THROW(UuidFromBytes(std::string(17, '\0')), std::invalid_argument);
  EXPECT_EQ(UuidFromBytes(std::string(16, '\xff')), "ffffffff-ffff-ffff-ffff-ffffffffffff");
}

}  // namespace
}  // namespace herald::validation
