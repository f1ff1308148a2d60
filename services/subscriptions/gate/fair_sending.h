#pragma once

#include <map>
#include <optional>
#include <string>

#include "common/config/section.h"
#include "common/domain/enums.h"
#include "common/time/local_time.h"

namespace YAML {
class Node;
}

namespace herald {
class TopicCatalog;
}

namespace herald::subscriptions {

// At most `max` marketing messages in any `window_hours` (rolling); max 0: no cap.
struct FrequencyCap {
  int max = 0;
  int window_hours = 168;
  bool on() const { return max > 0; }
};

// The `frequency_caps:` and `quiet_hours.*` sections (docs/fair-sending.md): what the gate
// adds for marketing messages on top of consent. Service topics are exempt from both.
struct FairSendingSettings {
  // Per subject per channel, over every marketing topic (EMAIL and SMS: the messages Herald
  // sends).
  FrequencyCap email, sms;
  // Per subject per channel, messages of that topic only; checked besides the channel's.
  std::map<std::string, FrequencyCap> topics;

  // The operator's zone: quiet hours are lived in it when the subject has no time_zone.
  std::string time_zone = "Asia/Baku";
  // "HH:MM-HH:MM" in the recipient's zone, or empty for none.
  std::string quiet_email;
  std::string quiet_sms = "21:00-09:00";
  std::string quiet_call = "21:00-09:00";

  const FrequencyCap& ChannelCap(Channel c) const;
  const FrequencyCap* TopicCap(const std::string& topic) const;
  std::optional<DailyWindow> QuietHours(Channel c) const;
  bool any_cap() const { return email.on() || sms.on() || !topics.empty(); }
};

// No caps and no quiet hours: the gate's own default, for code that never configured it.
FairSendingSettings NoFairSending();

void ApplyFrequencyCaps(FairSendingSettings& s, const YAML::Node& node);
std::string DescribeFrequencyCaps();
const config::Section<FairSendingSettings>& FairSendingSection();

// Throws ConfigError when a capped topic is unknown or not a marketing topic.
void CheckCapTopics(const FairSendingSettings& s, const TopicCatalog& topics);

}  // namespace herald::subscriptions
