#pragma once

#include <optional>
#include <string>

#include "common/clock.h"

namespace herald {

// A daily span of local wall-clock time, [start, end) in minutes after midnight; it runs
// past midnight when end < start ("21:00-09:00").
struct DailyWindow {
  int start_minute = 0;
  int end_minute = 0;
  bool Contains(int minute_of_day) const {
    return start_minute < end_minute ? minute_of_day >= start_minute && minute_of_day < end_minute
                                     : minute_of_day >= start_minute || minute_of_day < end_minute;
  }
};

// "HH:MM-HH:MM" -> a window; nullopt for anything else, or when start equals end.
std::optional<DailyWindow> ParseDailyWindow(const std::string& text);
std::string FormatDailyWindow(const DailyWindow& w);

// An IANA zone name ICU knows ("Europe/Moscow", "UTC"); abbreviations such as "MSK" and
// offsets such as "+03:00" are not zones.
bool IsKnownTimeZone(const std::string& zone);

// When `now` falls inside `window` as lived in `zone`: the instant the window ends there (the
// next local end time; across a DST change, whatever that local time maps to). nullopt when
// outside, or for an unknown zone (callers validate zones before storing them).
std::optional<Timestamp> WindowEnd(const DailyWindow& window, const std::string& zone,
                                   Timestamp now);

// The next instant after `now` at which `window` starts as lived in `zone`; nullopt for an
// unknown zone.
std::optional<Timestamp> NextWindowStart(const DailyWindow& window, const std::string& zone,
                                         Timestamp now);

// When `work` of sending (at a steady pace, outside the window only) that starts at `from`
// ends: the window's hours in `zone` add to it. Without a window, from + work.
Timestamp FinishOutside(const std::optional<DailyWindow>& window, const std::string& zone,
                        Timestamp from, std::chrono::microseconds work);

}  // namespace herald
