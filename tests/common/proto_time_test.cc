#include "common/proto_time.h"

#include <gtest/gtest.h>

#include <stdexcept>

namespace herald {
namespace {

google::protobuf::Timestamp Proto(int64_t seconds, int32_t nanos) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  t.set_nanos(nanos);
  return t;
}

TEST(SetTimestampTest, KeepsMicroseconds) {
  google::protobuf::Timestamp t;
  SetTimestamp(&t, FromUnixMicros(1795802313123456));
  EXPECT_EQ(t.seconds(), 1795802313);
  EXPECT_EQ(t.nanos(), 123456000);
}

TEST(SetTimestampTest, TimesBeforeTheEpochKeepNanosNonNegative) {
  google::protobuf::Timestamp t;
  SetTimestamp(&t, FromUnixMicros(-1));  // 1969-12-31T23:59:59.999999Z
  EXPECT_EQ(t.seconds(), -1);
  EXPECT_EQ(t.nanos(), 999999000);
  SetTimestamp(&t, FromUnixMicros(-2000000));
  EXPECT_EQ(t.seconds(), -2);
  EXPECT_EQ(t.nanos(), 0);
}

TEST(SetTimestampTest, ReadsPostgresText) {
  google::protobuf::Timestamp t;
  SetTimestamp(&t, std::string("2026-11-27 17:58:33.123456+00"));
  EXPECT_EQ(t.seconds(), 1795802313);
  EXPECT_EQ(t.nanos(), 123456000);
  SetTimestamp(&t, "2026-11-27 17:58:33+00");
  EXPECT_EQ(t.seconds(), 1795802313);
  EXPECT_EQ(t.nanos(), 0);
  EXPECT_THROW(SetTimestamp(&t, "yesterday"), std::invalid_argument);
}

TEST(FromProtoTimestampTest, DropsDigitsBelowAMicrosecond) {
  auto t = FromProtoTimestamp(Proto(1795802313, 123456789));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(ToUnixMicros(*t), 1795802313123456);
}

TEST(FromProtoTimestampTest, RoundTripsWithSetTimestamp) {
  google::protobuf::Timestamp t;
  SetTimestamp(&t, FromUnixMicros(1795802313000001));
  EXPECT_EQ(ToUnixMicros(FromProtoTimestamp(t).value()), 1795802313000001);
}

TEST(FromProtoTimestampTest, AcceptsTheWholeRequestRange) {
  EXPECT_EQ(ToUnixMicros(FromProtoTimestamp(Proto(0, 0)).value()), 0);
  EXPECT_EQ(ToIso8601(FromProtoTimestamp(Proto(kLatestUnixSeconds, 999999999)).value()),
            "9999-12-31T23:59:59.999999Z");
}

TEST(FromProtoTimestampTest, RejectsTimesOutsideTheRequestRange) {
  EXPECT_FALSE(FromProtoTimestamp(Proto(-1, 0)).has_value());
  EXPECT_FALSE(FromProtoTimestamp(Proto(kLatestUnixSeconds + 1, 0)).has_value());
  // Far enough that seconds * 1000000 would overflow int64_t.
  EXPECT_FALSE(FromProtoTimestamp(Proto(10000000000000, 0)).has_value());
  EXPECT_FALSE(FromProtoTimestamp(Proto(0, -1)).has_value());
  EXPECT_FALSE(FromProtoTimestamp(Proto(0, 1000000000)).has_value());
}

TEST(IsRequestTimeTest, MatchesFromProtoTimestamp) {
  EXPECT_TRUE(IsRequestTime(0, 0));
  EXPECT_TRUE(IsRequestTime(kLatestUnixSeconds, 999999999));
  EXPECT_FALSE(IsRequestTime(-1, 0));
  EXPECT_FALSE(IsRequestTime(kLatestUnixSeconds + 1, 0));
  EXPECT_FALSE(IsRequestTime(0, 1000000000));
}

}  // namespace
}  // namespace herald
