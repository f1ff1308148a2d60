#pragma once

#include <string>

#include "common/clock.h"
#include "services/dispatch/adapters/sms/http_client.h"
#include "services/dispatch/adapters/sms_transport.h"

namespace herald::dispatch::sms {

struct TwilioConfig {
  std::string base_url;  // "https://api.twilio.com"; "http://127.0.0.1:PORT" in tests
  std::string account_sid;
  std::string auth_token;
  std::string from;                 // sender id or number
  std::string status_callback_url;  // optional
  int timeout_s = 15;
};

// Twilio's Messages API (POST /2010-04-01/Accounts/{sid}/Messages.json, form-encoded, basic
// auth). Beyond the shared status mapping (provider_reply.h), error 21610 ("recipient has
// replied STOP") is kSuppress: the carrier will refuse every later message to that number.
class TwilioSmsSender final : public SmsTransport {
 public:
  // Throws std::invalid_argument naming the field when the config cannot work. `clock` must
  // outlive the sender (it dates Retry-After).
  TwilioSmsSender(TwilioConfig config, const Clock& clock);

  DeliveryResult Send(const SmsMessage& message) override;
  DeliveryResult SendUnlessStopped(const SmsMessage& message, const std::stop_token& stop) override;

 private:
  TwilioConfig config_;
  std::string messages_url_;
  const Clock& clock_;
  HttpClient http_;
};

}  // namespace herald::dispatch::sms
