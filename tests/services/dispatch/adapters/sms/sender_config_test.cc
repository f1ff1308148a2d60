// Start-up checks of the senders' configs: a bad config stops the process with the field's
// name, before any message is attempted.
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>

#include "common/clock.h"
#include "services/dispatch/adapters/sms/json_sms_sender.h"
#include "services/dispatch/adapters/sms/twilio_sms_sender.h"

namespace herald::dispatch::sms {
namespace {

const Clock& TheClock() {
  static const SystemClock clock;
  return clock;
}

void ExpectRejectedNaming(const std::function<void()>& build, const std::string& field) {
  try {
    build();
    ADD_FAILURE() << "accepted; expected a complaint about " << field;
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).rfind(field + ":", 0), 0u) << e.what();
  }
}

TwilioConfig GoodTwilio() {
  return {.base_url = "https://api.twilio.com",
          .account_sid = "AC0123456789abcdef0123456789abcdef",
          .auth_token = "token",
          .from = "Herald",
          .status_callback_url = "",
          .timeout_s = 15};
}

JsonSmsConfig GoodJson() {
  JsonSmsConfig c;
  c.url = "https://sms.example/v2/messages";
  c.auth_header = "Authorization";
  c.auth_value = "Bearer k";
  c.body_template = R"({"to":"{{to}}","text":"{{body}}"})";
  c.from = "Herald";
  return c;
}

TEST(SenderConfigTest, GoodConfigsAreAccepted) {
  EXPECT_NO_THROW(TwilioSmsSender(GoodTwilio(), TheClock()));
  EXPECT_NO_THROW(JsonSmsSender(GoodJson(), TheClock()));
}

TEST(SenderConfigTest, TwilioRejectsUnusableFields) {
  auto with = [](const std::function<void(TwilioConfig&)>& change) {
    return [change] {
      TwilioConfig c = GoodTwilio();
      change(c);
      TwilioSmsSender sender(c, TheClock());
    };
  };
  ExpectRejectedNaming(with([](auto& c) { c.base_url = "ftp://x"; }), "twilio.base_url");
  ExpectRejectedNaming(with([](auto& c) { c.account_sid = ""; }), "twilio.account_sid");
  ExpectRejectedNaming(with([](auto& c) { c.account_sid = "AC1/../x"; }), "twilio.account_sid");
  ExpectRejectedNaming(with([](auto& c) { c.auth_token = ""; }), "twilio.auth_token");
  ExpectRejectedNaming(with([](auto& c) { c.from = ""; }), "twilio.from");
  ExpectRejectedNaming(with([](auto& c) { c.status_callback_url = "/cb"; }),
                       "twilio.status_callback_url");
  ExpectRejectedNaming(with([](auto& c) { c.timeout_s = 0; }), "twilio.timeout_s");
}

TEST(SenderConfigTest, JsonRejectsUnusableFields) {
  auto with = [](const std::function<void(JsonSmsConfig&)>& change) {
    return [change] {
      JsonSmsConfig c = GoodJson();
      change(c);
      JsonSmsSender sender(c, TheClock());
    };
  };
  ExpectRejectedNaming(with([](auto& c) { c.body_template = R"({"to":{{to}},"t":"{{body}}"})"; }),
                       "body_template");
  ExpectRejectedNaming(with([](auto& c) { c.url = "sms.example"; }), "json_sms.url");
  ExpectRejectedNaming(with([](auto& c) { c.from = ""; }), "json_sms.from");
  ExpectRejectedNaming(with([](auto& c) { c.timeout_s = 301; }), "json_sms.timeout_s");
  ExpectRejectedNaming(with([](auto& c) { c.auth_header = "X-Key: a\r\nX-Evil"; }),
                       "json_sms.auth_header");
  ExpectRejectedNaming(with([](auto& c) { c.auth_value = "Bearer a\r\nX-Evil: 1"; }),
                       "json_sms.auth_value");
  ExpectRejectedNaming(with([](auto& c) { c.message_id_pointer = "id"; }),
                       "json_sms.message_id_pointer");
  ExpectRejectedNaming(with([](auto& c) { c.error_code_pointer = "/a~2"; }),
                       "json_sms.error_code_pointer");
  ExpectRejectedNaming(with([](auto& c) { c.unsubscribed_error_pointer = "/error/code"; }),
                       "json_sms.unsubscribed_error_value");
}

}  // namespace
}  // namespace herald::dispatch::sms
