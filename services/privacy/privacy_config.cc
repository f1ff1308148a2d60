#include "services/privacy/privacy_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <optional>
#include <regex>
#include <string_view>

#include "common/config/section.h"
#include "common/strict_int.h"

namespace herald {
namespace {

int ParseBounded(const std::string& key, const std::string& v, int lo, int hi) {
  auto n = ParseStrictInt<int>(v);
  if (!n) throw ConfigError(key + ": expected a whole number");
  if (*n < lo || *n > hi) {
    throw ConfigError(key + ": expected " + std::to_string(lo) + ".." + std::to_string(hi));
  }
  return *n;
}

// A number already checked to be 1-9 digits.
int Digits(const std::string& text) { return ParseStrictInt<int>(text).value_or(0); }

bool IsDate(const std::string& s) {
  static const std::regex kDate("([0-9]{4})-([0-9]{2})-([0-9]{2})");
  std::smatch m;
  if (!std::regex_match(s, m, kDate)) return false;
  int mo = Digits(m[2]), d = Digits(m[3]);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
}

}  // namespace

const std::vector<std::string>& PrivacyRequestKindNames() {
  static const std::vector<std::string> kNames = {"access", "stop_processing", "rectify", "revoke",
                                                  "destroy"};
  return kNames;
}

namespace {

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// "<N> days" or "<N> working days" (N of 1-4 digits, "day" too, white space around): read by
// hand, not with std::regex, whose matcher recurses once per character, so a value with a
// long run of white space overflowed the stack instead of failing with a ConfigError.
std::optional<PrivacyDeadline> ReadDeadline(std::string_view t) {
  size_t i = 0;
  auto spaces = [&] {
    size_t from = i;
    while (i < t.size() && IsSpace(t[i])) ++i;
    return i - from;
  };
  auto word = [&](std::string_view w) {
    if (t.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  };
  spaces();
  size_t digits_from = i;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
  size_t digits = i - digits_from;
  if (digits < 1 || digits > 4 || spaces() == 0) return std::nullopt;
  PrivacyDeadline d;
  d.count = Digits(std::string(t.substr(digits_from, digits)));
  size_t before_working = i;
  if (word("working") && spaces() > 0) {
    d.working_days = true;
  } else {
    i = before_working;
  }
  if (!word("day")) return std::nullopt;
  word("s");
  spaces();
  if (i != t.size()) return std::nullopt;
  return d;
}

}  // namespace

PrivacyDeadline ParsePrivacyDeadline(const std::string& key, const std::string& text) {
  std::optional<PrivacyDeadline> read = ReadDeadline(text);
  if (!read) throw ConfigError(key + ": expected '<N> days' or '<N> working days'");
  PrivacyDeadline d = *read;
  if (d.count < 1 || d.count > 366) throw ConfigError(key + ": expected 1..366 days");
  return d;
}

void ApplyPrivacyConfig(PrivacyConfig& c, const YAML::Node& node) {
  if (!node.IsMap()) throw ConfigError("privacy: expected a map");
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string k = it->first.as<std::string>();
    std::string key = "privacy." + k;
    // A copy: it-> yields a proxy whose members die with the full expression.
    const YAML::Node v = it->second;
    if (k == "deadlines") {
      if (!v.IsMap()) throw ConfigError(key + ": expected a map of request kind to deadline");
      for (auto d = v.begin(); d != v.end(); ++d) {
        std::string kind = d->first.as<std::string>();
        std::string dkey = key + "." + kind;
        const auto& names = PrivacyRequestKindNames();
        if (std::find(names.begin(), names.end(), kind) == names.end()) {
          throw ConfigError(dkey +
                            ": unknown key (access, stop_processing, rectify, revoke, "
                            "destroy)");
        }
        if (!d->second.IsScalar()) throw ConfigError(dkey + ": expected a value");
        c.deadlines[kind] = ParsePrivacyDeadline(dkey, d->second.as<std::string>());
      }
    } else if (k == "holidays") {
      if (!v.IsSequence()) throw ConfigError(key + ": expected a list of YYYY-MM-DD dates");
      c.holidays.clear();
      for (size_t i = 0; i < v.size(); ++i) {
        std::string where = key + "[" + std::to_string(i) + "]";
        if (!v[i].IsScalar() || !IsDate(v[i].as<std::string>())) {
          throw ConfigError(where + ": expected a YYYY-MM-DD date");
        }
        c.holidays.push_back(v[i].as<std::string>());
      }
    } else if (k == "utc_offset_minutes") {
      if (!v.IsScalar()) throw ConfigError(key + ": expected a value");
      std::string text = v.as<std::string>();
      bool negative = !text.empty() && text[0] == '-';
      int n = ParseBounded(key, negative ? text.substr(1) : text, 0, 14 * 60);
      c.utc_offset_minutes = negative ? -n : n;
    } else if (k == "job_interval_s") {
      if (!v.IsScalar()) throw ConfigError(key + ": expected a value");
      c.job_interval_s = ParseBounded(key, v.as<std::string>(), 1, 86400);
    } else if (k == "confirmation_link_days") {
      if (!v.IsScalar()) throw ConfigError(key + ": expected a value");
      c.confirmation_link_days = ParseBounded(key, v.as<std::string>(), 1, 366);
    } else {
      throw ConfigError(key + ": unknown key");
    }
  }
}

std::string DescribePrivacyConfig() {
  return "  privacy  (file only)\n"
         "      deadlines: {access, stop_processing, rectify, revoke, destroy}: '<N> days' or\n"
         "      '<N> working days' (defaults 10 working, 10 working, 7 working, 30, 30; revoke\n"
         "      is also the delay of the destruction a revocation schedules);\n"
         "      holidays: [YYYY-MM-DD, ...] skipped by working days; utc_offset_minutes (180)\n"
         "      the time zone days are counted in; job_interval_s (60) of the privacy job;\n"
         "      confirmation_link_days (30): how long the link confirming an e-mail request\n"
         "      works.\n";
}

const config::Section<PrivacyConfig>& PrivacySection() {
  static const config::Section<PrivacyConfig> kSection{
      {}, {{"privacy", ApplyPrivacyConfig, DescribePrivacyConfig}}};
  return kSection;
}

}  // namespace herald
