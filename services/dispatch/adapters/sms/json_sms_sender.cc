#include "services/dispatch/adapters/sms/json_sms_sender.h"

#include <stdexcept>
#include <string_view>

#include "services/dispatch/adapters/sms/provider_reply.h"

namespace herald::dispatch::sms {
namespace {

using JsonPointer = nlohmann::json::json_pointer;

JsonPointer ParsePointer(const std::string& field, const std::string& text) {
  try {
    return JsonPointer(text);
  } catch (const nlohmann::json::exception&) {
    throw std::invalid_argument(field + ": not a JSON pointer (RFC 6901), e.g. \"/id\"");
  }
}

bool HasLineBreak(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

// Returns the header line, after checking the config, so members can be built in order.
std::string ValidateAndBuildAuthLine(const JsonSmsConfig& c) {
  if (!c.url.starts_with("http://") && !c.url.starts_with("https://")) {
    throw std::invalid_argument("json_sms.url: must start with http:// or https://");
  }
  if (c.from.empty()) throw std::invalid_argument("json_sms.from: must be set");
  if (c.timeout_s < 1 || c.timeout_s > 300) {
    throw std::invalid_argument("json_sms.timeout_s: must be 1..300");
  }
  if (!c.unsubscribed_error_pointer.empty() && c.unsubscribed_error_value.empty()) {
    throw std::invalid_argument(
        "json_sms.unsubscribed_error_value: must be set with unsubscribed_error_pointer");
  }
  if (c.auth_header.empty()) {
    if (!c.auth_value.empty()) {
      throw std::invalid_argument("json_sms.auth_header: must be set with auth_value");
    }
    return {};
  }
  // Line breaks would let config inject headers; a colon in the name would split it.
  if (HasLineBreak(c.auth_header) || c.auth_header.find(':') != std::string::npos ||
      c.auth_header.find(' ') != std::string::npos) {
    throw std::invalid_argument("json_sms.auth_header: not a header name");
  }
  if (HasLineBreak(c.auth_value)) {
    throw std::invalid_argument("json_sms.auth_value: must not contain line breaks");
  }
  return c.auth_header + ": " + c.auth_value;
}

}  // namespace

JsonSmsSender::JsonSmsSender(JsonSmsConfig config, const Clock& clock)
    : config_(std::move(config)),
      template_(config_.body_template),
      auth_line_(ValidateAndBuildAuthLine(config_)),
      message_id_pointer_(ParsePointer("json_sms.message_id_pointer", config_.message_id_pointer)),
      unsubscribed_pointer_(
          ParsePointer("json_sms.unsubscribed_error_pointer", config_.unsubscribed_error_pointer)),
      error_code_pointer_(ParsePointer("json_sms.error_code_pointer", config_.error_code_pointer)),
      error_message_pointer_(
          ParsePointer("json_sms.error_message_pointer", config_.error_message_pointer)),
      clock_(clock) {}

DeliveryResult JsonSmsSender::Send(const SmsMessage& message) {
  return SendUnlessStopped(message, std::stop_token());
}

DeliveryResult JsonSmsSender::SendUnlessStopped(const SmsMessage& message,
                                                const std::stop_token& stop) {
  HttpPost post;
  post.stop = stop;
  post.url = config_.url;
  post.content_type = "application/json";
  post.body = template_.Render({.to = message.to_e164,
                                .from = config_.from,
                                .body = message.body,
                                .message_id = message.message_id});
  if (!auth_line_.empty()) post.headers.push_back(auth_line_);
  post.timeout_s = config_.timeout_s;

  HttpReply reply = http_.Post(post);
  DeliveryResult result = ResultFromReply(reply, clock_.Now());
  if (reply.status == 0) return result;

  auto doc = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (result.outcome == DeliveryOutcome::kSent) {
    result.provider_message_id = ScalarAt(doc, message_id_pointer_);
    if (result.provider_message_id.empty()) result.detail = "accepted without a message id";
    return result;
  }
  // An empty pointer names the whole document; for these optional fields it means "unset".
  if (!config_.error_code_pointer.empty()) {
    result.provider_code = ScalarAt(doc, error_code_pointer_);
  }
  std::string words;
  if (!config_.error_message_pointer.empty()) words = ScalarAt(doc, error_message_pointer_);
  result.detail = DetailText(words.empty() ? reply.body : words);
  if (reply.status >= 400 && reply.status < 500 && !config_.unsubscribed_error_pointer.empty() &&
      ScalarAt(doc, unsubscribed_pointer_) == config_.unsubscribed_error_value) {
    result.outcome = DeliveryOutcome::kSuppress;
    if (result.provider_code.empty()) result.provider_code = config_.unsubscribed_error_value;
  }
  return result;
}

}  // namespace herald::dispatch::sms
