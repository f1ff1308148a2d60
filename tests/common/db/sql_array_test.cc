#include "common/db/sql_array.h"

#include <gtest/gtest.h>

#include <climits>
#include <optional>
#include <string>
#include <vector>

namespace herald::db {
namespace {

using Strings = std::vector<std::string>;
using OptionalStrings = std::vector<std::optional<std::string>>;
using Numbers = std::vector<long long>;

TEST(ToArrayLiteralTest, EmptyStringVector) { EXPECT_EQ(ToArrayLiteral(Strings{}), "{}"); }

TEST(ToArrayLiteralTest, PlainStringsAreQuoted) {
  EXPECT_EQ(ToArrayLiteral(Strings{"a"}), R"({"a"})");
  EXPECT_EQ(ToArrayLiteral(Strings{"product_news", "events"}), R"({"product_news","events"})");
}

TEST(ToArrayLiteralTest, EmptyStringIsQuotedNotDropped) {
  EXPECT_EQ(ToArrayLiteral(Strings{""}), R"({""})");
  EXPECT_EQ(ToArrayLiteral(Strings{"", "x", ""}), R"({"","x",""})");
}

TEST(ToArrayLiteralTest, DoubleQuotesAreEscaped) {
  EXPECT_EQ(ToArrayLiteral(Strings{R"(say "hi")"}), R"({"say \"hi\""})");
  EXPECT_EQ(ToArrayLiteral(Strings{"\""}), R"({"\""})");
}

TEST(ToArrayLiteralTest, BackslashesAreEscaped) {
  EXPECT_EQ(ToArrayLiteral(Strings{R"(a\b)"}), R"({"a\\b"})");
  EXPECT_EQ(ToArrayLiteral(Strings{"\\"}), R"({"\\"})");
  EXPECT_EQ(ToArrayLiteral(Strings{R"(\")"}), R"({"\\\""})");
}

TEST(ToArrayLiteralTest, CommasBracesAndSpacesStayInsideQuotes) {
  EXPECT_EQ(ToArrayLiteral(Strings{"a,b"}), R"({"a,b"})");
  EXPECT_EQ(ToArrayLiteral(Strings{"{x}"}), R"({"{x}"})");
  EXPECT_EQ(ToArrayLiteral(Strings{"}", "{"}), R"({"}","{"})");
  EXPECT_EQ(ToArrayLiteral(Strings{" padded "}), R"({" padded "})");
  EXPECT_EQ(ToArrayLiteral(Strings{"two words", "x"}), R"({"two words","x"})");
}

TEST(ToArrayLiteralTest, TextNullIsQuotedSoItStaysText) {
  EXPECT_EQ(ToArrayLiteral(Strings{"NULL"}), R"({"NULL"})");
  EXPECT_EQ(ToArrayLiteral(Strings{"null"}), R"({"null"})");
}

TEST(ToArrayLiteralTest, UnicodeIsPassedThrough) {
  EXPECT_EQ(ToArrayLiteral(Strings{"Иванов", "Əliyev", "日本"}),
            "{\"Иванов\",\"Əliyev\",\"日本\"}");
}

TEST(ToArrayLiteralTest, OptionalVectorWritesNulloptAsUnquotedNull) {
  EXPECT_EQ(ToArrayLiteral(OptionalStrings{}), "{}");
  EXPECT_EQ(ToArrayLiteral(OptionalStrings{std::nullopt}), "{NULL}");
  EXPECT_EQ(ToArrayLiteral(OptionalStrings{"a", std::nullopt, "NULL", ""}),
            R"({"a",NULL,"NULL",""})");
}

TEST(ToArrayLiteralTest, OptionalVectorEscapesLikePlainVector) {
  EXPECT_EQ(ToArrayLiteral(OptionalStrings{R"(q"b\,{})"}), R"({"q\"b\\,{}"})");
}

TEST(ToArrayLiteralTest, LongLongVector) {
  EXPECT_EQ(ToArrayLiteral(Numbers{}), "{}");
  EXPECT_EQ(ToArrayLiteral(Numbers{42}), "{42}");
  EXPECT_EQ(ToArrayLiteral(Numbers{1, -2, 0}), "{1,-2,0}");
  EXPECT_EQ(ToArrayLiteral(Numbers{LLONG_MAX, LLONG_MIN}),
            "{9223372036854775807,-9223372036854775808}");
}

}  // namespace
}  // namespace herald::db
