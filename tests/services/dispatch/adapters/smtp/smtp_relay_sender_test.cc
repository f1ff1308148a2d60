// The adapter against a real SMTP server (aiosmtpd, tests/support/smtp_capture_server.py):
// what arrives, over which connection and TLS, and how each server answer maps to an
// outcome. Without python3-aiosmtpd these tests skip, except under CI, where they fail.
#include "services/dispatch/adapters/smtp/smtp_relay_sender.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <stop_token>
#include <thread>

#include "tests/services/dispatch/adapters/delivery_printers.h"
#include "tests/support/eventually.h"
#include "tests/support/faulty_smtp_relay.h"
#include "tests/support/smtp_capture_server.h"

namespace herald::dispatch {
namespace {

using herald::testing::CaptureServer;
using herald::testing::CaptureServerOptions;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using Json = nlohmann::json;

constexpr std::string_view kCyrillic = "Новые продукты и специальные предложения";
constexpr std::string_view kAzerbaijani = "Yeni məhsullar və xüsusi təkliflər";
constexpr std::string_view kMarker =
    "yeni məhsul və xidmətlər və xüsusi təkliflər barədə bildirişlərdən imtina";

std::string WithoutCr(std::string s) {
  std::erase(s, '\r');
  return s;
}

std::string Header(const Json& record, const char* name) {
  const Json& headers = record["parsed"]["headers"];
  return headers.contains(name) ? headers[name].get<std::string>() : "<missing>";
}

EmailMessage Message(std::string id, std::string to = "anna@example.com") {
  EmailMessage m;
  m.message_id = std::move(id);
  m.from_address = "news@herald.example";
  m.from_name = "Herald News";
  m.to_address = std::move(to);
  m.subject = "Spring offers";
  m.text_body = "Hello Anna,\nour spring offers.\nUnsubscribe: https://u.herald.example/u/T1\n";
  m.list_unsubscribe_url = "https://u.herald.example/u/T1";
  m.list_unsubscribe_mailto = "unsubscribe@herald.example";
  m.list_unsubscribe_subject = std::string(kMarker);
  m.date = ParseTimestamp("2026-11-27T17:58:33Z");
  return m;
}

class SmtpRelaySenderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    tls_dir_ =
        new std::string(::testing::TempDir() + "herald_smtp_tls_" + std::to_string(getpid()));
    std::filesystem::create_directories(*tls_dir_);
    std::string command =
        "openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost "
        "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -days 1 -keyout " +
        Key() + " -out " + Cert() + " >/dev/null 2>&1";
    cert_ok_ = std::system(command.c_str()) == 0;
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(*tls_dir_, ignored);
    delete tls_dir_;
  }
  static std::string Cert() { return *tls_dir_ + "/cert.pem"; }
  static std::string Key() { return *tls_dir_ + "/key.pem"; }

  // Starts the capture server into server_. When it cannot start, the test is skipped,
  // or fails when the environment says CI: callers return if server_ is null.
  void StartServer(CaptureServerOptions options = {}) {
    std::string why;
    if ((options.starttls || options.smtps) && !cert_ok_) {
      why = "openssl could not make a test certificate";
    } else {
      if (options.starttls || options.smtps) {
        options.cert = Cert();
        options.key = Key();
      }
      const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
      auto server = std::make_unique<CaptureServer>(
          options,
          ::testing::TempDir() + "herald_smtp_" + test->name() + "_" + std::to_string(getpid()));
      if (server->started()) {
        server_ = std::move(server);
        return;
      }
      why = server->error();
    }
    if (std::getenv("CI") != nullptr) {
      ADD_FAILURE() << "SMTP capture server did not start: " << why;
    } else {
      GTEST_SKIP() << "SMTP capture server did not start (set CI to fail instead): " << why;
    }
  }

  SmtpRelayConfig Config(const char* scheme = "smtp") const {
    SmtpRelayConfig c;
    c.url = server_->Url(scheme);
    c.ca_file = Cert();
    c.message_id_domain = "mail.herald.test";
    c.helo_name = "sender.herald.test";
    c.timeout_s = 10;
    return c;
  }

  std::unique_ptr<CaptureServer> server_;
  static inline std::string* tls_dir_ = nullptr;
  static inline bool cert_ok_ = false;
};

