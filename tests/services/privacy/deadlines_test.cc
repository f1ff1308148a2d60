// STANDARDS §3: legal deadlines in calendar or working days (weekends and configured
// holidays skipped), counted in the operator's time zone from the day after the request.
#include "services/privacy/deadlines.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "services/heraldd/herald_config.h"

namespace herald::privacy {
namespace {

using std::chrono::sys_days;

Timestamp At(const char* iso) { return ParseTimestamp(iso); }

PrivacyConfig Moscow(std::vector<std::string> holidays = {}) {
  PrivacyConfig c;
  c.holidays = std::move(holidays);
  c.utc_offset_minutes = 180;
  return c;
}

TEST(WorkingCalendarTest, WeekendsAndHolidaysAreNotWorkingDays) {
  WorkingCalendar cal({"2026-12-08"}, 180);
  using namespace std::chrono;
  EXPECT_TRUE(cal.IsWorkingDay(sys_days(2026y / November / 27)));   // Friday
  EXPECT_FALSE(cal.IsWorkingDay(sys_days(2026y / November / 28)));  // Saturday
  EXPECT_FALSE(cal.IsWorkingDay(sys_days(2026y / November / 29)));  // Sunday
  EXPECT_TRUE(cal.IsWorkingDay(sys_days(2026y / November / 30)));   // Monday
  EXPECT_FALSE(cal.IsWorkingDay(sys_days(2026y / December / 8)));   // configured holiday
}

TEST(WorkingCalendarTest, LocalDayFollowsTheOperatorsTimeZone) {
  WorkingCalendar cal({}, 180);
  using namespace std::chrono;
  // 22:30 UTC on Friday is already 01:30 on Saturday in Moscow.
  EXPECT_EQ(cal.LocalDay(At("2026-11-27T22:30:00Z")), sys_days(2026y / November / 28));
  EXPECT_EQ(cal.LocalDay(At("2026-11-27T20:59:59Z")), sys_days(2026y / November / 27));
  EXPECT_EQ(cal.StartOf(sys_days(2026y / November / 28)), At("2026-11-27T21:00:00Z"));
}

// Art. 21 p. 5.1 / art. 14: 10 working days, counted from the next day, across a weekend.
TEST(DeadlinePolicyTest, TenWorkingDaysSkipTwoWeekends) {
  DeadlinePolicy p(Moscow());
  // Received Friday 27 Nov (15:00 MSK): Mon 30 Nov is day 1, Fri 11 Dec day 10; due at the
  // end of 11 Dec, Moscow time.
  EXPECT_EQ(p.DueAt(RequestKind::kStopProcessing, At("2026-11-27T12:00:00Z")),
            At("2026-12-11T21:00:00Z"));
  EXPECT_EQ(p.DueAt(RequestKind::kAccess, At("2026-11-27T12:00:00Z")), At("2026-12-11T21:00:00Z"));
}

TEST(DeadlinePolicyTest, AHolidayPushesAWorkingDayDeadline) {
  DeadlinePolicy p(Moscow({"2026-12-08"}));
  EXPECT_EQ(p.DueAt(RequestKind::kStopProcessing, At("2026-11-27T12:00:00Z")),
            At("2026-12-14T21:00:00Z"));
}

// Art. 21 p. 1-2: 7 working days for a rectification, counted in Moscow time: late on
// Thursday in UTC is already Friday in Moscow, so counting starts a working day later.
TEST(DeadlinePolicyTest, RectifyIsSevenWorkingDaysInLocalTime) {
  DeadlinePolicy p(Moscow());
  // Thursday 23:30 MSK: Fri 27 Nov is day 1, Mon 7 Dec day 7.
  EXPECT_EQ(p.DueAt(RequestKind::kRectify, At("2026-11-26T20:30:00Z")), At("2026-12-07T21:00:00Z"));
  // Friday 00:30 MSK (still Thursday in UTC): Mon 30 Nov is day 1, Tue 8 Dec day 7.
  EXPECT_EQ(p.DueAt(RequestKind::kRectify, At("2026-11-26T21:30:00Z")), At("2026-12-08T21:00:00Z"));
  // A request on Saturday counts from Monday too.
  EXPECT_EQ(p.DueAt(RequestKind::kRectify, At("2026-11-28T09:00:00Z")), At("2026-12-08T21:00:00Z"));
}

// Art. 21 p. 5: a revocation's destruction is 30 calendar days; weekends count.
TEST(DeadlinePolicyTest, RevokeIsThirtyCalendarDays) {
  DeadlinePolicy p(Moscow({"2026-12-08"}));
  EXPECT_EQ(p.DueAt(RequestKind::kRevoke, At("2026-11-27T12:00:00Z")), At("2026-12-27T21:00:00Z"));
  EXPECT_EQ(p.DueAt(RequestKind::kDestroy, At("2026-11-27T12:00:00Z")), At("2026-12-27T21:00:00Z"));
}

TEST(DeadlinePolicyTest, NewYearHolidaysAcrossTheYearBoundary) {
  DeadlinePolicy p(
      Moscow({"2027-01-01", "2027-01-04", "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08"}));
  // Thursday 31 Dec: 1 Jan holiday, weekend, 4-8 Jan holidays, weekend; 11, 12, 13 Jan are
  // working days 1-3; 7 working days end on Tue 19 Jan.
  EXPECT_EQ(p.DueAt(RequestKind::kRectify, At("2026-12-31T10:00:00Z")), At("2027-01-19T21:00:00Z"));
}

TEST(DeadlinePolicyTest, ConfiguredDeadlinesReplaceTheDefaults) {
  PrivacyConfig c = Moscow();
  c.deadlines["revoke"] = {2, false};
  c.deadlines["access"] = {1, true};
  c.utc_offset_minutes = 0;
  DeadlinePolicy p(c);
  EXPECT_EQ(p.DueAt(RequestKind::kRevoke, At("2026-11-27T12:00:00Z")), At("2026-11-30T00:00:00Z"));
  EXPECT_EQ(p.DueAt(RequestKind::kAccess, At("2026-11-27T12:00:00Z")),
            At("2026-12-01T00:00:00Z"));  // Monday is the one working day
}

// Destroying the contact in the CRM is due when destroying the subject would be.
TEST(DeadlinePolicyTest, CrmDestructionFollowsTheDestroyDeadline) {
  PrivacyConfig c = Moscow();
  c.deadlines["destroy"] = {3, true};
  DeadlinePolicy p(c);
  const Timestamp t = At("2026-11-27T12:00:00Z");
  EXPECT_EQ(p.DueAt(RequestKind::kCrmDestroy, t), p.DueAt(RequestKind::kDestroy, t));
  EXPECT_NE(p.DueAt(RequestKind::kCrmDestroy, t), p.DueAt(RequestKind::kRevoke, t));
}

TEST(DeadlinePolicyTest, KindNamesRoundTrip) {
  for (int i = 1; i <= 6; ++i) {
    auto k = static_cast<RequestKind>(i);
    EXPECT_EQ(KindFromName(KindName(k)), k);
  }
  EXPECT_FALSE(KindFromName("erase").has_value());
}

TEST(PrivacyConfigTest, ParsesDeadlines) {
  auto d = ParsePrivacyDeadline("k", "10 working days");
  EXPECT_EQ(d.count, 10);
  EXPECT_TRUE(d.working_days);
  d = ParsePrivacyDeadline("k", "30 days");
  EXPECT_EQ(d.count, 30);
  EXPECT_FALSE(d.working_days);
  EXPECT_EQ(ParsePrivacyDeadline("k", "1 day").count, 1);
  EXPECT_THROW(ParsePrivacyDeadline("k", "ten days"), ConfigError);
  EXPECT_THROW(ParsePrivacyDeadline("k", "0 days"), ConfigError);
  EXPECT_THROW(ParsePrivacyDeadline("k", "5 weeks"), ConfigError);
}

// The deadline grammar was a std::regex, whose matcher recurses once per character: a value
// with some 50 KB of white space (tried after fuzz/config_yaml_fuzzer found the same kind of
// overflow in the mail parser) crashed start-up instead of naming the key.
TEST(PrivacyConfigTest, DeadlinesAreReadAsBeforeAndLongValuesNeverOverflow) {
  const std::string pad(1000000, ' ');
  auto d = ParsePrivacyDeadline("k", pad + "30 days" + pad);
  EXPECT_EQ(d.count, 30);
  EXPECT_THROW(ParsePrivacyDeadline("k", "30" + pad + "x"), ConfigError);
  EXPECT_THROW(ParsePrivacyDeadline("k", "30 working" + pad), ConfigError);
  // The grammar: \s*N{1,4}\s+(working\s+)?days?\s*, N then checked to be 1..366.
  struct Case {
    const char* text;
    int count;  // 0: refused
    bool working;
  };
  const Case kCases[] = {
      {"\t7\vday\n", 7, false}, {"7  working \f days", 7, true}, {"366 days", 366, false},
      {"7days", 0, false},      {"7 workingdays", 0, false},     {"7 working", 0, false},
      {"12345 days", 0, false}, {"7 dayss", 0, false},           {"7 Days", 0, false},
      {"-7 days", 0, false},    {"7 days x", 0, false},          {"", 0, false}};
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.text);
    if (c.count == 0) {
      EXPECT_THROW(ParsePrivacyDeadline("k", c.text), ConfigError);
      continue;
    }
    d = ParsePrivacyDeadline("k", c.text);
    EXPECT_EQ(d.count, c.count);
    EXPECT_EQ(d.working_days, c.working);
  }
}

