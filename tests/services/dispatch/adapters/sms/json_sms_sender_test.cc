// The generic JSON adapter against a fake provider API over real HTTP on 127.0.0.1: it checks
// the path, the bearer key and the content type, parses the JSON body and answers per test.
#include "services/dispatch/adapters/sms/json_sms_sender.h"

#include <gtest/gtest.h>
#include <httplib.h>

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

using ::nlohmann::json;
using ::std::chrono::seconds;

constexpr char kKey[] = "Bearer k-123";
constexpr char kTo[] = "+994501234567";
constexpr char kTemplate[] =
    R"({"channel":"sms","recipient":{"msisdn":"{{to}}"},"sender":"{{from}}",)"
    R"("text":"{{body}}","client_ref":"{{message_id}}"})";

struct JsonRequest {
  json body;
  int remote_port = -1;
};

using Responder = std::function<void(const JsonRequest&, httplib::Response&)>;

void ProviderError(httplib::Response& res, int status, const std::string& code,
                   const std::string& message) {
  res.status = status;
  res.set_content(json{{"error", {{"code", code}, {"message", message}}}}.dump(),
                  "application/json");
}

class FakeJsonProvider {
 public:
  explicit FakeJsonProvider(Responder responder) : responder_(std::move(responder)) {
    server_.server().Post("/v2/messages", [this](const httplib::Request& req,
                                                 httplib::Response& res) { Handle(req, res); });
    server_.Start();
  }

  static Responder Accepted() {
    return [](const JsonRequest& req, httplib::Response& res) {
      res.status = 202;
      res.set_content(
          json{{"data", {{"id", "p-" + req.body["client_ref"].get<std::string>()}}}}.dump(),
          "application/json");
    };
  }

  std::string url() const { return server_.base_url() + "/v2/messages"; }
  std::vector<JsonRequest> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

 private:
  void Handle(const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != kKey) {
      ProviderError(res, 401, "UNAUTHORIZED", "bad API key");
      return;
    }
    if (req.get_header_value("Content-Type") != "application/json") {
      ProviderError(res, 415, "UNSUPPORTED_MEDIA_TYPE", "JSON only");
      return;
    }
    JsonRequest recorded;
    recorded.remote_port = req.remote_port;
    recorded.body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
    if (recorded.body.is_discarded()) {
      ProviderError(res, 400, "MALFORMED", "body is not JSON");
      return;
    }
    {
      std::lock_guard lock(mu_);
      requests_.push_back(recorded);
    }
    responder_(recorded, res);
  }

  Responder responder_;
  mutable std::mutex mu_;
  std::vector<JsonRequest> requests_;  // guarded by mu_
  // Last, so it is destroyed (stopped, its handlers finished) before what they touch.
  herald::testing::LoopbackServer server_;
};

class JsonSmsSenderTest : public ::testing::Test {
 protected:
  static JsonSmsConfig Config(const std::string& url) {
    JsonSmsConfig config;
    config.url = url;
    config.auth_header = "Authorization";
    config.auth_value = kKey;
    config.body_template = kTemplate;
    config.from = "Herald";
    config.message_id_pointer = "/data/id";
    config.unsubscribed_error_pointer = "/error/code";
    config.unsubscribed_error_value = "UNSUBSCRIBED";
    config.error_code_pointer = "/error/code";
    config.error_message_pointer = "/error/message";
    return config;
  }

  static SmsMessage Message(std::string body = "Endirim 20%! Imtina: STOP 1234",
                            std::string id = "6f1c2a9e-0000-4000-8000-000000000001") {
    return {.message_id = std::move(id), .to_e164 = kTo, .body = std::move(body)};
  }

  ManualClock clock_{ParseTimestamp("2026-11-27T17:58:33Z")};
};