TEST_F(SmtpRelaySenderTest, PlainSendArrivesWithItsHeaders) {
  StartServer();
  if (!server_) return;
  SmtpRelaySender sender(Config());
  EmailMessage m = Message("7d3c9a52-1111-4e0b-8a64-0c2a4b1f0001");

  DeliveryResult r = sender.Send(m);

  EXPECT_EQ(r.outcome, DeliveryOutcome::kSent) << r.detail;
  EXPECT_EQ(r.code, 250);
  EXPECT_EQ(r.provider_message_id, "Q000001");
  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(1));
  const Json& msg = got[0];
  EXPECT_EQ(msg["mail_from"], "news@herald.example");
  EXPECT_EQ(msg["rcpt_tos"], Json::array({"anna@example.com"}));
  EXPECT_EQ(msg["ehlo"], "sender.herald.test");
  EXPECT_EQ(msg["tls"], false);
  EXPECT_EQ(msg["parsed"]["defects"], Json::array());
  EXPECT_EQ(Header(msg, "Date"), "Fri, 27 Nov 2026 17:58:33 +0000");
  EXPECT_EQ(Header(msg, "From"), "Herald News <news@herald.example>");
  EXPECT_EQ(Header(msg, "To"), "anna@example.com");
  EXPECT_EQ(Header(msg, "Subject"), "Spring offers");
  EXPECT_EQ(Header(msg, "Message-ID"), "<" + m.message_id + "@mail.herald.test>");
  EXPECT_EQ(Header(msg, "X-Herald-Message-Id"), m.message_id);
  EXPECT_EQ(Header(msg, "List-Unsubscribe-Post"), "List-Unsubscribe=One-Click");
  EXPECT_THAT(
      Header(msg, "List-Unsubscribe"),
      ::testing::StartsWith("<https://u.herald.example/u/T1>, "
                            "<mailto:unsubscribe@herald.example?subject=yeni%20m%C9%99hsul"));
  ASSERT_THAT(msg["parsed"]["parts"], SizeIs(1));
  EXPECT_EQ(msg["parsed"]["parts"][0]["content_type"], "text/plain");
  EXPECT_EQ(msg["parsed"]["parts"][0]["charset"], "utf-8");
  EXPECT_EQ(WithoutCr(msg["parsed"]["parts"][0]["content"]), m.text_body);
}

// SEC-4: what the relay receives for a tagged message: the token in the envelope sender
// (VERP, where bounces come back) and in the Message-ID (what reports quote), never a bare id.
TEST_F(SmtpRelaySenderTest, TaggedMessageCarriesItsTokenInTheEnvelopeAndMessageId) {
  StartServer();
  if (!server_) return;
  const std::string token = "7d3c9a5211114e0b8a640c2a4b1f0002.355xgau4fobhufki";
  SmtpRelayConfig config = Config();
  config.return_path = "bounces@b.herald.test";
  SmtpRelaySender sender(config);
  EmailMessage m = Message("7d3c9a52-1111-4e0b-8a64-0c2a4b1f0002");
  m.report_token = token;
  ASSERT_EQ(sender.Send(m).outcome, DeliveryOutcome::kSent);
  SmtpRelaySender from_default(Config());  // no return_path: the From address, VERP-ed
  ASSERT_EQ(from_default.Send(m).outcome, DeliveryOutcome::kSent);
  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(2));
  EXPECT_EQ(got[0]["mail_from"], "bounces+" + token + "@b.herald.test");
  EXPECT_EQ(got[1]["mail_from"], "news+" + token + "@herald.example");
  for (const Json& msg : got) {
    EXPECT_EQ(Header(msg, "Message-ID"), "<" + token + "@mail.herald.test>");
    EXPECT_EQ(Header(msg, "X-Herald-Message-Id"), m.message_id);
    EXPECT_EQ(Header(msg, "From"), "Herald News <news@herald.example>");
  }
}