class PrivacyConfigFileTest : public ::testing::Test {
 protected:
  HeraldConfig Load(const std::string& yaml) {
    path_ = ::testing::TempDir() + "privacy_config_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".yaml";
    std::ofstream(path_) << yaml;
    return LoadHeraldConfig(path_,
                            {{"HERALD_SUPPRESSION_KEYS",
                              "k1:00112233445566778899aabbccddeeff00112233445566778899aabbccdd"
                              "eeff"}});
  }
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_;
};

TEST_F(PrivacyConfigFileTest, ReadsThePrivacySection) {
  HeraldConfig c = Load(
      "privacy:\n"
      "  deadlines:\n"
      "    revoke: 20 days\n"
      "    access: 5 working days\n"
      "  holidays: [2027-01-01, 2027-01-07]\n"
      "  utc_offset_minutes: 240\n"
      "  job_interval_s: 15\n");
  EXPECT_EQ(c.privacy.deadlines["revoke"].count, 20);
  EXPECT_FALSE(c.privacy.deadlines["revoke"].working_days);
  EXPECT_EQ(c.privacy.deadlines["access"].count, 5);
  EXPECT_TRUE(c.privacy.deadlines["access"].working_days);
  EXPECT_EQ(c.privacy.deadlines["rectify"].count, 7);  // untouched default
  EXPECT_EQ(c.privacy.holidays, (std::vector<std::string>{"2027-01-01", "2027-01-07"}));
  EXPECT_EQ(c.privacy.utc_offset_minutes, 240);
  EXPECT_EQ(c.privacy.job_interval_s, 15);
}

