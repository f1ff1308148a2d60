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

// SEC-4: the return path bounces come back to must carry the report token (VERP), within
// the 64 octets of a local part.
TEST(SmtpRelayConfigTest, ReturnPathMustLeaveRoomForTheToken) {
  SmtpRelayConfig c = Valid();
  c.return_path = "bounces@news.herald.example";
  EXPECT_NO_THROW(SmtpRelaySender{c});
  c.return_path = "fourteen-chars@news.herald.example";
  EXPECT_NO_THROW(SmtpRelaySender{c});
  for (const char* bad : {"fifteen-chars-x@news.herald.example", "bounces", "@news.example",
                          "bounces@", "bounces@bad host", "b<x>@news.example", "b\r\n@x.example"}) {
    SCOPED_TRACE(bad);
    c.return_path = bad;
    EXPECT_THROW(SmtpRelaySender{c}, std::invalid_argument);
  }
}

TEST(EnvelopeSenderTest, VerpWhenTheMessageHasAToken) {
  const std::string token = "0190f5a27c3e7a108b2c00000000002a.355xgau4fobhufki";
  EmailMessage m;
  m.from_address = "news@herald.example";
  EXPECT_EQ(EnvelopeSender(m, ""), "news@herald.example");
  EXPECT_EQ(EnvelopeSender(m, "bounces@b.herald.example"), "bounces@b.herald.example");
  m.report_token = token;
  EXPECT_EQ(EnvelopeSender(m, ""), "news+" + token + "@herald.example");
  EXPECT_EQ(EnvelopeSender(m, "bounces@b.herald.example"),
            "bounces+" + token + "@b.herald.example");
  // A From address too long for VERP goes out plainly (the Message-ID still has the token).
  m.from_address = "marketing-newsletter@herald.example";
  EXPECT_EQ(EnvelopeSender(m, ""), "marketing-newsletter@herald.example");
}

}  // namespace
}  // namespace herald::dispatch