TEST_F(SmtpRelaySenderTest, CyrillicAndAzerbaijaniArriveDecodedRight) {
  StartServer();
  if (!server_) return;
  SmtpRelaySender sender(Config());
  EmailMessage ru = Message("ru-1");
  ru.subject = std::string(kCyrillic);
  ru.from_name = "Рассылка Herald";
  ru.text_body = std::string(kCyrillic) + "\n";
  EmailMessage az = Message("az-1");
  az.subject = std::string(kAzerbaijani) + " — " + std::string(kAzerbaijani);  // folds
  az.from_name = "Herald Xəbərlər";
  az.text_body = std::string(kAzerbaijani) + "\n";

  ASSERT_EQ(sender.Send(ru).outcome, DeliveryOutcome::kSent);
  ASSERT_EQ(sender.Send(az).outcome, DeliveryOutcome::kSent);

  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(2));
  EXPECT_EQ(Header(got[0], "Subject"), ru.subject);
  EXPECT_EQ(Header(got[0], "From"), "Рассылка Herald <news@herald.example>");
  EXPECT_EQ(WithoutCr(got[0]["parsed"]["parts"][0]["content"]), ru.text_body);
  EXPECT_EQ(Header(got[1], "Subject"), az.subject);
  EXPECT_EQ(Header(got[1], "From"), "Herald Xəbərlər <news@herald.example>");
  EXPECT_EQ(WithoutCr(got[1]["parsed"]["parts"][0]["content"]), az.text_body);
  for (const Json& msg : got) EXPECT_EQ(msg["parsed"]["defects"], Json::array());
}

TEST_F(SmtpRelaySenderTest, TextAndHtmlArriveAsAlternativesIntact) {
  StartServer();
  if (!server_) return;
  SmtpRelaySender sender(Config());
  EmailMessage m = Message("multi-1");
  // A lone "." line would end DATA early if not dot-stuffed; long lines and '=' test QP.
  m.text_body = "Hello,\n.\n.hidden line\n" + std::string(1500, 'x') + "\na=b\n";
  m.html_body = "<html><body><p>" + std::string(kCyrillic) + "</p>\n.\n" + std::string(1200, 'y') +
                "</body></html>\n";

  DeliveryResult r = sender.Send(m);

  ASSERT_EQ(r.outcome, DeliveryOutcome::kSent) << r.detail;
  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(1));
  const Json& parsed = got[0]["parsed"];
  EXPECT_EQ(parsed["content_type"], "multipart/alternative");
  EXPECT_EQ(parsed["defects"], Json::array());
  ASSERT_THAT(parsed["parts"], SizeIs(2));
  EXPECT_EQ(parsed["parts"][0]["content_type"], "text/plain");
  EXPECT_EQ(parsed["parts"][1]["content_type"], "text/html");
  EXPECT_EQ(parsed["parts"][0]["transfer_encoding"], "quoted-printable");
  EXPECT_EQ(WithoutCr(parsed["parts"][0]["content"]), m.text_body);
  EXPECT_EQ(WithoutCr(parsed["parts"][1]["content"]), m.html_body);
}

