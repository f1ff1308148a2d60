#pragma once

#include <memory>

#include "common/clock.h"
#include "common/config/config.h"
#include "common/crypto/key_ring.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "services/inbound/sms/inbound_sms_service.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/registry.h"
#include "services/web/hooks/sms_hooks.h"

namespace herald::web {

// The SMS webhooks built from config: the keyword lists and reply texts, and every SMS
// provider (twilio, json_sms) with its secret.
struct SmsHooksBundle {
  std::unique_ptr<inbound::sms::InboundSmsService> service;
  std::unique_ptr<SmsHooks> hooks;
};

// Throws std::invalid_argument (naming the key) when the keyword config cannot work.
inbound::sms::KeywordMatcher KeywordsFromConfig(const Config& config);
inbound::sms::InboundOptions InboundOptionsFromConfig(const Config& config);

std::unique_ptr<SmsHooksBundle> BuildSmsHooks(const Config& config, db::Pool& pool,
                                              const Clock& clock,
                                              const crypto::SuppressionHasher& hasher,
                                              const subscriptions::EligibilityGate& gate,
                                              const TopicCatalog& topics,
                                              subscriptions::SubscriptionRegistry& registry,
                                              prometheus::Registry* metrics);

}  // namespace herald::web
