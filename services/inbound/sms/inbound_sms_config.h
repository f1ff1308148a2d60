#pragma once

#include "common/config/config.h"
#include "services/inbound/sms/inbound_sms_service.h"

namespace herald::inbound::sms {

// The `sms.*_keywords` keys: each list replaces its STANDARDS S1-S2 default. Throws
// std::invalid_argument naming the keys when the lists cannot work (a word in two lists).
KeywordMatcher KeywordsFromConfig(const Config& config);

// The reply texts by class and language, the default phone region, and the document version
// a START records.
InboundOptions InboundOptionsFromConfig(const Config& config);

}  // namespace herald::inbound::sms
