// The bodies SMS providers post to /hooks/sms/{provider}/inbound and /status, in both
// dialects (Twilio form posts, the JSON API), and the signatures computed over them.
//
// Input: one byte choosing the dialect, then the body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_support.h"
#include "services/inbound/sms/webhook_parsing.h"

namespace {

using namespace herald::inbound::sms;

bool PrintableAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7E) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  herald::fuzz::Input in(data, size);
  Dialect dialect = (in.Byte() & 1) != 0 ? Dialect::kJson : Dialect::kTwilio;
  std::string_view body = in.Rest();

  ParseError error;
  if (auto sms = ParseInbound(dialect, body, &error)) {
    HERALD_FUZZ_CHECK(!sms->provider_message_id.empty() && sms->provider_message_id.size() <= 128);
    HERALD_FUZZ_CHECK(PrintableAscii(sms->provider_message_id));
    HERALD_FUZZ_CHECK(!sms->from.empty());
    HERALD_FUZZ_CHECK(sms->text.size() <= 4096);
  } else {
    HERALD_FUZZ_CHECK(!error.field.empty() && !error.message.empty());
  }
  error = {};
  if (auto receipt = ParseReceipt(dialect, body, &error)) {
    HERALD_FUZZ_CHECK(PrintableAscii(receipt->provider_message_id));
    HERALD_FUZZ_CHECK(!receipt->status.empty() && receipt->status.size() <= 32);
    HERALD_FUZZ_CHECK(receipt->final ==
                      (receipt->status == "delivered" || receipt->status == "undelivered"));
  } else {
    HERALD_FUZZ_CHECK(!error.field.empty() && !error.message.empty());
  }

  // The signatures the hooks compare the presented header with.
  if (auto form = ParseForm(body)) {
    std::string twilio =
        TwilioSignature("fuzz-auth-token", "https://hooks.example.net/hooks/sms/t/inbound", *form);
    HERALD_FUZZ_CHECK(twilio.size() == 28);  // base64 of HMAC-SHA1
    HERALD_FUZZ_CHECK(SignatureMatches(twilio, twilio));
    for (const auto& [name, value] : *form) {
      HERALD_FUZZ_CHECK(!SignatureMatches(value, twilio) || value == twilio);
    }
  }
  std::string json = JsonSignature("fuzz-shared-secret", body);
  HERALD_FUZZ_CHECK(json.size() == 7 + 64);
  HERALD_FUZZ_CHECK(!SignatureMatches(body, json) || body == json);
  HERALD_FUZZ_CHECK(!SignatureMatches("", json));
  return 0;
}
