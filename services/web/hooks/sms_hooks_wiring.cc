#include "services/web/hooks/sms_hooks_wiring.h"

#include <stdexcept>

#include "common/log/log.h"

namespace herald::web {

inbound::sms::KeywordMatcher KeywordsFromConfig(const Config& c) {
  auto or_default = [](const std::vector<std::string>& v, std::vector<std::string> d) {
    return v.empty() ? d : v;
  };
  try {
    return inbound::sms::KeywordMatcher(
        or_default(c.sms_stop_keywords, inbound::sms::DefaultStopKeywords()),
        or_default(c.sms_start_keywords, inbound::sms::DefaultStartKeywords()),
        or_default(c.sms_help_keywords, inbound::sms::DefaultHelpKeywords()));
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("sms.*_keywords: ") + e.what());
  }
}

inbound::sms::InboundOptions InboundOptionsFromConfig(const Config& c) {
  inbound::sms::InboundOptions o;
  o.default_region = c.default_phone_region;
  o.start_document_version = c.sms_start_document_version;
  for (const auto& [slot, text] : c.sms_replies) {
    auto dot = slot.find('.');
    o.replies[slot.substr(0, dot)][slot.substr(dot + 1)] = text;
  }
  return o;
}

std::unique_ptr<SmsHooksBundle> BuildSmsHooks(const Config& config, db::Pool& pool,
                                              const Clock& clock,
                                              const crypto::SuppressionHasher& hasher,
                                              const subscriptions::EligibilityGate& gate,
                                              const TopicCatalog& topics,
                                              subscriptions::SubscriptionRegistry& registry,
                                              prometheus::Registry* metrics) {
  auto bundle = std::make_unique<SmsHooksBundle>();
  bundle->service = std::make_unique<inbound::sms::InboundSmsService>(
      pool, clock, hasher, gate, topics, registry, KeywordsFromConfig(config),
      InboundOptionsFromConfig(config));
  std::vector<SmsHookProvider> providers;
  for (const auto& p : config.providers) {
    if (p.kind != "twilio" && p.kind != "json_sms") continue;
    if (p.secret.empty()) {
      log::Warn("sms provider without a secret: its webhooks are refused", {{"provider", p.name}});
    }
    providers.push_back(
        {p.name, p.kind == "twilio" ? inbound::sms::Dialect::kTwilio : inbound::sms::Dialect::kJson,
         p.secret});
  }
  bundle->hooks = std::make_unique<SmsHooks>(std::move(providers), config.public_base_url,
                                             *bundle->service, metrics);
  return bundle;
}

}  // namespace herald::web
