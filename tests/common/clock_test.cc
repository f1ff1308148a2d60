#include "common/clock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace herald {
namespace {

using std::chrono::microseconds;

// 2026-11-27T17:58:33.123456Z as microseconds since the epoch (computed independently).
constexpr int64_t kSampleMicros = 1795802313123456;

TEST(UnixMicrosTest, RoundTripsThroughTimestamp) {
  EXPECT_EQ(ToUnixMicros(FromUnixMicros(kSampleMicros)), kSampleMicros);
  EXPECT_EQ(ToUnixMicros(FromUnixMicros(0)), 0);
  EXPECT_EQ(ToUnixMicros(FromUnixMicros(-1)), -1);
}

TEST(ToIso8601Test, FormatsWithMicrosecondsAndZ) {
  EXPECT_EQ(ToIso8601(FromUnixMicros(kSampleMicros)), "2026-11-27T17:58:33.123456Z");
}

TEST(ToIso8601Test, FormatsEpochAndLeapDay) {
  EXPECT_EQ(ToIso8601(FromUnixMicros(0)), "1970-01-01T00:00:00.000000Z");
  EXPECT_EQ(ToIso8601(FromUnixMicros(951825600000001)), "2000-02-29T12:00:00.000001Z");
}

TEST(ToIso8601Test, FormatsTimesBefore1970) {
  EXPECT_EQ(ToIso8601(FromUnixMicros(-1)), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(ToIso8601(FromUnixMicros(-1000000)), "1969-12-31T23:59:59.000000Z");
  EXPECT_EQ(ToIso8601(FromUnixMicros(-1000001)), "1969-12-31T23:59:58.999999Z");
  EXPECT_EQ(ToIso8601(FromUnixMicros(-301246184750000)), "1960-06-15T08:30:15.250000Z");
  EXPECT_EQ(ToIso8601(FromUnixMicros(-2208988800000000)), "1900-01-01T00:00:00.000000Z");
}

TEST(ParseTimestampTest, ParsesIso8601WithZ) {
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("2026-11-27T17:58:33.123456Z")), kSampleMicros);
}

TEST(ParseTimestampTest, ParsesPostgresTextWithShortOffset) {
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("2026-11-27 17:58:33.123456+00")), kSampleMicros);
}

TEST(ParseTimestampTest, ParsesPostgresTextWithLongOffset) {
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("2026-11-27 17:58:33.123456+00:00")), kSampleMicros);
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("2026-11-27T17:58:33.123456+00:00")), kSampleMicros);
}

TEST(ParseTimestampTest, ParsesWithoutFraction) {
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("2026-11-27 17:58:33+00")), 1795802313000000);
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("1970-01-01T00:00:00Z")), 0);
}

TEST(ParseTimestampTest, ShortFractionIsScaledToMicroseconds) {
  // PostgreSQL drops trailing zeros: ".25" means 250000 µs, ".1" means 100000 µs.
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("2026-11-27 17:58:33.25+00")), 1795802313250000);
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("2026-11-27 17:58:33.1+00")), 1795802313100000);
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("2026-11-27 17:58:33.000001+00")), 1795802313000001);
}

TEST(ParseTimestampTest, ParsesTimesBefore1970) {
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("1969-12-31 23:59:59.999999+00")), -1);
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("1960-06-15 08:30:15.25+00")), -301246184750000);
  EXPECT_EQ(ToUnixMicros(ParseTimestamp("1900-01-01T00:00:00Z")), -2208988800000000);
}

TEST(ParseTimestampTest, RoundTripsFormattedValuesAtMicrosecondPrecision) {
  for (int64_t us :
       {kSampleMicros, int64_t{0}, int64_t{1}, int64_t{-1}, int64_t{999999}, int64_t{-999999},
        int64_t{-1000000}, int64_t{-1000001}, int64_t{951825600000001}, int64_t{-301246184750000},
        int64_t{-2208988800000000}, int64_t{253402300799999999}}) {
    const Timestamp t = FromUnixMicros(us);
    EXPECT_EQ(ParseTimestamp(ToIso8601(t)), t) << us << " " << ToIso8601(t);
  }
}

