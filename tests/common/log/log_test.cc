// The log line format: one JSON object per line, fields of every value type, text escaped.
#include "common/log/log.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace herald {
namespace {

std::vector<std::string> Lines(const std::string& out) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < out.size()) {
    size_t end = out.find('\n', start);
    if (end == std::string::npos) end = out.size();
    lines.push_back(out.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

enum class Colour { kRed = 3 };

TEST(Log, AFieldOfEachTypeKeepsItsJsonType) {
  log::Init("info");
  ::testing::internal::CaptureStderr();
  int small = -7;
  std::size_t count = 42;
  log::Info("typed", {{"int", small},
                      {"max_int64", std::numeric_limits<std::int64_t>::max()},
                      {"count", count},
                      {"ratio", 0.25},
                      {"flag", true},
                      {"text", "plain"},
                      {"string", std::string("owned")},
                      {"colour", Colour::kRed}});
  auto lines = Lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 1u);
  auto line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["msg"], "typed");
  EXPECT_EQ(line["level"], "info");
  EXPECT_TRUE(line["ts"].is_string());
  EXPECT_TRUE(line["int"].is_number_integer());
  EXPECT_EQ(line["int"].get<int>(), -7);
  EXPECT_EQ(line["max_int64"].get<std::int64_t>(), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(line["count"].get<std::size_t>(), 42u);
  EXPECT_TRUE(line["ratio"].is_number_float());
  EXPECT_DOUBLE_EQ(line["ratio"].get<double>(), 0.25);
  EXPECT_TRUE(line["flag"].is_boolean());
  EXPECT_EQ(line["flag"], true);
  EXPECT_EQ(line["text"], "plain");
  EXPECT_EQ(line["string"], "owned");
  EXPECT_EQ(line["colour"].get<int>(), 3);
}

TEST(Log, QuotesAndControlCharactersAreEscapedOnOneLine) {
  log::Init("info");
  const std::string nasty = "say \"hi\"\\ then\nnew line\ttab\x01 bell\r end";
  ::testing::internal::CaptureStderr();
  log::Warn("quote \" and\nbreak", {{"detail", nasty}});
  std::string out = ::testing::internal::GetCapturedStderr();
  auto lines = Lines(out);
  ASSERT_EQ(lines.size(), 1u) << out;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\x01'), std::string::npos);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\t'), std::string::npos);
  auto line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["detail"], nasty);
  EXPECT_EQ(line["msg"], "quote \" and\nbreak");
  EXPECT_EQ(line["level"], "warn");
}

TEST(Log, EachCallIsOneObjectPerLine) {
  log::Init("info");
  ::testing::internal::CaptureStderr();
  log::Info("first");
  log::Error("second", {{"n", 2}});
  log::Fields optional = {{"always", 1}};
  optional.Add("sometimes", "added");
  log::Info("third", optional);
  auto lines = Lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "first");
  auto second = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(second["level"], "error");
  EXPECT_EQ(second["n"], 2);
  auto third = nlohmann::json::parse(lines[2]);
  EXPECT_EQ(third["always"], 1);
  EXPECT_EQ(third["sometimes"], "added");
}

TEST(Log, BelowTheLevelNothingIsWritten) {
  log::Init("info");
  ::testing::internal::CaptureStderr();
  log::Debug("hidden", {{"n", 1}});
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  log::Init("debug");
  ::testing::internal::CaptureStderr();
  log::Debug("shown");
  EXPECT_EQ(Lines(::testing::internal::GetCapturedStderr()).size(), 1u);
  log::Init("info");
}

TEST(Log, InvalidUtf8IsReplacedNotThrown) {
  log::Init("info");
  ::testing::internal::CaptureStderr();
  EXPECT_NO_THROW(log::Info("bytes", {{"raw", std::string("a\xff"
                                                          "b")}}));
  auto lines = Lines(::testing::internal::GetCapturedStderr());
  ASSERT_EQ(lines.size(), 1u);
  auto line = nlohmann::json::parse(lines[0]);
  EXPECT_EQ(line["raw"],
            "a\xEF\xBF\xBD"
            "b");
}

}  // namespace
}  // namespace herald
