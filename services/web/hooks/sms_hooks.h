#pragma once

#include <string>
#include <vector>

#include "services/inbound/sms/inbound_sms_service.h"
#include "services/inbound/sms/webhook_parsing.h"
#include "services/web/http_server.h"

namespace prometheus {
class Registry;
}

namespace herald::web {

// A provider whose replies and receipts come to /hooks/sms/{name}/...
struct SmsHookProvider {
  std::string name;
  inbound::sms::Dialect dialect;
  std::string secret;  // Twilio auth token / JSON shared secret; empty: every call refused
};

// POST /hooks/sms/{provider}/inbound and /hooks/sms/{provider}/status. Thin: finds the
// provider (404), verifies its signature (403), parses (400), then hands over to the
// transport-free InboundSmsService. Never a 500: a database outage is a 503 the provider
// retries.
class SmsHooks {
 public:
  SmsHooks(std::vector<SmsHookProvider> providers, std::string public_base_url,
           inbound::sms::InboundSmsService& service, prometheus::Registry* metrics);

  HttpResponse Inbound(const HttpRequest& req);
  HttpResponse Status(const HttpRequest& req);

 private:
  struct Counters;
  // Checks provider and signature; on failure fills `refusal` and returns nullptr.
  const SmsHookProvider* Authenticate(const HttpRequest& req, HttpResponse* refusal) const;

  std::vector<SmsHookProvider> providers_;
  std::string public_base_url_;
  inbound::sms::InboundSmsService& service_;
  std::shared_ptr<Counters> counters_;
};

void AddSmsHooks(HttpServer& server, SmsHooks& hooks);

}  // namespace herald::web
