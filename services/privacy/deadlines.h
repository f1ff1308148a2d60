#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "services/privacy/privacy_config.h"

namespace herald::privacy {

// Same numbers as herald.v1.PrivacyRequestKind; stored by name in privacy_requests.kind.
enum class RequestKind {
  kAccess = 1,
  kStopProcessing = 2,
  kRectify = 3,
  kRevoke = 4,
  kDestroy = 5,
  kCrmDestroy = 6,  // opened by Herald only (crm_card_destruction.h)
};

const char* KindName(RequestKind k);
std::optional<RequestKind> KindFromName(const std::string& name);

// The provision of law a request of this kind is made under (STANDARDS §3), in "az", "ru" or
// "en" (anything else: en). The en text is what the API and the officer's register show.
const char* LegalBasis(RequestKind k, const std::string& language = "en");

// Days as the law counts them: in the operator's time zone, Monday to Friday, not a holiday.
// Pure: no clock, no I/O.
class WorkingCalendar {
 public:
  // holidays: "YYYY-MM-DD" (checked by the config loader; malformed ones throw here).
  WorkingCalendar(const std::vector<std::string>& holidays, int utc_offset_minutes);

  bool IsWorkingDay(std::chrono::sys_days day) const;
  // The local calendar day an instant falls on.
  std::chrono::sys_days LocalDay(Timestamp t) const;
  // The instant a local day begins (its local midnight), in UTC.
  Timestamp StartOf(std::chrono::sys_days day) const;

  // When a request received at `received` falls due. As in the Civil Code (art. 191): the
  // period starts the day after the request; the due time is the end of its last day (the
  // next local midnight). Working days skip weekends and holidays; calendar days do not.
  Timestamp DueAt(Timestamp received, const PrivacyDeadline& deadline) const;

 private:
  std::set<std::chrono::sys_days> holidays_;
  std::chrono::minutes offset_;
};

// The configured deadline of each request kind, applied through the calendar.
class DeadlinePolicy {
 public:
  explicit DeadlinePolicy(const PrivacyConfig& config);

  Timestamp DueAt(RequestKind kind, Timestamp received) const;
  const PrivacyDeadline& DeadlineOf(RequestKind kind) const;
  const WorkingCalendar& calendar() const { return calendar_; }

 private:
  PrivacyConfig config_;
  WorkingCalendar calendar_;
};

}  // namespace herald::privacy
