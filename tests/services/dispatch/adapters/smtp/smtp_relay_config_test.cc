#include <gtest/gtest.h>

#include <stdexcept>

#include "services/dispatch/adapters/smtp/smtp_relay_sender.h"

namespace herald::dispatch {
namespace {

SmtpRelayConfig Valid() {
  SmtpRelayConfig c;
  c.url = "smtp://relay.example:587";
  return c;
}

// A config that cannot work must stop start-up, not fail every message later.
TEST(SmtpRelayConfigTest, RefusesUnusableConfigs) {
  EXPECT_NO_THROW(SmtpRelaySender{Valid()});
  auto with = [](auto change) {
    SmtpRelayConfig c = Valid();
    change(c);
    return c;
  };
  EXPECT_THROW(SmtpRelaySender(with([](auto& c) { c.url = "http://relay.example"; })),
               std::invalid_argument);
  EXPECT_THROW(SmtpRelaySender(with([](auto& c) { c.url = "not a url"; })), std::invalid_argument);
  EXPECT_THROW(SmtpRelaySender(with([](auto& c) { c.helo_name = "bad name\r\n"; })),
               std::invalid_argument);
  EXPECT_THROW(SmtpRelaySender(with([](auto& c) {
                 c.url = "smtp://relay.example/path";
                 c.helo_name = "herald.example";
               })),
               std::invalid_argument);
  EXPECT_THROW(SmtpRelaySender(with([](auto& c) { c.timeout_s = 0; })), std::invalid_argument);
  EXPECT_THROW(SmtpRelaySender(with([](auto& c) { c.max_connections = 0; })),
               std::invalid_argument);
  EXPECT_THROW(SmtpRelaySender(with([](auto& c) { c.message_id_domain = "a>b"; })),
               std::invalid_argument);
}

// A password must not go out in cleartext because someone stripped the STARTTLS offer.
TEST(SmtpRelayConfigTest, CredentialsNeedTlsRequiredOrAnExplicitNone) {
  SmtpRelayConfig c = Valid();
  c.username = "herald";
  c.password = "secret";
  EXPECT_THROW(SmtpRelaySender{c}, std::invalid_argument);  // kOpportunistic
  c.starttls = SmtpRelayConfig::StartTls::kRequired;
  EXPECT_NO_THROW(SmtpRelaySender{c});
  c.starttls = SmtpRelayConfig::StartTls::kNone;
  EXPECT_NO_THROW(SmtpRelaySender{c});
  c.starttls = SmtpRelayConfig::StartTls::kOpportunistic;
  c.url = "smtps://relay.example:465";
  EXPECT_NO_THROW(SmtpRelaySender{c});
}

}  // namespace
}  // namespace herald::dispatch
