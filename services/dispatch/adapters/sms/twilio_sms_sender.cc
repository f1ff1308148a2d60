#include "services/dispatch/adapters/sms/twilio_sms_sender.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>

#include "services/dispatch/adapters/sms/provider_reply.h"

namespace herald::dispatch::sms {
namespace {

constexpr std::string_view kUnsubscribedCode = "21610";

// application/x-www-form-urlencoded: everything but RFC 3986 unreserved characters is
// percent-encoded, byte by byte, so UTF-8 passes intact and "+" in an E.164 number is not
// read back as a space.
void AppendFormField(std::string& out, std::string_view name, std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  if (!out.empty()) out += '&';
  out += name;
  out += '=';
  for (unsigned char c : value) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
}

bool IsHttpUrl(std::string_view url) {
  return url.starts_with("http://") || url.starts_with("https://");
}

void Validate(const TwilioConfig& c) {
  if (!IsHttpUrl(c.base_url)) {
    throw std::invalid_argument("twilio.base_url: must start with http:// or https://");
  }
  // The SID becomes a path segment: letters and digits only keep it from changing the path.
  if (c.account_sid.empty() || !std::all_of(c.account_sid.begin(), c.account_sid.end(),
                                            [](unsigned char ch) { return std::isalnum(ch); })) {
    throw std::invalid_argument("twilio.account_sid: must be letters and digits");
  }
  if (c.auth_token.empty()) throw std::invalid_argument("twilio.auth_token: must be set");
  if (c.from.empty()) throw std::invalid_argument("twilio.from: must be set");
  if (!c.status_callback_url.empty() && !IsHttpUrl(c.status_callback_url)) {
    throw std::invalid_argument("twilio.status_callback_url: must start with http:// or https://");
  }
  if (c.timeout_s < 1 || c.timeout_s > 300) {
    throw std::invalid_argument("twilio.timeout_s: must be 1..300");
  }
}

std::string MessagesUrl(const TwilioConfig& c) {
  std::string base = c.base_url;
  while (base.ends_with('/')) base.pop_back();
  return base + "/2010-04-01/Accounts/" + c.account_sid + "/Messages.json";
}

}  // namespace

TwilioSmsSender::TwilioSmsSender(TwilioConfig config, const Clock& clock)
    : config_(std::move(config)), clock_(clock) {
  Validate(config_);
  messages_url_ = MessagesUrl(config_);
}

DeliveryResult TwilioSmsSender::Send(const SmsMessage& message) {
  return SendUnlessStopped(message, std::stop_token());
}

DeliveryResult TwilioSmsSender::SendUnlessStopped(const SmsMessage& message,
                                                  const std::stop_token& stop) {
  HttpPost post;
  post.stop = stop;
  post.url = messages_url_;
  post.content_type = "application/x-www-form-urlencoded";
  AppendFormField(post.body, "To", message.to_e164);
  AppendFormField(post.body, "From", config_.from);
  AppendFormField(post.body, "Body", message.body);
  if (!config_.status_callback_url.empty()) {
    AppendFormField(post.body, "StatusCallback", config_.status_callback_url);
  }
  post.basic_user = config_.account_sid;
  post.basic_password = config_.auth_token;
  post.timeout_s = config_.timeout_s;

  HttpReply reply = http_.Post(post);
  DeliveryResult result = ResultFromReply(reply, clock_.Now());
  if (reply.status == 0) return result;

  auto doc = nlohmann::json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (result.outcome == DeliveryOutcome::kSent) {
    result.provider_message_id = ScalarAt(doc, nlohmann::json::json_pointer("/sid"));
    if (result.provider_message_id.empty()) result.detail = "accepted without a message sid";
    return result;
  }
  // Twilio's error body: {"code": 21211, "message": "...", "more_info": "...", "status": 400}
  result.provider_code = ScalarAt(doc, nlohmann::json::json_pointer("/code"));
  std::string words = ScalarAt(doc, nlohmann::json::json_pointer("/message"));
  result.detail = DetailText(words.empty() ? reply.body : words);
  if (reply.status >= 400 && reply.status < 500 && result.provider_code == kUnsubscribedCode) {
    result.outcome = DeliveryOutcome::kSuppress;
  }
  return result;
}

}  // namespace herald::dispatch::sms
