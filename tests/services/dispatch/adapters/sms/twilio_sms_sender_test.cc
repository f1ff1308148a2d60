// The Twilio adapter against a fake that speaks Twilio's Messages API over real HTTP on
// 127.0.0.1: path, basic auth and form encoding are checked the way Twilio checks them.
#include "services/dispatch/adapters/sms/twilio_sms_sender.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "tests/services/dispatch/adapters/delivery_printers.h"
#include "tests/support/loopback_server.h"

namespace herald::dispatch::sms {
namespace {

using ::std::chrono::seconds;

constexpr char kSid[] = "AC0123456789abcdef0123456789abcdef";
constexpr char kToken[] = "s3cret-token";
constexpr char kFrom[] = "Herald";
constexpr char kTo[] = "+994501234567";

// What the fake saw: the decoded form and where the request came from.
struct TwilioRequest {
  std::map<std::string, std::string> form;
  std::string content_type;
  int remote_port = -1;
};

using Responder = std::function<void(const TwilioRequest&, httplib::Response&)>;

void TwilioError(httplib::Response& res, int status, int code, const std::string& message) {
  res.status = status;
  nlohmann::json body = {
      {"code", code},
      {"message", message},
      {"more_info", "https://www.twilio.com/docs/errors/" + std::to_string(code)},
      {"status", status}};
  res.set_content(body.dump(), "application/json");
}

class FakeTwilio {
 public:
  explicit FakeTwilio(Responder responder) : responder_(std::move(responder)) {
    server_.server().Post(
        R"(/2010-04-01/Accounts/([^/]+)/Messages\.json)",
        [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
    server_.server().set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (res.status == 404) TwilioError(res, 404, 20404, "The requested resource was not found");
    });
    server_.Start();
  }

  // Twilio's answer to a good request: 201 and the new message resource.
  static Responder Created() {
    return [](const TwilioRequest&, httplib::Response& res) {
      static std::atomic<int> next{1};
      res.status = 201;
      nlohmann::json body = {{"sid", "SM" + std::to_string(next++)}, {"status", "queued"}};
      res.set_content(body.dump(), "application/json");
    };
  }

  std::string base_url() const { return server_.base_url(); }
  std::vector<TwilioRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] != kSid ||
        req.get_header_value("Authorization") !=
            httplib::make_basic_authentication_header(req.matches[1], kToken).second) {
      TwilioError(res, 401, 20003, "Authenticate");
      return;
    }
    TwilioRequest recorded;
    recorded.content_type = req.get_header_value("Content-Type");
    recorded.remote_port = req.remote_port;
    // httplib decodes an application/x-www-form-urlencoded body into params.
    for (const auto& [name, value] : req.params) {
      if (!recorded.form.emplace(name, value).second) {
        res.status = 400;  // a field twice: the adapter built a broken form
        return;
      }
    }
    {
      std::lock_guard lock(mu_);
      requests_.push_back(recorded);
    }
    responder_(recorded, res);
  }

  Responder responder_;
  mutable std::mutex mu_;
  std::vector<TwilioRequest> requests_;  // guarded by mu_
  // Last, so it is destroyed (stopped, its handlers finished) before what they touch.
  herald::testing::LoopbackServer server_;
};

class TwilioSmsSenderTest : public ::testing::Test {
 protected:
  TwilioConfig Config(const std::string& base_url) {
    TwilioConfig config;
    config.base_url = base_url;
    config.account_sid = kSid;
    config.auth_token = kToken;
    config.from = kFrom;
    return config;
  }

  static SmsMessage Message(std::string body = "Endirim 20%! Imtina: STOP 1234") {
    return {.message_id = "6f1c2a9e-0000-4000-8000-000000000001",
            .to_e164 = kTo,
            .body = std::move(body)};
  }

  ManualClock clock_{ParseTimestamp("2026-11-27T17:58:33Z")};
};

TEST_F(TwilioSmsSenderTest, PostsFormWithBasicAuthAndReturnsTheMessageSid) {
  FakeTwilio twilio([](const TwilioRequest&, httplib::Response& res) {
    res.status = 201;
    res.set_content(R"({"sid":"SM9f2c","status":"queued","to":"+994501234567"})",
                    "application/json");
  });
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);

  DeliveryResult result = sender.Send(Message("Salam"));

  EXPECT_EQ(result.outcome, DeliveryOutcome::kSent);
  EXPECT_EQ(result.code, 201);
  EXPECT_EQ(result.provider_message_id, "SM9f2c");
  EXPECT_FALSE(result.retry_after.has_value());
  ASSERT_EQ(twilio.requests().size(), 1u);
  const TwilioRequest req = twilio.requests()[0];
  EXPECT_EQ(req.content_type, "application/x-www-form-urlencoded");
  std::map<std::string, std::string> expected = {{"To", kTo}, {"From", kFrom}, {"Body", "Salam"}};
  EXPECT_EQ(req.form, expected);  // and no StatusCallback when none is configured
}

