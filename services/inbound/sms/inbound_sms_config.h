#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/config/section.h"
#include "services/inbound/sms/inbound_sms_service.h"

namespace herald::inbound::sms {

// The `sms.*` keys of inbound SMS: keyword lists (empty: the STANDARDS S1-S2 defaults), the
// replies to them, and the consent document version a START records.
struct InboundSmsSettings {
  std::vector<std::string> stop_keywords, start_keywords, help_keywords;
  // Reply texts by "class.language" (stop.az, help.en, ...); unset ones keep the built-ins.
  std::map<std::string, std::string> replies;
  // Consent document version recorded when START grants SMS marketing consent again.
  std::string start_document_version = "sms-start";
};

const config::Section<InboundSmsSettings>& InboundSmsSection();

// The `sms.*_keywords` keys: each list replaces its STANDARDS S1-S2 default. Throws
// std::invalid_argument naming the keys when the lists cannot work (a word in two lists).
KeywordMatcher KeywordsFromConfig(const InboundSmsSettings& settings);

// The reply texts by class and language, the default phone region (of the core section),
// and the document version a START records.
InboundOptions InboundOptionsFromConfig(const InboundSmsSettings& settings,
                                        const std::string& default_phone_region);

}  // namespace herald::inbound::sms