TEST(ParseTimestampTest, PostgresFormOfFormattedValueRoundTrips) {
  // The same instant written the way PostgreSQL prints it in a UTC session.
  std::string iso = ToIso8601(FromUnixMicros(-301246184750000));
  std::string pg = iso;
  pg[10] = ' ';
  pg.replace(pg.size() - 1, 1, "+00");
  EXPECT_EQ(pg, "1960-06-15 08:30:15.250000+00");
  EXPECT_EQ(ToUnixMicros(ParseTimestamp(pg)), -301246184750000);
}

TEST(ParseTimestampTest, RejectsNonUtcOffsets) {
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:58:33.123456+03"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:58:33+03:00"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:58:33-05"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:58:33+00:30"), std::invalid_argument);
}

TEST(ParseTimestampTest, RejectsMissingZone) {
  // Without a zone the instant is ambiguous.
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:58:33"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:58:33.123456"), std::invalid_argument);
}

TEST(ParseTimestampTest, RejectsGarbage) {
  EXPECT_THROW(ParseTimestamp(""), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("yesterday"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27X17:58:33Z"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026/11/27 17:58:33Z"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:58:33Zjunk"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:58:33.12x+00"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:58:33 +00"), std::invalid_argument);
}

TEST(ParseTimestampTest, RejectsOutOfRangeCalendarFields) {
  // Regression (was a bug, now fixed): common/clock.cc:56 hands the scanned fields to timegm(),
  // which normalises instead of validating, so impossible dates and times are silently turned into
  // other instants
  // ("2026-02-30" becomes 2026-03-02, month 13 becomes January of the next year) instead
  // of being rejected as "not a timestamp".
  EXPECT_THROW(ParseTimestamp("2026-02-30 00:00:00+00"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-13-01 00:00:00+00"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27 25:00:00+00"), std::invalid_argument);
  EXPECT_THROW(ParseTimestamp("2026-11-27 17:61:00+00"), std::invalid_argument);
}

TEST(ManualClockTest, StartsAtGivenTime) {
  ManualClock clock(FromUnixMicros(kSampleMicros));
  EXPECT_EQ(ToUnixMicros(clock.Now()), kSampleMicros);
}

TEST(ManualClockTest, SetReplacesTime) {
  ManualClock clock(FromUnixMicros(kSampleMicros));
  clock.Set(FromUnixMicros(-5));
  EXPECT_EQ(ToUnixMicros(clock.Now()), -5);
  clock.Set(FromUnixMicros(42));
  EXPECT_EQ(ToUnixMicros(clock.Now()), 42);
}

TEST(ManualClockTest, AdvanceAddsDuration) {
  ManualClock clock(FromUnixMicros(1000));
  clock.Advance(microseconds(1));
  EXPECT_EQ(ToUnixMicros(clock.Now()), 1001);
  clock.Advance(std::chrono::seconds(2));
  EXPECT_EQ(ToUnixMicros(clock.Now()), 2001001);
  clock.Advance(microseconds(-2001001));
  EXPECT_EQ(ToUnixMicros(clock.Now()), 0);
}

TEST(ManualClockTest, NowDoesNotMoveOnItsOwn) {
  ManualClock clock(FromUnixMicros(kSampleMicros));
  const Timestamp first = clock.Now();
  EXPECT_EQ(clock.Now(), first);
}

TEST(ManualClockTest, UsableThroughClockInterface) {
  ManualClock manual(FromUnixMicros(7));
  const Clock& clock = manual;
  manual.Advance(microseconds(3));
  EXPECT_EQ(ToUnixMicros(clock.Now()), 10);
}

TEST(SystemClockTest, NowIsAfter2020) {
  SystemClock clock;
  // 2020-01-01T00:00:00Z.
  EXPECT_GT(ToUnixMicros(clock.Now()), int64_t{1577836800000000});
}

}  // namespace
}  // namespace herald