TEST_F(TwilioSmsSenderTest, SendsStatusCallbackWhenConfigured) {
  FakeTwilio twilio(FakeTwilio::Created());
  TwilioConfig config = Config(twilio.base_url() + "/");  // a trailing slash is tolerated
  config.status_callback_url = "https://herald.example/sms/status?provider=twilio&x=1";
  TwilioSmsSender sender(config, clock_);

  EXPECT_EQ(sender.Send(Message()).outcome, DeliveryOutcome::kSent);

  ASSERT_EQ(twilio.requests().size(), 1u);
  EXPECT_EQ(twilio.requests()[0].form.at("StatusCallback"), config.status_callback_url);
}

TEST_F(TwilioSmsSenderTest, WrongTokenIsRefusedByTheProviderAndRetried) {
  FakeTwilio twilio(FakeTwilio::Created());
  TwilioConfig config = Config(twilio.base_url());
  config.auth_token = "wrong";
  TwilioSmsSender sender(config, clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 401);
  EXPECT_EQ(result.provider_code, "20003");
  EXPECT_TRUE(twilio.requests().empty());
}

TEST_F(TwilioSmsSenderTest, Utf8AndReservedCharactersArriveIntact) {
  FakeTwilio twilio(FakeTwilio::Created());
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);
  const std::string body =
      "Hörmətli müştəri, şənbə günü endirim 20%! Привет, мир.\n"
      "a+b=c & d?e#f /g \"h\" 'i' €5 😀\r\nSTOP → 1234";

  EXPECT_EQ(sender.Send(Message(body)).outcome, DeliveryOutcome::kSent);

  ASSERT_EQ(twilio.requests().size(), 1u);
  EXPECT_EQ(twilio.requests()[0].form.at("Body"), body);
  EXPECT_EQ(twilio.requests()[0].form.at("To"), kTo);  // "+" survives, not read as a space
}

TEST_F(TwilioSmsSenderTest, TooManyRequestsIsRetryAfterTheGivenSeconds) {
  FakeTwilio twilio([](const TwilioRequest&, httplib::Response& res) {
    res.set_header("Retry-After", "7");
    TwilioError(res, 429, 20429, "Too Many Requests");
  });
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 429);
  EXPECT_EQ(result.retry_after, seconds(7));
  EXPECT_EQ(result.provider_code, "20429");
}

TEST_F(TwilioSmsSenderTest, ServerErrorIsRetry) {
  FakeTwilio twilio([](const TwilioRequest&, httplib::Response& res) {
    TwilioError(res, 500, 20500, "Internal Server Error");
  });
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 500);
  EXPECT_FALSE(result.retry_after.has_value());
}

TEST_F(TwilioSmsSenderTest, UnavailableWithHttpDateIsRetryUntilThatDate) {
  FakeTwilio twilio([](const TwilioRequest&, httplib::Response& res) {
    res.status = 503;
    res.set_header("Retry-After", "Fri, 27 Nov 2026 18:00:33 GMT");  // the clock + 2 minutes
    res.set_content("<html><body>Service Unavailable</body></html>", "text/html");
  });
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 503);
  EXPECT_EQ(result.retry_after, seconds(120));
  EXPECT_EQ(result.detail, "<html><body>Service Unavailable</body></html>");
}

TEST_F(TwilioSmsSenderTest, UnsubscribedRecipientIsSuppressed) {
  FakeTwilio twilio([](const TwilioRequest&, httplib::Response& res) {
    TwilioError(res, 400, 21610, "Attempt to send to unsubscribed recipient");
  });
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kSuppress);
  EXPECT_EQ(result.code, 400);
  EXPECT_EQ(result.provider_code, "21610");
  EXPECT_EQ(result.detail, "Attempt to send to unsubscribed recipient");
  EXPECT_FALSE(result.retry_after.has_value());
}

TEST_F(TwilioSmsSenderTest, InvalidNumberFailsThisMessage) {
  FakeTwilio twilio([](const TwilioRequest& req, httplib::Response& res) {
    TwilioError(res, 400, 21211,
                "The 'To' number " + req.form.at("To") + " is not a valid phone number.");
  });
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(result.code, 400);
  EXPECT_EQ(result.provider_code, "21211");
  EXPECT_EQ(result.detail, "The 'To' number +994501234567 is not a valid phone number.");
}

