#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.h"
#include "services/dispatch/adapters/sms/http_client.h"
#include "services/dispatch/adapters/sms/json_body_template.h"
#include "services/dispatch/adapters/sms_transport.h"

namespace herald::dispatch::sms {

struct JsonSmsConfig {
  std::string url;
  std::string auth_header;  // e.g. "Authorization"; empty: none
  std::string auth_value;   // e.g. "Bearer abc"
  // JSON with "{{to}}", "{{from}}", "{{body}}", "{{message_id}}" inside string literals:
  // {"to":"{{to}}","from":"{{from}}","text":"{{body}}","ref":"{{message_id}}"}
  std::string body_template;
  std::string from;
  std::string message_id_pointer = "/id";  // JSON pointer to the provider's id in a 2xx reply
  // Optional: a 4xx reply whose value at this pointer equals unsubscribed_error_value means
  // the recipient opted out at the provider or carrier (kSuppress), e.g. "/error/code" and
  // "UNSUBSCRIBED".
  std::string unsubscribed_error_pointer;
  std::string unsubscribed_error_value;
  // Optional: where an error reply keeps its code (-> provider_code) and its words (->
  // detail). Without the latter, detail is the start of the reply body.
  std::string error_code_pointer;
  std::string error_message_pointer;
  int timeout_s = 15;
};

// A provider with a JSON API described entirely by config. Uses the shared status mapping
// (provider_reply.h) plus the optional unsubscribed rule above.
class JsonSmsSender final : public SmsTransport {
 public:
  // Throws std::invalid_argument naming the field when the config cannot work, including a
  // body_template that is not JSON ("body_template: ..."). `clock` must outlive the sender.
  JsonSmsSender(JsonSmsConfig config, const Clock& clock);

  DeliveryResult Send(const SmsMessage& message) override;
  DeliveryResult SendUnlessStopped(const SmsMessage& message, const std::stop_token& stop) override;

 private:
  JsonSmsConfig config_;
  JsonBodyTemplate template_;
  std::string auth_line_;
  nlohmann::json::json_pointer message_id_pointer_;
  nlohmann::json::json_pointer unsubscribed_pointer_;
  nlohmann::json::json_pointer error_code_pointer_;
  nlohmann::json::json_pointer error_message_pointer_;
  const Clock& clock_;
  HttpClient http_;
};

}  // namespace herald::dispatch::sms