TEST_F(SmtpRelaySenderTest, RequiredStartTlsRefusesAServerWithoutIt) {
  StartServer();
  if (!server_) return;
  SmtpRelayConfig config = Config();
  config.starttls = SmtpRelayConfig::StartTls::kRequired;
  SmtpRelaySender sender(config);

  DeliveryResult r = sender.Send(Message("tls-missing"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.detail, HasSubstr("STARTTLS"));
  EXPECT_THAT(server_->Messages(), SizeIs(0));
}

TEST_F(SmtpRelaySenderTest, RequiredStartTlsSendsOverTls) {
  StartServer({.starttls = true});
  if (!server_) return;
  SmtpRelayConfig config = Config();
  config.starttls = SmtpRelayConfig::StartTls::kRequired;
  SmtpRelaySender sender(config);

  DeliveryResult r = sender.Send(Message("tls-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kSent) << r.detail;
  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(got[0]["tls"], true);
}

TEST_F(SmtpRelaySenderTest, OpportunisticStartTlsUpgradesWhenOffered) {
  StartServer({.starttls = true});
  if (!server_) return;
  SmtpRelaySender sender(Config());  // kOpportunistic is the default

  ASSERT_EQ(sender.Send(Message("tls-opp")).outcome, DeliveryOutcome::kSent);

  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(got[0]["tls"], true);
}

TEST_F(SmtpRelaySenderTest, StartTlsWithAnUntrustedCertificateSendsNothing) {
  StartServer({.starttls = true});
  if (!server_) return;
  SmtpRelayConfig config = Config();
  config.starttls = SmtpRelayConfig::StartTls::kRequired;
  config.ca_file.clear();  // the system store does not know the test certificate
  SmtpRelaySender sender(config);

  DeliveryResult r = sender.Send(Message("tls-untrusted"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(server_->Messages(), SizeIs(0));
}

TEST_F(SmtpRelaySenderTest, SmtpsSendsOverImplicitTls) {
  StartServer({.smtps = true});
  if (!server_) return;
  SmtpRelaySender sender(Config("smtps"));

  DeliveryResult r = sender.Send(Message("smtps-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kSent) << r.detail;
  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(got[0]["tls"], true);
}

TEST_F(SmtpRelaySenderTest, AuthWithTheRightPasswordSends) {
  StartServer({.starttls = true, .auth = "herald:s3cret"});
  if (!server_) return;
  SmtpRelayConfig config = Config();
  config.starttls = SmtpRelayConfig::StartTls::kRequired;
  config.username = "herald";
  config.password = "s3cret";
  SmtpRelaySender sender(config);

  DeliveryResult r = sender.Send(Message("auth-ok"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kSent) << r.detail;
  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(got[0]["login"], "herald");
}

TEST_F(SmtpRelaySenderTest, AuthWithAWrongPasswordSendsNothingAndKeepsTheMessage) {
  StartServer({.starttls = true, .auth = "herald:s3cret"});
  if (!server_) return;
  SmtpRelayConfig config = Config();
  config.starttls = SmtpRelayConfig::StartTls::kRequired;
  config.username = "herald";
  config.password = "wrong";
  SmtpRelaySender sender(config);

  DeliveryResult r = sender.Send(Message("auth-bad"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_EQ(r.code, 535);
  EXPECT_EQ(r.enhanced_status, "5.7.8");
  EXPECT_THAT(server_->Messages(), SizeIs(0));
}

TEST_F(SmtpRelaySenderTest, RelayDemandingAuthWeWereNotGivenIsRetry) {
  StartServer({.auth = "herald:s3cret"});
  if (!server_) return;
  SmtpRelaySender sender(Config());

  DeliveryResult r = sender.Send(Message("auth-missing"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_EQ(r.code, 530);
  EXPECT_THAT(server_->Messages(), SizeIs(0));
}

struct RcptCase {
  const char* name;
  const char* rule;
  const char* to;
  DeliveryOutcome outcome;
  int code;
  const char* enhanced;
  const char* words;
};

void PrintTo(const RcptCase& c, std::ostream* os) { *os << c.name; }

class RcptRejectionTest : public SmtpRelaySenderTest,
                          public ::testing::WithParamInterface<RcptCase> {};

TEST_P(RcptRejectionTest, MapsToItsOutcome) {
  const RcptCase& c = GetParam();
  StartServer({.fail_rcpt = {c.rule}});
  if (!server_) return;
  SmtpRelaySender sender(Config());

  DeliveryResult r = sender.Send(Message(std::string("rcpt-") + c.name, c.to));

  EXPECT_EQ(r.outcome, c.outcome) << r.detail;
  EXPECT_EQ(r.code, c.code);
  EXPECT_EQ(r.enhanced_status, c.enhanced);
  EXPECT_THAT(r.detail, HasSubstr(c.words));
  EXPECT_LE(r.detail.size(), 300u);
  EXPECT_THAT(server_->Messages(), SizeIs(0));
}

INSTANTIATE_TEST_SUITE_P(
    ServerReplies, RcptRejectionTest,
    ::testing::Values(RcptCase{"UnknownMailboxSuppresses",
                               "bounce@example.com=550:5.1.1:No such user", "bounce@example.com",
                               DeliveryOutcome::kSuppress, 550, "5.1.1", "No such user"},
                      RcptCase{"TemporaryRetries", "later@example.com=451:4.3.0:Try later",
                               "later@example.com", DeliveryOutcome::kRetry, 451, "4.3.0",
                               "Try later"},
                      RcptCase{"PolicyFails", "blocked@example.com=550:5.7.1:Rejected by policy",
                               "blocked@example.com", DeliveryOutcome::kFailed, 550, "5.7.1",
                               "Rejected by policy"}),
    [](const ::testing::TestParamInfo<RcptCase>& info) { return std::string(info.param.name); });

TEST_F(SmtpRelaySenderTest, RejectedRecipientDoesNotSpoilTheNextSend) {
  StartServer({.fail_rcpt = {"bounce@example.com=550:5.1.1:No such user"}});
  if (!server_) return;
  SmtpRelaySender sender(Config());

  EXPECT_EQ(sender.Send(Message("first", "bounce@example.com")).outcome,
            DeliveryOutcome::kSuppress);
  DeliveryResult r = sender.Send(Message("second"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kSent) << r.detail;
  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(1));
  EXPECT_EQ(Header(got[0], "X-Herald-Message-Id"), "second");
}

TEST_F(SmtpRelaySenderTest, ClosedPortIsRetryWithCodeZero) {
  // A port that was free a moment ago and has nobody listening.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  SmtpRelayConfig config;
  config.url = "smtp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  config.timeout_s = 5;
  SmtpRelaySender sender(config);

  DeliveryResult r = sender.Send(Message("down-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.detail, HasSubstr("transport failure"));
}

// The capture server has the whole message and answers DATA only after the timeout: a relay
// that queues before it answers would deliver a second copy if the message were sent again.
TEST_F(SmtpRelaySenderTest, ServerSlowerThanTheTimeoutAfterTheWholeMessageIsMaybeSent) {
  StartServer({.delay_ms = 4000});
  if (!server_) return;
  SmtpRelayConfig config = Config();
  config.timeout_s = 1;
  SmtpRelaySender sender(config);

  auto start = std::chrono::steady_clock::now();
  DeliveryResult r = sender.Send(Message("slow-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kMaybeSent) << r.detail;
  EXPECT_EQ(r.code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(SmtpRelaySenderTest, MalformedMessageFailsWithoutConnecting) {
  StartServer();
  if (!server_) return;
  SmtpRelaySender sender(Config());

  DeliveryResult r = sender.Send(Message("bad-1", "anna@example.com\r\nRCPT TO:<x@evil>"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_THAT(r.detail, HasSubstr("to_address"));
  EXPECT_EQ(server_->ConnectionCount(), 0);
}

TEST_F(SmtpRelaySenderTest, SequentialSendsReuseOneConnection) {
  StartServer({.starttls = true});
  if (!server_) return;
  SmtpRelaySender sender(Config());

  for (int i = 0; i < 5; ++i) {
    DeliveryResult r = sender.Send(Message("seq-" + std::to_string(i)));
    ASSERT_EQ(r.outcome, DeliveryOutcome::kSent) << r.detail;
  }

  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(5));
  for (const Json& msg : got) EXPECT_EQ(msg["connection"], 1);
  EXPECT_EQ(server_->ConnectionCount(), 1);
}

TEST_F(SmtpRelaySenderTest, ReusedConnectionTheRelayDroppedIsReplacedTransparently) {
  StartServer({.drop_mail_after = 1});
  if (!server_) return;
  SmtpRelaySender sender(Config());

  DeliveryResult first = sender.Send(Message("drop-1"));
  DeliveryResult second = sender.Send(Message("drop-2"));  // its MAIL FROM goes unanswered

  EXPECT_EQ(first.outcome, DeliveryOutcome::kSent) << first.detail;
  EXPECT_EQ(second.outcome, DeliveryOutcome::kSent) << second.detail;
  std::vector<Json> got = server_->Messages();
  ASSERT_THAT(got, SizeIs(2));
  EXPECT_EQ(got[1]["connection"], 2);
  EXPECT_EQ(server_->ConnectionCount(), 2);
}

// More threads than connections: Sends wait for a free connection, and never open more.
TEST_F(SmtpRelaySenderTest, FourThreadsTimesTenMessagesArriveExactlyOnce) {
  StartServer();
  if (!server_) return;
  SmtpRelayConfig config = Config();
  config.max_connections = 2;
  SmtpRelaySender sender(config);
  std::set<std::string> expected;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 10; ++i) expected.insert("t" + std::to_string(t) + "-" + std::to_string(i));
  }

  std::vector<std::thread> threads;
  std::vector<int> not_sent(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        EmailMessage m = Message("t" + std::to_string(t) + "-" + std::to_string(i));
        if (sender.Send(m).outcome != DeliveryOutcome::kSent) ++not_sent[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();

  EXPECT_THAT(not_sent, ::testing::Each(0));
  std::multiset<std::string> ids;
  for (const Json& msg : server_->Messages()) ids.insert(Header(msg, "X-Herald-Message-Id"));
  EXPECT_EQ(ids.size(), 40u);
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()), expected);
  EXPECT_LE(server_->ConnectionCount(), 2);
}

// Against a relay written by hand that fails at one exact point of the transaction: on
// which side of "the '.' ending DATA was written" each failure falls.
using herald::testing::Eventually;
using herald::testing::FaultySmtpRelay;
using herald::testing::RelayFault;

SmtpRelayConfig FaultyRelayConfig(const FaultySmtpRelay& relay) {
  SmtpRelayConfig c;
  c.url = relay.Url();
  c.starttls = SmtpRelayConfig::StartTls::kNone;
  c.helo_name = "sender.herald.test";
  c.timeout_s = 1;
  return c;
}

// Lines that start with a dot are sent with it doubled, so the bytes libcurl writes are
// more than the message's: the adapter must still know when all of them went out.
EmailMessage DottedMessage(std::string id) {
  EmailMessage m = Message(std::move(id));
  m.text_body = "Hello Anna,\n.our offers start with a dot\n.\n..and so does this line\n";
  return m;
}

// Several megabytes: more than the loopback connection's buffers hold, so a relay that stops
// reading leaves the client unable to write the whole body.
EmailMessage LargeMessage(std::string id) {
  EmailMessage m = Message(std::move(id));
  std::string line = "Our spring offers, line after line of them, for everyone.\n";
  m.text_body.reserve(16 * 1024 * 1024 + line.size());
  while (m.text_body.size() < 16 * 1024 * 1024) m.text_body += line;
  return m;
}

// The positive control: the same relay answering, the same message is sent.
TEST(SmtpRelayBoundaryTest, DottedMessageAnsweredIsSent) {
  FaultySmtpRelay relay(RelayFault::kNone);
  SmtpRelaySender sender(FaultyRelayConfig(relay));

  DeliveryResult r = sender.Send(DottedMessage("answered-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kSent) << r.detail;
  EXPECT_EQ(r.provider_message_id, "Q0");
  ASSERT_THAT(relay.Messages(), SizeIs(1));
  EXPECT_THAT(relay.Messages()[0], HasSubstr("\r\n..our offers start with a dot\r\n"));
}

// After the "." was written the relay went silent: it may be queueing the message, so it is
// not sent again.
TEST(SmtpRelayBoundaryTest, SilenceAfterTheEndOfDataIsMaybeSent) {
  FaultySmtpRelay relay(RelayFault::kHangAfterEndOfData);
  SmtpRelaySender sender(FaultyRelayConfig(relay));

  auto start = std::chrono::steady_clock::now();
  DeliveryResult r = sender.Send(DottedMessage("after-eod-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kMaybeSent) << r.detail;
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.detail, HasSubstr("may have been delivered"));
  EXPECT_THAT(relay.Messages(), SizeIs(1));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

// FAULT-9: a stop (the worker's shutdown) while the relay sits on the DATA command, with
// nothing of the message written, ends the send instead of waiting out the timeout: not
// attempted, since the relay cannot have the message.
TEST(SmtpRelayStopTest, StopBeforeTheMessageIsWrittenEndsTheSendUnattempted) {
  FaultySmtpRelay relay(RelayFault::kNoAnswerToData);
  SmtpRelayConfig config = FaultyRelayConfig(relay);
  config.timeout_s = 120;
  SmtpRelaySender sender(config);
  std::stop_source stop;
  std::atomic<bool> done{false};
  DeliveryResult r;
  std::thread sending([&] {
    r = sender.SendUnlessStopped(DottedMessage("stopped-1"), stop.get_token());
    done = true;
  });
  const bool connected = Eventually([&] { return relay.connections() >= 1; },
                                    std::chrono::seconds(10), std::chrono::milliseconds(10));
  stop.request_stop();
  // The relay timeout is two minutes; libcurl looks at the stop at least once a second.
  const bool ended = Eventually([&] { return done.load(); }, std::chrono::seconds(30),
                                std::chrono::milliseconds(10));
  sending.join();
  EXPECT_TRUE(connected);
  EXPECT_TRUE(ended) << "the send sat out the relay's timeout after the stop";
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_TRUE(r.not_attempted);
  EXPECT_EQ(r.detail, "shutting down");
  EXPECT_THAT(relay.Messages(), SizeIs(0));
}

// Once the whole message is written the relay may be queueing it: a stop does not abandon the
// send, which waits for the answer (here: none, until the timeout) and is MAYBE_SENT, never
// handed back to be sent again.
TEST(SmtpRelayStopTest, StopAfterTheMessageIsWrittenWaitsForTheAnswer) {
  FaultySmtpRelay relay(RelayFault::kHangAfterEndOfData);
  SmtpRelayConfig config = FaultyRelayConfig(relay);
  config.timeout_s = 3;
  SmtpRelaySender sender(config);
  std::stop_source stop;
  DeliveryResult r;
  std::thread sending(
      [&] { r = sender.SendUnlessStopped(DottedMessage("written-1"), stop.get_token()); });
  ASSERT_TRUE(Eventually([&] { return relay.Messages().size() == 1; }, std::chrono::seconds(10),
                         std::chrono::milliseconds(10)));
  stop.request_stop();
  sending.join();
  EXPECT_EQ(r.outcome, DeliveryOutcome::kMaybeSent) << r.detail;
  EXPECT_FALSE(r.not_attempted);
}

class SmtpRelayHangUpTest : public ::testing::TestWithParam<RelayFault> {};

// A relay that closes or resets the connection instead of answering the "." has not taken
// responsibility for the message (no 250): it is tried again, as Postfix does.
TEST_P(SmtpRelayHangUpTest, HangingUpAfterTheEndOfDataIsRetry) {
  FaultySmtpRelay relay(GetParam());
  SmtpRelaySender sender(FaultyRelayConfig(relay));

  DeliveryResult r = sender.Send(DottedMessage("after-eod-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.detail, HasSubstr("transport failure"));
  EXPECT_THAT(relay.Messages(), SizeIs(1));
}

INSTANTIATE_TEST_SUITE_P(Faults, SmtpRelayHangUpTest,
                         ::testing::Values(RelayFault::kCloseAfterEndOfData,
                                           RelayFault::kResetAfterEndOfData),
                         [](const ::testing::TestParamInfo<RelayFault>& info) {
                           return info.param == RelayFault::kCloseAfterEndOfData ? "Close"
                                                                                 : "Reset";
                         });

// The same large message goes out whole to a relay that takes it: the boundary tests below
// fail for the reason they name, not because the message is too big for the adapter.
TEST(SmtpRelayBoundaryTest, LargeMessageIsWrittenWholeBeforeTheRelayHangsUp) {
  FaultySmtpRelay relay(RelayFault::kCloseAfterEndOfData);
  SmtpRelayConfig config = FaultyRelayConfig(relay);
  config.timeout_s = 10;
  SmtpRelaySender sender(config);

  DeliveryResult r = sender.Send(LargeMessage("large-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_THAT(relay.Messages(), SizeIs(1));
}

TEST(SmtpRelayBoundaryTest, TimeoutWhileTheBodyIsStillBeingWrittenIsRetry) {
  FaultySmtpRelay relay(RelayFault::kStopReadingBody);
  SmtpRelaySender sender(FaultyRelayConfig(relay));

  DeliveryResult r = sender.Send(LargeMessage("stalled-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.detail, HasSubstr("transport failure"));
  EXPECT_THAT(relay.Messages(), SizeIs(0));
}

TEST(SmtpRelayBoundaryTest, ResetWhileTheBodyIsStillBeingWrittenIsRetry) {
  FaultySmtpRelay relay(RelayFault::kResetDuringBody);
  SmtpRelayConfig config = FaultyRelayConfig(relay);
  config.timeout_s = 10;
  SmtpRelaySender sender(config);

  DeliveryResult r = sender.Send(LargeMessage("reset-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_THAT(relay.Messages(), SizeIs(0));
}

TEST(SmtpRelayBoundaryTest, DataNeverAnsweredIsRetry) {
  FaultySmtpRelay relay(RelayFault::kNoAnswerToData);
  SmtpRelaySender sender(FaultyRelayConfig(relay));

  DeliveryResult r = sender.Send(Message("no-354-1"));

  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry) << r.detail;
  EXPECT_THAT(relay.Messages(), SizeIs(0));
}

}  // namespace
}  // namespace herald::dispatch
