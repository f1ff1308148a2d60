#include "common/clock.h"

#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace herald {

int64_t ToUnixMicros(Timestamp t) { return t.time_since_epoch().count(); }

Timestamp FromUnixMicros(int64_t us) { return Timestamp(std::chrono::microseconds(us)); }

std::string ToIso8601(Timestamp t) {
  int64_t us = ToUnixMicros(t);
  int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
  int64_t frac = us - secs * 1000000;
  std::time_t tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(frac));
  return buf;
}

Timestamp ParseTimestamp(std::string_view text) {
  int y, mo, d, h, mi, s;
  char sep;
  std::string str(text);
  int consumed = 0;
  if (std::sscanf(str.c_str(), "%4d-%2d-%2d%c%2d:%2d:%2d%n", &y, &mo, &d, &sep, &h, &mi, &s,
                  &consumed) != 7 ||
      (sep != ' ' && sep != 'T')) {
    throw std::invalid_argument("not a timestamp");
  }
  std::string_view rest = text.substr(consumed);
  int64_t micros = 0;
  if (!rest.empty() && rest[0] == '.') {
    rest.remove_prefix(1);
    int digits = 0;
    while (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') {
      if (digits < 6) micros = micros * 10 + (rest[0] - '0');
      ++digits;
      rest.remove_prefix(1);
    }
    for (; digits < 6; ++digits) micros *= 10;
  }
  if (!(rest == "Z" || rest == "+00" || rest == "+00:00")) {
    throw std::invalid_argument("timestamp is not in UTC");
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  int64_t secs = timegm(&tm);
  // timegm() normalises impossible dates (Feb 30 -> Mar 2); a round trip rejects them.
  std::tm check{};
  std::time_t tt = static_cast<std::time_t>(secs);
  gmtime_r(&tt, &check);
  if (check.tm_year != y - 1900 || check.tm_mon != mo - 1 || check.tm_mday != d ||
      check.tm_hour != h || check.tm_min != mi || check.tm_sec != s) {
    throw std::invalid_argument("timestamp field out of range");
  }
  return FromUnixMicros(secs * 1000000 + micros);
}

}  // namespace herald
