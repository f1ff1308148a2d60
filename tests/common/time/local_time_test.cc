// Quiet hours as lived in a recipient's zone (FAIR-4, FAIR-5): windows past midnight, zones
// far from the operator's, a daylight-saving change, and the campaign estimate's walk.
#include "common/time/local_time.h"

#include <gtest/gtest.h>

namespace herald {
namespace {

Timestamp At(const char* iso) { return ParseTimestamp(iso); }

TEST(DailyWindowTest, ParsesAndRejects) {
  auto w = ParseDailyWindow("21:00-09:00");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->start_minute, 21 * 60);
  EXPECT_EQ(w->end_minute, 9 * 60);
  EXPECT_EQ(FormatDailyWindow(*w), "21:00-09:00");
  for (const char* bad : {"", "21:00", "9:00-21:00", "21:00-21:00", "24:00-09:00", "21:60-09:00",
                          "21:00-09:00x", "2a:00-09:00", "21:00 09:00"}) {
    EXPECT_FALSE(ParseDailyWindow(bad)) << bad;
  }
  EXPECT_TRUE(w->Contains(23 * 60));
  EXPECT_TRUE(w->Contains(0));
  EXPECT_FALSE(w->Contains(9 * 60));  // the end is open
  EXPECT_FALSE(w->Contains(12 * 60));
}

TEST(TimeZoneTest, OnlyIanaZonesAreKnown) {
  for (const char* z :
       {"Asia/Baku", "Europe/Moscow", "Asia/Kamchatka", "UTC", "America/New_York"}) {
    EXPECT_TRUE(IsKnownTimeZone(z)) << z;
  }
  for (const char* z : {"", "MSK+1", "GMT+03:00", "+03:00", "Mars/Olympus", "ru", "Asia/Baku\n"}) {
    EXPECT_FALSE(IsKnownTimeZone(z)) << z;
  }
}

// FAIR-4: 22:00 in Baku (UTC+4) is inside 21:00-09:00; it ends at 09:00 there the next day.
TEST(WindowEndTest, FAIR_4_EndsAtTheNextLocalMorning) {
  const auto w = *ParseDailyWindow("21:00-09:00");
  EXPECT_EQ(WindowEnd(w, "Asia/Baku", At("2026-11-27T18:00:00Z")), At("2026-11-28T05:00:00Z"));
  // 03:00 Baku: the same day's 09:00.
  EXPECT_EQ(WindowEnd(w, "Asia/Baku", At("2026-11-27T23:00:00Z")), At("2026-11-28T05:00:00Z"));
  // Noon in Baku: outside.
  EXPECT_FALSE(WindowEnd(w, "Asia/Baku", At("2026-11-27T08:00:00Z")));
  // The same instant is 06:00 in Kamchatka (UTC+12): inside, ending 09:00 there.
  EXPECT_EQ(WindowEnd(w, "Asia/Kamchatka", At("2026-11-27T18:00:00Z")), At("2026-11-27T21:00:00Z"));
  // ... and 18:00 in London: outside.
  EXPECT_FALSE(WindowEnd(w, "Europe/London", At("2026-11-27T18:00:00Z")));
  EXPECT_FALSE(WindowEnd(w, "Nowhere/Zone", At("2026-11-27T18:00:00Z")));
}

TEST(WindowEndTest, FAIR_4_FollowsDaylightSavingTime) {
  // New York leaves DST on 2026-11-01 at 02:00: 22:00 EDT on Oct 31 is 02:00Z on Nov 1; the
  // morning's 09:00 is EST (UTC-5), 14:00Z.
  const auto w = *ParseDailyWindow("21:00-09:00");
  EXPECT_EQ(WindowEnd(w, "America/New_York", At("2026-11-01T02:00:00Z")),
            At("2026-11-01T14:00:00Z"));
}

// FAIR-5: an estimate walks around the quiet hours.
TEST(FinishOutsideTest, FAIR_5_QuietHoursAddToTheWork) {
  const auto w = ParseDailyWindow("21:00-09:00");
  // 20:30 Baku, an hour of sending: 30 minutes tonight, the rest from 09:00.
  EXPECT_EQ(FinishOutside(w, "Asia/Baku", At("2026-11-27T16:30:00Z"), std::chrono::hours(1)),
            At("2026-11-28T05:30:00Z"));
  // Starting inside the window: from its end.
  EXPECT_EQ(FinishOutside(w, "Asia/Baku", At("2026-11-27T18:00:00Z"), std::chrono::minutes(10)),
            At("2026-11-28T05:10:00Z"));
  // 30 hours of work: 12 open hours a day.
  EXPECT_EQ(FinishOutside(w, "Asia/Baku", At("2026-11-28T05:00:00Z"), std::chrono::hours(30)),
            At("2026-11-30T11:00:00Z"));
  // No window: plain addition.
  EXPECT_EQ(
      FinishOutside(std::nullopt, "Asia/Baku", At("2026-11-27T18:00:00Z"), std::chrono::hours(1)),
      At("2026-11-27T19:00:00Z"));
}

}  // namespace
}  // namespace herald
