#include "services/privacy/deadlines.h"

#include <stdexcept>

namespace herald::privacy {
namespace {

using std::chrono::days;
using std::chrono::sys_days;

sys_days ParseDate(const std::string& text) {
  int y = 0;
  unsigned m = 0, d = 0;
  if (std::sscanf(text.c_str(), "%4d-%2u-%2u", &y, &m, &d) != 3) {
    throw std::invalid_argument("holiday: expected YYYY-MM-DD");
  }
  std::chrono::year_month_day ymd{std::chrono::year(y), std::chrono::month(m), std::chrono::day(d)};
  if (!ymd.ok()) throw std::invalid_argument("holiday: not a calendar date");
  return sys_days(ymd);
}

}  // namespace

const char* KindName(RequestKind k) {
  switch (k) {
    case RequestKind::kAccess:
      return "access";
    case RequestKind::kStopProcessing:
      return "stop_processing";
    case RequestKind::kRectify:
      return "rectify";
    case RequestKind::kRevoke:
      return "revoke";
    case RequestKind::kDestroy:
      return "destroy";
    case RequestKind::kCrmDestroy:
      return "crm_destroy";
  }
  return "?";
}

const char* LegalBasis(RequestKind k, const std::string& language) {
  // [kind - 1][az, ru, en]
  static constexpr const char* kBasis[6][3] = {
      {"152-FZ maddə 14, maddə 20 (subyektin məlumat almaq hüququ)",
       "152-ФЗ ст. 14, ст. 20 (право субъекта на доступ к данным)",
       "152-FZ art. 14, art. 20 (the subject's right of access)"},
      {"152-FZ maddə 21 b. 5.1, maddə 15; 38-FZ maddə 18 (emalın dayandırılması tələbi)",
       "152-ФЗ ст. 21 ч. 5.1, ст. 15; 38-ФЗ ст. 18 (требование прекратить обработку)",
       "152-FZ art. 21 p. 5.1, art. 15; 38-FZ art. 18 (demand to stop processing)"},
      {"152-FZ maddə 21 b. 1-2 (qeyri-dəqiq məlumatlar)",
       "152-ФЗ ст. 21 ч. 1-2 (неточные персональные данные)",
       "152-FZ art. 21 p. 1-2 (inaccurate personal data)"},
      {"152-FZ maddə 9 b. 2, maddə 21 b. 5 (razılığın geri götürülməsi)",
       "152-ФЗ ст. 9 ч. 2, ст. 21 ч. 5 (отзыв согласия)",
       "152-FZ art. 9 p. 2, art. 21 p. 5 (consent revoked)"},
      {"152-FZ maddə 21 b. 3-4 (məhv etmə tələbi)",
       "152-ФЗ ст. 21 ч. 3-4 (требование уничтожить данные)",
       "152-FZ art. 21 p. 3-4 (destruction demanded)"},
      {"152-FZ maddə 21 b. 4-5 (CRM-dəki nüsxənin məhv edilməsi)",
       "152-ФЗ ст. 21 ч. 4-5 (уничтожение копии в CRM)",
       "152-FZ art. 21 p. 4-5 (destruction of the CRM's copy)"},
  };
  int kind = static_cast<int>(k);
  if (kind < 1 || kind > 6) return "";
  int lang = language == "az" ? 0 : language == "ru" ? 1 : 2;
  return kBasis[kind - 1][lang];
}

std::optional<RequestKind> KindFromName(const std::string& name) {
  for (int i = 1; i <= 6; ++i) {
    auto k = static_cast<RequestKind>(i);
    if (name == KindName(k)) return k;
  }
  return std::nullopt;
}

WorkingCalendar::WorkingCalendar(const std::vector<std::string>& holidays, int utc_offset_minutes)
    : offset_(utc_offset_minutes) {
  for (const auto& h : holidays) holidays_.insert(ParseDate(h));
}

bool WorkingCalendar::IsWorkingDay(sys_days day) const {
  std::chrono::weekday wd(day);
  if (wd == std::chrono::Saturday || wd == std::chrono::Sunday) return false;
  return !holidays_.count(day);
}

sys_days WorkingCalendar::LocalDay(Timestamp t) const {
  return std::chrono::floor<days>(t + offset_);
}

Timestamp WorkingCalendar::StartOf(sys_days day) const {
  return std::chrono::time_point_cast<std::chrono::microseconds>(
      std::chrono::sys_time<std::chrono::minutes>(day) - offset_);
}

Timestamp WorkingCalendar::DueAt(Timestamp received, const PrivacyDeadline& deadline) const {
  sys_days day = LocalDay(received);
  if (deadline.working_days) {
    int left = deadline.count;
    while (left > 0) {
      day += days(1);
      if (IsWorkingDay(day)) --left;
    }
  } else {
    day += days(deadline.count);
  }
  return StartOf(day + days(1));
}

DeadlinePolicy::DeadlinePolicy(const PrivacyConfig& config)
    : config_(config), calendar_(config.holidays, config.utc_offset_minutes) {}

const PrivacyDeadline& DeadlinePolicy::DeadlineOf(RequestKind kind) const {
  // The card in the CRM holds the same data as the subject: the same deadline.
  if (kind == RequestKind::kCrmDestroy) kind = RequestKind::kDestroy;
  auto it = config_.deadlines.find(KindName(kind));
  if (it == config_.deadlines.end()) throw std::logic_error("no deadline for a request kind");
  return it->second;
}

Timestamp DeadlinePolicy::DueAt(RequestKind kind, Timestamp received) const {
  return calendar_.DueAt(received, DeadlineOf(kind));
}

}  // namespace herald::privacy
