#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace herald::inbound::sms {

// The two SMS dialects of the dispatch adapters: Twilio-style form posts and the JSON API.
enum class Dialect { kTwilio, kJson };

// application/x-www-form-urlencoded; nullopt on a malformed %-escape. Repeated names keep
// every value (Twilio signs each one).
std::optional<std::multimap<std::string, std::string>> ParseForm(std::string_view body);

// Twilio's request signature: base64(HMAC-SHA1(auth token, url + each POST parameter's name
// and value, sorted by name)).
std::string TwilioSignature(std::string_view auth_token, std::string_view url,
                            const std::multimap<std::string, std::string>& params);
// The JSON dialect's signature, sent as `X-Herald-Signature`: "sha256=" + lower-case hex of
// HMAC-SHA256(shared secret, raw body).
std::string JsonSignature(std::string_view secret, std::string_view body);
// Constant-time check of a presented signature against the expected one.
bool SignatureMatches(std::string_view presented, std::string_view expected);

struct InboundSms {
  std::string provider_message_id;
  std::string from;
  std::string text;
};

struct DeliveryReceipt {
  std::string provider_message_id;
  // delivered, undelivered, or what the provider said for a state that is not final.
  std::string status;
  bool final = false;
};

// A webhook body that cannot be used: the field is named, its value never repeated.
struct ParseError {
  std::string field;
  std::string message;
};

// Twilio: MessageSid (or SmsSid), From, Body. JSON: {"message_id", "from", "text"}.
std::optional<InboundSms> ParseInbound(Dialect d, std::string_view body, ParseError* error);
// Twilio: MessageSid, MessageStatus. JSON: {"message_id", "status"}. delivered -> delivered;
// undelivered and failed -> undelivered; any other status is not final.
std::optional<DeliveryReceipt> ParseReceipt(Dialect d, std::string_view body, ParseError* error);

}  // namespace herald::inbound::sms
