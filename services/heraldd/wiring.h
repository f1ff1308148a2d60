#pragma once

#include <vector>

#include "common/config/config.h"
#include "services/web/hooks/sms_hooks.h"

namespace herald {

// The SMS providers whose replies and receipts /hooks/sms/{name}/ accepts: every provider
// whose kind's registration names a hook dialect, with its secret. A provider without a
// secret is listed (its calls are refused) and logged.
std::vector<web::SmsHookProvider> SmsHookProviders(const std::vector<ProviderConfig>& providers);

}  // namespace herald
