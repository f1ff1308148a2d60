#include "services/subscriptions/gate/fair_sending.h"

#include <yaml-cpp/yaml.h>

#include "common/domain/topics.h"

namespace herald::subscriptions {
namespace {

int Bounded(const std::string& key, const YAML::Node& v, int lo, int hi) {
  if (!v.IsScalar()) throw ConfigError(key + ": expected a whole number");
  return config::ParseInt(key, v.as<std::string>(), lo, hi);
}

FrequencyCap ReadCap(const std::string& where, const YAML::Node& node) {
  if (!node.IsMap()) throw ConfigError(where + ": expected {max, window_hours}");
  FrequencyCap cap;
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string k = it->first.as<std::string>();
    if (k == "max") {
      cap.max = Bounded(where + ".max", it->second, 0, 10000);
    } else if (k == "window_hours") {
      cap.window_hours = Bounded(where + ".window_hours", it->second, 1, 24 * 366);
    } else {
      throw ConfigError(where + "." + k + ": unknown key (max, window_hours)");
    }
  }
  return cap;
}

std::string QuietWindow(const std::string& name, const std::string& value) {
  if (value.empty()) return value;
  auto w = ParseDailyWindow(value);
  if (!w) throw ConfigError(name + ": expected HH:MM-HH:MM (start and end differ) or empty");
  return FormatDailyWindow(*w);
}

std::string TimeZoneName(const std::string& name, const std::string& value) {
  if (!IsKnownTimeZone(value)) {
    throw ConfigError(name + ": '" + value + "' is not an IANA time zone (e.g. Asia/Baku)");
  }
  return value;
}

}  // namespace

const FrequencyCap& FairSendingSettings::ChannelCap(Channel c) const {
  static const FrequencyCap kNone;
  switch (c) {
    case Channel::kEmail:
      return email;
    case Channel::kSms:
      return sms;
    default:
      return kNone;
  }
}

const FrequencyCap* FairSendingSettings::TopicCap(const std::string& topic) const {
  auto it = topics.find(topic);
  return it == topics.end() ? nullptr : &it->second;
}

std::optional<DailyWindow> FairSendingSettings::QuietHours(Channel c) const {
  switch (c) {
    case Channel::kEmail:
      return ParseDailyWindow(quiet_email);
    case Channel::kSms:
      return ParseDailyWindow(quiet_sms);
    case Channel::kCall:
      return ParseDailyWindow(quiet_call);
  }
  return std::nullopt;
}

FairSendingSettings NoFairSending() {
  FairSendingSettings s;
  s.quiet_email.clear();
  s.quiet_sms.clear();
  s.quiet_call.clear();
  return s;
}

void ApplyFrequencyCaps(FairSendingSettings& s, const YAML::Node& node) {
  if (!node.IsMap()) throw ConfigError("frequency_caps: expected a map");
  for (auto it = node.begin(); it != node.end(); ++it) {
    const std::string k = it->first.as<std::string>();
    const std::string where = "frequency_caps." + k;
    if (k == "email") {
      s.email = ReadCap(where, it->second);
    } else if (k == "sms") {
      s.sms = ReadCap(where, it->second);
    } else if (k == "topics") {
      if (!it->second.IsMap()) throw ConfigError(where + ": expected a map of topic: {max, ...}");
      for (auto t = it->second.begin(); t != it->second.end(); ++t) {
        const std::string topic = t->first.as<std::string>();
        FrequencyCap cap = ReadCap(where + "." + topic, t->second);
        if (cap.on()) s.topics[topic] = cap;
      }
    } else {
      throw ConfigError(where + ": unknown key (email, sms, topics)");
    }
  }
}

std::string DescribeFrequencyCaps() {
  return "  frequency_caps  (file only)\n"
         "      {email: {max, window_hours}, sms: {...}, topics: {topic: {max, window_hours}}}:\n"
         "      at most max marketing messages per subject per channel (or of that topic) in any\n"
         "      window_hours (168); max 0 or absent: no cap. Denied as FREQUENCY_CAPPED.\n";
}

const config::Section<FairSendingSettings>& FairSendingSection() {
  using S = FairSendingSettings;
  static const config::Section<S> kSection{
      {
          config::Text("quiet_hours.time_zone", &S::time_zone,
                       "The operator's IANA time zone: quiet hours of subjects without their "
                       "own time_zone are lived in it.",
                       TimeZoneName),
          config::Text("quiet_hours.email", &S::quiet_email,
                       "Quiet hours for marketing e-mail, HH:MM-HH:MM local; empty: none.",
                       QuietWindow),
          config::Text("quiet_hours.sms", &S::quiet_sms,
                       "Quiet hours for marketing SMS, HH:MM-HH:MM local; empty: none.",
                       QuietWindow),
          config::Text("quiet_hours.call", &S::quiet_call,
                       "Quiet hours for marketing calls (CheckEligibility's not_before), "
                       "HH:MM-HH:MM local; empty: none.",
                       QuietWindow),
      },
      {{"frequency_caps", ApplyFrequencyCaps, DescribeFrequencyCaps}}};
  return kSection;
}

void CheckCapTopics(const FairSendingSettings& s, const TopicCatalog& topics) {
  for (const auto& [name, cap] : s.topics) {
    const TopicInfo* t = topics.Find(name);
    if (!t) throw ConfigError("frequency_caps.topics." + name + ": no such topic");
    if (!t->marketing) {
      throw ConfigError("frequency_caps.topics." + name +
                        ": service topics are never capped (not a marketing topic)");
    }
  }
}

}  // namespace herald::subscriptions
