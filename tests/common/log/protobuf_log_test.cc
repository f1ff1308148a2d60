// protobuf's own log lines join the JSON log instead of raw "[libprotobuf ...]" lines on
// stderr. SEC-12.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/log/log.h"
#include "herald/v1/subscriptions.pb.h"

namespace herald {
namespace {

TEST(ProtobufLog, AParseErrorIsOneJsonLineWithoutTheValue) {
  log::Init("info");
  // Field 3 (surname), length 6: "Zq" + an invalid UTF-8 sequence + "Xw".
  std::string wire("\x1a\x06Zq\xff\xfeXw", 8);
  v1::UpsertSubjectRequest r;
  ::testing::internal::CaptureStderr();
  bool parsed = r.ParseFromString(wire);
  std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(parsed);
  EXPECT_EQ(err.find("[libprotobuf"), std::string::npos) << err;
  auto line = nlohmann::json::parse(err.substr(0, err.find('\n')));
  EXPECT_EQ(line["component"], "protobuf");
  EXPECT_EQ(line["level"], "error");
  EXPECT_NE(line["detail"].get<std::string>().find("surname"), std::string::npos);
  EXPECT_EQ(err.find("Zq"), std::string::npos);  // the value never appears

  // Positive control: valid UTF-8 (Cyrillic) parses and logs nothing.
  v1::UpsertSubjectRequest ok;
  ok.set_surname("Петров");
  ::testing::internal::CaptureStderr();
  EXPECT_TRUE(r.ParseFromString(ok.SerializeAsString()));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(r.surname(), "Петров");
}

}  // namespace
}  // namespace herald
