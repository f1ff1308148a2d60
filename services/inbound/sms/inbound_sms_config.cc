#include "services/inbound/sms/inbound_sms_config.h"

#include <stdexcept>

namespace herald::inbound::sms {
namespace {

// A reply text to an SMS keyword: plain text (it is sent as a template with no variables).
std::string PlainReply(const std::string& name, const std::string& v) {
  if (v.find("{{") != std::string::npos) throw ConfigError(name + ": plain text only, no '{{'");
  return config::NotEmpty(name, v);
}

config::Line<InboundSmsSettings> Reply(const char* key, const char* slot, const char* what) {
  return config::Slot(key, &InboundSmsSettings::replies, slot,
                      std::string("Reply to ") + what + " (plain text; unset: the built-in one).",
                      PlainReply)
      .Shown("(built in)");
}

}  // namespace

const config::Section<InboundSmsSettings>& InboundSmsSection() {
  using S = InboundSmsSettings;
  static const config::Section<S> kSection{{
      config::List("sms.stop_keywords", &S::stop_keywords,
                   "Inbound SMS keywords that opt the number out (a list; the message must be "
                   "the keyword alone, case and surrounding space ignored).")
          .Shown("(built in: STANDARDS S1)"),
      config::List("sms.start_keywords", &S::start_keywords,
                   "Inbound SMS keywords that opt back in after an SMS opt-out.")
          .Shown("(built in: STANDARDS S2)"),
      config::List("sms.help_keywords", &S::help_keywords,
                   "Inbound SMS keywords answered with the help text.")
          .Shown("(built in: STANDARDS S2)"),
      config::Text("sms.start_document_version", &S::start_document_version,
                   "Consent document version recorded on the consent a START grants."),
      Reply("sms.reply_stop_az", "stop.az", "STOP in Azerbaijani"),
      Reply("sms.reply_stop_ru", "stop.ru", "STOP in Russian"),
      Reply("sms.reply_stop_en", "stop.en", "STOP in English"),
      Reply("sms.reply_start_az", "start.az", "START in Azerbaijani"),
      Reply("sms.reply_start_ru", "start.ru", "START in Russian"),
      Reply("sms.reply_start_en", "start.en", "START in English"),
      Reply("sms.reply_help_az", "help.az", "HELP in Azerbaijani"),
      Reply("sms.reply_help_ru", "help.ru", "HELP in Russian"),
      Reply("sms.reply_help_en", "help.en", "HELP in English"),
  }};
  return kSection;
}

KeywordMatcher KeywordsFromConfig(const InboundSmsSettings& c) {
  auto or_default = [](const std::vector<std::string>& v, std::vector<std::string> d) {
    if (!v.empty()) return v;
    return d;  // moved out, not copied
  };
  try {
    return KeywordMatcher(or_default(c.stop_keywords, DefaultStopKeywords()),
                          or_default(c.start_keywords, DefaultStartKeywords()),
                          or_default(c.help_keywords, DefaultHelpKeywords()));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("sms.*_keywords: ") + e.what());
  }
}

InboundOptions InboundOptionsFromConfig(const InboundSmsSettings& c,
                                        const std::string& default_phone_region) {
  InboundOptions o;
  o.default_region = default_phone_region;
  o.start_document_version = c.start_document_version;
  for (const auto& [slot, text] : c.replies) {
    auto dot = slot.find('.');
    o.replies[slot.substr(0, dot)][slot.substr(dot + 1)] = text;
  }
  return o;
}

}  // namespace herald::inbound::sms
