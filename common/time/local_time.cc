#include "common/time/local_time.h"

#include <unicode/gregocal.h>
#include <unicode/timezone.h>
#include <unicode/unistr.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>

namespace herald {
namespace {

// Parsed zones, shared: creating one reads ICU's zone data, and the gate asks per message.
// TimeZone is immutable once built, and a calendar adopts its own clone.
const icu::TimeZone* CachedZone(const std::string& zone) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<icu::TimeZone>> zones;
  std::lock_guard lock(mu);
  auto it = zones.find(zone);
  if (it != zones.end()) return it->second.get();
  if (!IsKnownTimeZone(zone)) return nullptr;
  // Bounded by the zones in use: only validated names reach here.
  auto [pos, _] = zones.emplace(zone, std::unique_ptr<icu::TimeZone>(icu::TimeZone::createTimeZone(
                                          icu::UnicodeString::fromUTF8(zone))));
  return pos->second.get();
}

}  // namespace

std::optional<DailyWindow> ParseDailyWindow(const std::string& text) {
  int h1, m1, h2, m2;
  char tail;
  if (text.size() != 11 ||
      std::sscanf(text.c_str(), "%2d:%2d-%2d:%2d%c", &h1, &m1, &h2, &m2, &tail) != 4) {
    return std::nullopt;
  }
  for (size_t i : {0u, 1u, 3u, 4u, 6u, 7u, 9u, 10u}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  if (h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59) return std::nullopt;
  DailyWindow w{h1 * 60 + m1, h2 * 60 + m2};
  if (w.start_minute == w.end_minute) return std::nullopt;
  return w;
}

std::string FormatDailyWindow(const DailyWindow& w) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d-%02d:%02d", w.start_minute / 60, w.start_minute % 60,
                w.end_minute / 60, w.end_minute % 60);
  return buf;
}

bool IsKnownTimeZone(const std::string& zone) {
  if (zone.empty() || zone.size() > 64) return false;
  UErrorCode status = U_ZERO_ERROR;
  icu::UnicodeString canonical;
  UBool system = false;
  icu::TimeZone::getCanonicalID(icu::UnicodeString::fromUTF8(zone), canonical, system, status);
  // Custom ids ("GMT+03:00") canonicalise without being system zones.
  return U_SUCCESS(status) && system;
}

namespace {

UDate Millis(Timestamp t) { return static_cast<UDate>(t.time_since_epoch().count()) / 1000.0; }

Timestamp FromMillis(UDate ms) {
  return Timestamp(std::chrono::microseconds(static_cast<int64_t>(ms) * 1000));
}

// A calendar of `zone` set to `now`; null for an unknown zone.
std::unique_ptr<icu::GregorianCalendar> CalendarAt(const std::string& zone, Timestamp now) {
  const icu::TimeZone* tz = CachedZone(zone);
  if (!tz) return nullptr;
  UErrorCode status = U_ZERO_ERROR;
  auto cal = std::make_unique<icu::GregorianCalendar>(tz->clone(), status);
  cal->setTime(Millis(now), status);
  return U_SUCCESS(status) ? std::move(cal) : nullptr;
}

// Moves the calendar to `minute_of_day` of its current day, to the second.
void SetTimeOfDay(icu::GregorianCalendar& cal, int minute_of_day) {
  cal.set(UCAL_HOUR_OF_DAY, minute_of_day / 60);
  cal.set(UCAL_MINUTE, minute_of_day % 60);
  cal.set(UCAL_SECOND, 0);
  cal.set(UCAL_MILLISECOND, 0);
}

}  // namespace

std::optional<Timestamp> WindowEnd(const DailyWindow& window, const std::string& zone,
                                   Timestamp now) {
  auto cal = CalendarAt(zone, now);
  if (!cal) return std::nullopt;
  UErrorCode status = U_ZERO_ERROR;
  const int minute = cal->get(UCAL_HOUR_OF_DAY, status) * 60 + cal->get(UCAL_MINUTE, status);
  if (U_FAILURE(status) || !window.Contains(minute)) return std::nullopt;
  // Past midnight already when the window wraps and we are before its end: today's end;
  // before midnight: tomorrow's.
  const bool ends_tomorrow =
      window.start_minute > window.end_minute && minute >= window.start_minute;
  SetTimeOfDay(*cal, window.end_minute);
  if (ends_tomorrow) cal->add(UCAL_DATE, 1, status);
  UDate end = cal->getTime(status);
  if (U_FAILURE(status)) return std::nullopt;
  return FromMillis(end);
}

std::optional<Timestamp> NextWindowStart(const DailyWindow& window, const std::string& zone,
                                         Timestamp now) {
  auto cal = CalendarAt(zone, now);
  if (!cal) return std::nullopt;
  UErrorCode status = U_ZERO_ERROR;
  SetTimeOfDay(*cal, window.start_minute);
  UDate start = cal->getTime(status);
  if (start <= Millis(now)) {
    cal->add(UCAL_DATE, 1, status);
    start = cal->getTime(status);
  }
  if (U_FAILURE(status)) return std::nullopt;
  return FromMillis(start);
}

Timestamp FinishOutside(const std::optional<DailyWindow>& window, const std::string& zone,
                        Timestamp from, std::chrono::microseconds work) {
  Timestamp t = from;
  // A bound on the walk: a window shorter than a day leaves hours every day, so a year of
  // days ends any realistic campaign.
  for (int day = 0; window && day < 2 * 366; ++day) {
    if (auto end = WindowEnd(*window, zone, t)) t = *end;
    auto next = NextWindowStart(*window, zone, t);
    if (!next) break;
    const auto open = std::chrono::duration_cast<std::chrono::microseconds>(*next - t);
    if (work <= open) return t + work;
    work -= open;
    t = *next;
  }
  return t + work;
}

}  // namespace herald
