#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/config/section.h"

namespace YAML {
class Node;
}

namespace herald {

// A legal deadline: `count` calendar days, or `count` working days (Mon-Fri, not a holiday).
struct PrivacyDeadline {
  int count = 0;
  bool working_days = false;
};

// The `privacy:` section: deadlines of data-subject requests (152-FZ art. 14, 20, 21; the
// defaults are the law's), the holiday calendar working days skip, and the privacy job.
struct PrivacyConfig {
  // Keyed by request kind: access, stop_processing, rectify, revoke, destroy. `revoke` is
  // also the delay of the destruction a revocation schedules.
  std::map<std::string, PrivacyDeadline> deadlines = {
      {"access", {10, true}},  {"stop_processing", {10, true}}, {"rectify", {7, true}},
      {"revoke", {30, false}}, {"destroy", {30, false}},
  };
  // Public holidays (YYYY-MM-DD) that are not working days.
  std::vector<std::string> holidays;
  // Offset of the operator's legal time zone from UTC; days are counted in it (Moscow: 180).
  int utc_offset_minutes = 180;
  // How often the worker role's privacy job runs (intake, overdue report, due destructions).
  int job_interval_s = 60;
  // Days the confirmation link of an e-mail request (STANDARDS §2b) keeps working.
  int confirmation_link_days = 30;
};

// The request kinds `deadlines` may name.
const std::vector<std::string>& PrivacyRequestKindNames();

// Parses "10 working days" or "30 days". Throws ConfigError naming `key`.
PrivacyDeadline ParsePrivacyDeadline(const std::string& key, const std::string& text);

// Applies the YAML `privacy:` map; unknown keys are errors. Throws ConfigError.
void ApplyPrivacyConfig(PrivacyConfig& c, const YAML::Node& node);

// Lines for --help.
std::string DescribePrivacyConfig();

// The section: the `privacy:` block, file only.
const config::Section<PrivacyConfig>& PrivacySection();

}  // namespace herald