TEST_F(PrivacyConfigFileTest, DefaultsAreTheLaw) {
  HeraldConfig c = Load("log_level: info\n");
  EXPECT_EQ(c.privacy.deadlines["revoke"].count, 30);
  EXPECT_EQ(c.privacy.deadlines["stop_processing"].count, 10);
  EXPECT_TRUE(c.privacy.deadlines["stop_processing"].working_days);
  EXPECT_EQ(c.privacy.deadlines["rectify"].count, 7);
  EXPECT_EQ(c.privacy.job_interval_s, 60);
}

TEST_F(PrivacyConfigFileTest, RejectsUnknownKeysAndBadValuesNamingTheKey) {
  auto message = [&](const std::string& yaml) {
    try {
      Load(yaml);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message("privacy:\n  deadline: {}\n"), "privacy.deadline: unknown key");
  EXPECT_THAT(message("privacy:\n  deadlines:\n    erase: 3 days\n"),
              ::testing::HasSubstr("privacy.deadlines.erase: unknown key"));
  EXPECT_THAT(message("privacy:\n  deadlines:\n    revoke: soon\n"),
              ::testing::HasSubstr("privacy.deadlines.revoke:"));
  EXPECT_THAT(message("privacy:\n  holidays: [2027-13-01]\n"),
              ::testing::HasSubstr("privacy.holidays[0]:"));
  EXPECT_THAT(message("privacy:\n  job_interval_s: 0\n"),
              ::testing::HasSubstr("privacy.job_interval_s:"));
}

}  // namespace
}  // namespace herald::privacy