TEST_F(JsonSmsSenderTest, PostsTheRenderedTemplateAndReturnsTheIdAtThePointer) {
  FakeJsonProvider provider(FakeJsonProvider::Accepted());
  JsonSmsSender sender(Config(provider.url()), clock_);

  DeliveryResult result = sender.Send(Message("Salam"));

  EXPECT_EQ(result.outcome, DeliveryOutcome::kSent);
  EXPECT_EQ(result.code, 202);
  EXPECT_EQ(result.provider_message_id, "p-6f1c2a9e-0000-4000-8000-000000000001");
  ASSERT_EQ(provider.requests().size(), 1u);
  json expected = {{"channel", "sms"},
                   {"recipient", {{"msisdn", kTo}}},
                   {"sender", "Herald"},
                   {"text", "Salam"},
                   {"client_ref", "6f1c2a9e-0000-4000-8000-000000000001"}};
  EXPECT_EQ(provider.requests()[0].body, expected);
}

TEST_F(JsonSmsSenderTest, NumericProviderIdIsKeptAsText) {
  FakeJsonProvider provider([](const JsonRequest&, httplib::Response& res) {
    res.status = 200;
    res.set_content(R"({"data":{"id":9007199254740993}})", "application/json");
  });
  JsonSmsSender sender(Config(provider.url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kSent);
  EXPECT_EQ(result.provider_message_id, "9007199254740993");
}

TEST_F(JsonSmsSenderTest, WrongKeyIsRefusedByTheProviderAndRetried) {
  FakeJsonProvider provider(FakeJsonProvider::Accepted());
  JsonSmsConfig config = Config(provider.url());
  config.auth_value = "Bearer wrong";
  JsonSmsSender sender(config, clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 401);
  EXPECT_EQ(result.provider_code, "UNAUTHORIZED");
  EXPECT_EQ(result.detail, "bad API key");
  EXPECT_TRUE(provider.requests().empty());
}

TEST_F(JsonSmsSenderTest, TextThatLooksLikeJsonOrPlaceholdersArrivesIntact) {
  FakeJsonProvider provider(FakeJsonProvider::Accepted());
  JsonSmsSender sender(Config(provider.url()), clock_);
  const std::string body =
      "Hörmətli müştəri, \"şənbə\" günü endirim!\n"
      "Привет \\ {{to}} \"},\"to\":\"+1555\" 😀\tSTOP → 1234";

  EXPECT_EQ(sender.Send(Message(body)).outcome, DeliveryOutcome::kSent);

  ASSERT_EQ(provider.requests().size(), 1u);
  const json received = provider.requests()[0].body;
  EXPECT_EQ(received["text"], body);
  EXPECT_EQ(received["recipient"]["msisdn"], kTo);
  EXPECT_EQ(received.size(), 5u);
}

TEST_F(JsonSmsSenderTest, TooManyRequestsIsRetryAfterTheGivenSeconds) {
  FakeJsonProvider provider([](const JsonRequest&, httplib::Response& res) {
    res.set_header("Retry-After", "7");
    ProviderError(res, 429, "RATE_LIMITED", "slow down");
  });
  JsonSmsSender sender(Config(provider.url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 429);
  EXPECT_EQ(result.retry_after, seconds(7));
  EXPECT_EQ(result.provider_code, "RATE_LIMITED");
}

TEST_F(JsonSmsSenderTest, ServerErrorIsRetry) {
  FakeJsonProvider provider([](const JsonRequest&, httplib::Response& res) {
    res.status = 500;
    res.set_content("upstream exploded", "text/plain");
  });
  JsonSmsSender sender(Config(provider.url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 500);
  EXPECT_FALSE(result.retry_after.has_value());
  EXPECT_EQ(result.detail, "upstream exploded");  // no JSON: the start of the body
}

TEST_F(JsonSmsSenderTest, UnavailableWithHttpDateIsRetryUntilThatDate) {
  FakeJsonProvider provider([](const JsonRequest&, httplib::Response& res) {
    res.set_header("Retry-After", "Fri, 27 Nov 2026 18:00:33 GMT");  // the clock + 2 minutes
    ProviderError(res, 503, "MAINTENANCE", "back soon");
  });
  JsonSmsSender sender(Config(provider.url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 503);
  EXPECT_EQ(result.retry_after, seconds(120));
}

TEST_F(JsonSmsSenderTest, UnsubscribedErrorIsSuppress) {
  FakeJsonProvider provider([](const JsonRequest&, httplib::Response& res) {
    ProviderError(res, 400, "UNSUBSCRIBED", "recipient opted out");
  });
  JsonSmsSender sender(Config(provider.url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kSuppress);
  EXPECT_EQ(result.code, 400);
  EXPECT_EQ(result.provider_code, "UNSUBSCRIBED");
  EXPECT_EQ(result.detail, "recipient opted out");
}

TEST_F(JsonSmsSenderTest, UnsubscribedErrorIsOnlyFailedWhenNoRuleIsConfigured) {
  FakeJsonProvider provider([](const JsonRequest&, httplib::Response& res) {
    ProviderError(res, 400, "UNSUBSCRIBED", "recipient opted out");
  });
  JsonSmsConfig config = Config(provider.url());
  config.unsubscribed_error_pointer.clear();
  config.unsubscribed_error_value.clear();
  JsonSmsSender sender(config, clock_);

  EXPECT_EQ(sender.Send(Message()).outcome, DeliveryOutcome::kFailed);
}

TEST_F(JsonSmsSenderTest, InvalidNumberFailsThisMessage) {
  FakeJsonProvider provider([](const JsonRequest&, httplib::Response& res) {
    ProviderError(res, 422, "INVALID_NUMBER", "msisdn is not a mobile number");
  });
  JsonSmsSender sender(Config(provider.url()), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(result.code, 422);
  EXPECT_EQ(result.provider_code, "INVALID_NUMBER");
  EXPECT_EQ(result.detail, "msisdn is not a mobile number");
}

// The provider has the whole request and answers only after the timeout (it sends the
// message all the same): sending it again would deliver it twice.
TEST_F(JsonSmsSenderTest, ProviderSlowerThanTheTimeoutAfterTheWholeRequestIsMaybeSent) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  FakeJsonProvider provider([released](const JsonRequest&, httplib::Response& res) {
    released.wait_for(seconds(10));  // until the test has its answer
    res.status = 202;
    res.set_content(R"({"data":{"id":"late"}})", "application/json");
  });
  JsonSmsConfig config = Config(provider.url());
  config.timeout_s = 1;
  JsonSmsSender sender(config, clock_);

  auto start = std::chrono::steady_clock::now();
  DeliveryResult result = sender.Send(Message());
  auto elapsed = std::chrono::steady_clock::now() - start;
  release.set_value();

  EXPECT_EQ(result.outcome, DeliveryOutcome::kMaybeSent) << result.detail;
  EXPECT_EQ(result.code, 0);
  EXPECT_LT(elapsed, seconds(4));
}

TEST_F(JsonSmsSenderTest, ConnectionRefusedIsRetryWithCodeZero) {
  herald::testing::RefusingPort closed;
  JsonSmsSender sender(Config(closed.base_url() + "/v2/messages"), clock_);

  DeliveryResult result = sender.Send(Message());

  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.code, 0);
  EXPECT_FALSE(result.detail.empty());
}

TEST_F(JsonSmsSenderTest, EightThreadsOfTenSendsEachArriveExactlyOnce) {
  FakeJsonProvider provider(FakeJsonProvider::Accepted());  // id "p-" + client_ref
  JsonSmsSender sender(Config(provider.url()), clock_);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10;

  std::vector<std::vector<DeliveryResult>> results(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = "m-" + std::to_string(t) + "-" + std::to_string(i);
        results[t].push_back(sender.Send(Message("text " + id, id)));
      }
    });
  }
  for (auto& thread : threads) thread.join();

  std::map<std::string, int> arrivals;
  for (const auto& req : provider.requests()) {
    ++arrivals[req.body["client_ref"].get<std::string>()];
    EXPECT_EQ(req.body["text"], "text " + req.body["client_ref"].get<std::string>());
  }
  EXPECT_EQ(arrivals.size(), static_cast<size_t>(kThreads * kPerThread));
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      std::string id = "m-" + std::to_string(t) + "-" + std::to_string(i);
      EXPECT_EQ(arrivals[id], 1) << id;
      EXPECT_EQ(results[t][i].outcome, DeliveryOutcome::kSent) << id;
      EXPECT_EQ(results[t][i].provider_message_id, "p-" + id);
    }
  }
}

}  // namespace
}  // namespace herald::dispatch::sms
