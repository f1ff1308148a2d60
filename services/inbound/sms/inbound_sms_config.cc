#include "services/inbound/sms/inbound_sms_config.h"

#include <stdexcept>

namespace herald::inbound::sms {

KeywordMatcher KeywordsFromConfig(const Config& c) {
  auto or_default = [](const std::vector<std::string>& v, std::vector<std::string> d) {
    if (!v.empty()) return v;
    return d;  // moved out, not copied
  };
  try {
    return KeywordMatcher(or_default(c.sms_stop_keywords, DefaultStopKeywords()),
                          or_default(c.sms_start_keywords, DefaultStartKeywords()),
                          or_default(c.sms_help_keywords, DefaultHelpKeywords()));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("sms.*_keywords: ") + e.what());
  }
}

InboundOptions InboundOptionsFromConfig(const Config& c) {
  InboundOptions o;
  o.default_region = c.default_phone_region;
  o.start_document_version = c.sms_start_document_version;
  for (const auto& [slot, text] : c.sms_replies) {
    auto dot = slot.find('.');
    o.replies[slot.substr(0, dot)][slot.substr(dot + 1)] = text;
  }
  return o;
}

}  // namespace herald::inbound::sms