TEST_F(TwilioSmsSenderTest, LongErrorMessageIsCutAtACharacterWithin300Bytes) {
  FakeTwilio twilio([](const TwilioRequest&, httplib::Response& res) {
    std::string words;
    for (int i = 0; i < 200; ++i) words += "ş";  // 2 bytes each; 400 bytes
    TwilioError(res, 400, 21211, "x" + words);   // odd offset: a naive cut splits a letter
  });
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);

  DeliveryResult result = sender.Send(Message());

  std::string expected = "x";
  for (int i = 0; i < 149; ++i) expected += "ş";
  EXPECT_EQ(result.detail, expected);  // 299 bytes: the 150th "ş" would not fit whole
}

// The provider has the whole request and answers only after the timeout (it sends the
// message all the same): sending it again would deliver it twice.
TEST_F(TwilioSmsSenderTest, ProviderSlowerThanTheTimeoutAfterTheWholeRequestIsMaybeSent) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  FakeTwilio twilio([released](const TwilioRequest&, httplib::Response& res) {
    released.wait_for(seconds(10));  // until the test has its answer
    res.status = 201;
    res.set_content(R"({"sid":"SMlate"})", "application/json");
  });
  TwilioConfig config = Config(twilio.base_url());
  config.timeout_s = 1;
  TwilioSmsSender sender(config, clock_);

  auto start = std::chrono::steady_clock::now();
  DeliveryResult result = sender.Send(Message());
  auto elapsed = std::chrono::steady_clock::now() - start;
  release.set_value();

  EXPECT_EQ(result.outcome, DeliveryOutcome::kMaybeSent) << result.detail;
  EXPECT_EQ(result.code, 0);
  EXPECT_FALSE(result.detail.empty());
  EXPECT_LT(elapsed, seconds(4));
}

TEST_F(TwilioSmsSenderTest, ConnectionRefusedIsRetryWithCodeZero) {
  herald::testing::RefusingPort closed;
  TwilioSmsSender sender(Config(closed.base_url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 0);
  EXPECT_TRUE(result.provider_message_id.empty());
  EXPECT_FALSE(result.detail.empty());
}

TEST_F(TwilioSmsSenderTest, AcceptedWithoutSidIsStillSent) {
  // The provider has the message: retrying would send it twice.
  FakeTwilio twilio([](const TwilioRequest&, httplib::Response& res) {
    res.status = 201;
    res.set_content("{}", "application/json");
  });
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kSent);
  EXPECT_TRUE(result.provider_message_id.empty());
}

TEST_F(TwilioSmsSenderTest, SequentialSendsReuseOneConnection) {
  FakeTwilio twilio(FakeTwilio::Created());
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);

  for (int i = 0; i < 10; ++i) ASSERT_EQ(sender.Send(Message()).outcome, DeliveryOutcome::kSent);

  std::set<int> client_ports;
  for (const auto& req : twilio.requests()) client_ports.insert(req.remote_port);
  EXPECT_EQ(twilio.requests().size(), 10u);
  EXPECT_EQ(client_ports.size(), 1u);
}

TEST_F(TwilioSmsSenderTest, EightThreadsOfTenSendsEachArriveExactlyOnce) {
  // The fake answers each request with a sid derived from its body, so a reply handed to
  // the wrong thread shows up as a mismatched sid.
  FakeTwilio twilio([](const TwilioRequest& req, httplib::Response& res) {
    res.status = 201;
    res.set_content(nlohmann::json{{"sid", "SM-" + req.form.at("Body")}}.dump(),
                    "application/json");
  });
  TwilioSmsSender sender(Config(twilio.base_url()), clock_);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;

  std::vector<std::vector<DeliveryResult>> results(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        results[t].push_back(sender.Send(Message(std::to_string(t) + "." + std::to_string(i))));
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::map<std::string, int> arrivals;
  for (const auto& req : twilio.requests()) ++arrivals[req.form.at("Body")];
  EXPECT_EQ(arrivals.size(), static_cast<size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string body = std::to_string(t) + "." + std::to_string(i);
      EXPECT_EQ(arrivals[body], 1) << body;
      EXPECT_EQ(results[t][i].outcome, DeliveryOutcome::kSent) << body;
      EXPECT_EQ(results[t][i].provider_message_id, "SM-" + body);
    }
  }
}

}  // namespace
}  // namespace herald::dispatch::sms
