#include "services/heraldd/wiring.h"

#include "common/config/adapter_kinds.h"
#include "common/log/log.h"

namespace herald {

std::vector<web::SmsHookProvider> SmsHookProviders(const std::vector<ProviderConfig>& providers) {
  std::vector<web::SmsHookProvider> out;
  for (const auto& p : providers) {
    const AdapterKind* kind = FindAdapterKind(p.kind);
    if (!kind) continue;  // refused by LoadHeraldConfig already
    auto dialect = inbound::sms::Dialect::kJson;
    switch (kind->hook_dialect) {
      case SmsHookDialect::kNone:
        continue;
      case SmsHookDialect::kTwilio:
        dialect = inbound::sms::Dialect::kTwilio;
        break;
      case SmsHookDialect::kJson:
        dialect = inbound::sms::Dialect::kJson;
        break;
    }
    if (p.secret.empty()) {
      log::Warn("sms provider without a secret: its webhooks are refused", {{"provider", p.name}});
    }
    out.push_back({p.name, dialect, p.secret});
  }
  return out;
}

}  // namespace herald
