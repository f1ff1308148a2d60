// The OData client against the in-process Creatio stand-in over real HTTP on 127.0.0.1:
// both logins, the headers Creatio needs, session expiry with its single-flight relogin,
// the answers that mean "later", $batch matching and the $metadata check; and the crm.*
// settings.
#include "services/crm/creatio_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "services/crm/creatio_settings.h"
#include "tests/support/creatio_stand_in.h"
#include "tests/support/loopback_server.h"

namespace herald::crm {
namespace {

using ::herald::testing::CreatioContact;
using ::herald::testing::CreatioRequest;
using ::herald::testing::CreatioStandIn;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::string ContactId(int n) {
  char id[40];
  std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", n);
  return id;
}

CreatioContact Contact(int n) {
  CreatioContact c;
  c.id = ContactId(n);
  c.name = "Test Person " + std::to_string(n);
  c.email = "person" + std::to_string(n) + "@example.com";
  c.mobile_phone = "+9945000000" + std::to_string(100 + n % 100).substr(1);
  return c;
}

CreatioSettings CookieSettings(const CreatioStandIn& crm) {
  CreatioSettings s;
  s.enabled = true;
  s.base_url = crm.base_url();
  s.auth = "cookie";
  s.user_name = "Supervisor";
  s.password = "Supervisor!1";
  s.timeout_ms = 3000;
  return s;
}

CreatioSettings OAuthSettings(const CreatioStandIn& crm) {
  CreatioSettings s = CookieSettings(crm);
  s.auth = "oauth";
  s.client_id = "herald";
  s.client_secret = "herald-secret";
  return s;
}

ODataRequest PatchEmail(int n, bool value = true) {
  return {"PATCH", "Contact(" + ContactId(n) + ")",
          std::string(R"({"DoNotUseEmail":)") + (value ? "true" : "false") + "}"};
}

std::vector<CreatioRequest> ODataRequests(const CreatioStandIn& crm) {
  std::vector<CreatioRequest> out;
  for (const auto& r : crm.requests()) {
    if (r.path.rfind("/0/odata/", 0) == 0 && !r.in_batch) out.push_back(r);
  }
  return out;
}

std::string Header(const CreatioRequest& r, const std::string& name) {
  auto it = r.headers.find(name);
  return it == r.headers.end() ? std::string() : it->second;
}

class CreatioClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int n = 1; n <= 10; ++n) crm_.PutContact(Contact(n));
  }
  CreatioStandIn crm_;
};

TEST_F(CreatioClientTest, CookieLoginThenPatchCarriesSessionAndCsrf) {
  CreatioClient client(CookieSettings(crm_));

  ODataAnswer answer = client.Send(PatchEmail(1));
  EXPECT_EQ(answer.outcome, Outcome::kAnswered);
  EXPECT_EQ(answer.status, 204);
  EXPECT_TRUE(crm_.contact(ContactId(1))->do_not_use_email);
  EXPECT_EQ(crm_.logins(), 1);
  EXPECT_EQ(client.logins(), 1);

  // The session is reused.
  EXPECT_EQ(client.Send(PatchEmail(2)).status, 204);
  EXPECT_EQ(crm_.logins(), 1);

  bool saw_login = false;
  for (const auto& r : crm_.requests()) {
    if (r.path == "/ServiceModel/AuthService.svc/Login") {
      saw_login = true;
      EXPECT_EQ(r.method, "POST");
      EXPECT_EQ(Header(r, "forceusesession"), "true");
      EXPECT_THAT(Header(r, "content-type"), HasSubstr("application/json"));
    }
  }
  EXPECT_TRUE(saw_login);
  auto odata = ODataRequests(crm_);
  ASSERT_EQ(odata.size(), 2U);
  for (const auto& r : odata) {
    EXPECT_EQ(r.method, "PATCH");
    EXPECT_EQ(r.status, 204);
    EXPECT_EQ(Header(r, "forceusesession"), "true");
    EXPECT_EQ(Header(r, "accept"), "application/json");
    EXPECT_THAT(Header(r, "content-type"), HasSubstr("IEEE754Compatible=true"));
    EXPECT_THAT(Header(r, "cookie"), HasSubstr(".ASPXAUTH="));
    EXPECT_THAT(Header(r, "cookie"), HasSubstr("BPMCSRF=" + Header(r, "bpmcsrf")));
    EXPECT_THAT(Header(r, "bpmcsrf"), Not(IsEmpty()));
  }
}

TEST_F(CreatioClientTest, BadPasswordIsAnAuthFailureWithoutARetryStorm) {
  CreatioSettings settings = CookieSettings(crm_);
  settings.password = "not-the-password";
  CreatioClient client(settings);

  ODataAnswer answer = client.Send(PatchEmail(1));
  EXPECT_EQ(answer.outcome, Outcome::kAuthFailed);
  EXPECT_THAT(answer.error, HasSubstr("Code 1"));
  EXPECT_THAT(answer.error, Not(HasSubstr("not-the-password")));
  EXPECT_EQ(crm_.failed_logins(), 1);
  EXPECT_THAT(ODataRequests(crm_), IsEmpty());

  // Within the hold, later requests answer at once instead of trying the password again.
  for (int i = 0; i < 5; ++i) EXPECT_EQ(client.Send(PatchEmail(1)).outcome, Outcome::kAuthFailed);
  EXPECT_EQ(client.Batch({PatchEmail(1)}).exchange.outcome, Outcome::kAuthFailed);
  EXPECT_EQ(crm_.failed_logins(), 1);
  EXPECT_EQ(client.logins(), 0);
  EXPECT_FALSE(crm_.contact(ContactId(1))->do_not_use_email);
}

TEST_F(CreatioClientTest, RefusedLoginIsTriedAgainAfterTheHold) {
  CreatioSettings settings = CookieSettings(crm_);
  settings.login_refused_hold_ms = 0;
  crm_.SetUser("Supervisor", "changed-elsewhere");
  CreatioClient client(settings);

  EXPECT_EQ(client.Send(PatchEmail(1)).outcome, Outcome::kAuthFailed);
  crm_.SetUser("Supervisor", "Supervisor!1");
  EXPECT_EQ(client.Send(PatchEmail(1)).status, 204);
  EXPECT_EQ(crm_.failed_logins(), 1);
  EXPECT_EQ(crm_.logins(), 1);
}

TEST_F(CreatioClientTest, OAuthTokenIsReusedAndRenewedBeforeItExpires) {
  crm_.SetTokenLifetime(std::chrono::seconds(1));
  CreatioClient client(OAuthSettings(crm_));

  for (int n = 1; n <= 3; ++n) EXPECT_EQ(client.Send(PatchEmail(n)).status, 204);
  EXPECT_EQ(crm_.token_grants(), 1);
  EXPECT_EQ(crm_.logins(), 0);

  // Renewed at 90% of a short lifetime, before the stand-in would refuse it.
  std::this_thread::sleep_for(std::chrono::milliseconds(950));
  EXPECT_EQ(client.Send(PatchEmail(4)).status, 204);
  EXPECT_EQ(crm_.token_grants(), 2);
  EXPECT_EQ(client.logins(), 2);

  for (const auto& r : ODataRequests(crm_)) {
    EXPECT_EQ(r.status, 204);
    EXPECT_THAT(Header(r, "authorization"), HasSubstr("Bearer "));
    EXPECT_EQ(Header(r, "bpmcsrf"), "");
  }
}

TEST_F(CreatioClientTest, WrongClientSecretIsAnAuthFailure) {
  CreatioSettings settings = OAuthSettings(crm_);
  settings.client_secret = "wrong-secret";
  CreatioClient client(settings);
  ODataAnswer answer = client.Send(PatchEmail(1));
  EXPECT_EQ(answer.outcome, Outcome::kAuthFailed);
  EXPECT_THAT(answer.error, Not(HasSubstr("wrong-secret")));
  EXPECT_EQ(crm_.token_grants(), 0);
}

class SessionExpiryTest : public CreatioClientTest,
                          public ::testing::WithParamInterface<CreatioStandIn::Expiry> {};

TEST_P(SessionExpiryTest, CostsExactlyOneLoginThenSucceeds) {
  CreatioClient client(CookieSettings(crm_));
  ASSERT_EQ(client.Send(PatchEmail(1)).status, 204);
  crm_.ExpireSessions(GetParam());
  crm_.ClearRecord();

  ODataAnswer answer = client.Send(PatchEmail(2));
  EXPECT_EQ(answer.outcome, Outcome::kAnswered);
  EXPECT_EQ(answer.status, 204);
  EXPECT_TRUE(crm_.contact(ContactId(2))->do_not_use_email);
  EXPECT_EQ(crm_.logins(), 1);
  EXPECT_EQ(client.logins(), 2);
  auto odata = ODataRequests(crm_);
  ASSERT_EQ(odata.size(), 2U);
  EXPECT_EQ(odata[0].status, GetParam() == CreatioStandIn::Expiry::kUnauthorized ? 401 : 302);
  EXPECT_EQ(odata[1].status, 204);
}

INSTANTIATE_TEST_SUITE_P(Expiry, SessionExpiryTest,
                         ::testing::Values(CreatioStandIn::Expiry::kUnauthorized,
                                           CreatioStandIn::Expiry::kRedirectToLogin));

TEST_F(CreatioClientTest, ConcurrentRequestsOnAnExpiredSessionLogInOnce) {
  CreatioClient client(CookieSettings(crm_));
  ASSERT_EQ(client.Send(PatchEmail(10)).status, 204);
  crm_.ExpireSessions();
  crm_.ClearRecord();
  // Slow answers keep all eight first attempts in flight together, so every thread sees
  // the expiry and asks for a fresh login at about the same time.
  crm_.SetDelay(std::chrono::milliseconds(200));

  std::vector<ODataAnswer> answers(8);
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&client, &answers, i] { answers[i] = client.Send(PatchEmail(i + 1)); });
  }
  for (auto& t : threads) t.join();
  crm_.SetDelay(std::chrono::milliseconds(0));

  int expired = 0;
  for (const auto& r : ODataRequests(crm_)) expired += r.status == 401 ? 1 : 0;
  EXPECT_EQ(expired, 8);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(answers[i].outcome, Outcome::kAnswered) << i;
    EXPECT_EQ(answers[i].status, 204) << i;
    EXPECT_TRUE(crm_.contact(ContactId(i + 1))->do_not_use_email) << i;
  }
  EXPECT_EQ(crm_.logins(), 1);
}

TEST_F(CreatioClientTest, StillUnauthorizedAfterAFreshLoginIsAnAuthFailure) {
  CreatioClient client(CookieSettings(crm_));
  ASSERT_EQ(client.Send(PatchEmail(1)).status, 204);
  crm_.ClearRecord();
  crm_.FailNext(2, 401);

  ODataAnswer answer = client.Send(PatchEmail(2));
  EXPECT_EQ(answer.outcome, Outcome::kAuthFailed);
  EXPECT_EQ(answer.status, 401);
  EXPECT_EQ(crm_.logins(), 1);  // one fresh login, one retry, no more
  EXPECT_EQ(ODataRequests(crm_).size(), 2U);
}

TEST_F(CreatioClientTest, TooManyRequestsIsRetryLaterWithRetryAfter) {
  CreatioClient client(CookieSettings(crm_));
  crm_.FailNext(1, 429, 7);
  ODataAnswer answer = client.Send(PatchEmail(1));
  EXPECT_EQ(answer.outcome, Outcome::kRetryLater);
  EXPECT_EQ(answer.status, 429);
  EXPECT_EQ(answer.retry_after_s, 7);
  EXPECT_EQ(answer.error, "HTTP 429");
  EXPECT_FALSE(crm_.contact(ContactId(1))->do_not_use_email);

  EXPECT_EQ(client.Send(PatchEmail(1)).status, 204);
}

TEST_F(CreatioClientTest, ServiceUnavailableIsRetryLater) {
  CreatioClient client(CookieSettings(crm_));
  crm_.FailNext(1, 503);
  ODataAnswer answer = client.Send(PatchEmail(1));
  EXPECT_EQ(answer.outcome, Outcome::kRetryLater);
  EXPECT_EQ(answer.status, 503);
  EXPECT_FALSE(answer.retry_after_s.has_value());

  crm_.FailNext(1, 500);
  EXPECT_EQ(client.Send(PatchEmail(1)).outcome, Outcome::kRetryLater);
}

TEST_F(CreatioClientTest, RefusedConnectionIsRetryLater) {
  herald::testing::RefusingPort port;
  CreatioSettings settings = CookieSettings(crm_);
  settings.base_url = port.base_url();
  CreatioClient client(settings);

  ODataAnswer answer = client.Send(PatchEmail(1));
  EXPECT_EQ(answer.outcome, Outcome::kRetryLater);
  EXPECT_EQ(answer.status, 0);
  EXPECT_THAT(answer.error, HasSubstr("connection refused"));
  EXPECT_THAT(answer.error, Not(HasSubstr("127.0.0.1")));
}

TEST_F(CreatioClientTest, SlowAnswerIsATimeoutAndRetryLater) {
  CreatioSettings settings = CookieSettings(crm_);
  settings.timeout_ms = 300;
  CreatioClient client(settings);
  crm_.SetDelay(std::chrono::milliseconds(1500));

  auto start = std::chrono::steady_clock::now();
  ODataAnswer answer = client.Send(PatchEmail(1));
  auto took = std::chrono::steady_clock::now() - start;
  crm_.SetDelay(std::chrono::milliseconds(0));

  EXPECT_EQ(answer.outcome, Outcome::kRetryLater);
  EXPECT_EQ(answer.status, 0);
  EXPECT_EQ(answer.error, "timeout");
  EXPECT_LT(took, std::chrono::milliseconds(1400));
}

// A stalled Creatio holds the request without an answer: the exchange ends at timeout_ms
// and nothing was applied. (When a reused connection is closed without an answer, libcurl
// itself sends the request once more on a fresh one; the writes are absolute, so that is
// harmless, and a stall that outlasts the timeout still ends here.)
TEST_F(CreatioClientTest, StalledCreatioIsATimeoutAndRetryLater) {
  CreatioSettings settings = CookieSettings(crm_);
  settings.timeout_ms = 300;
  CreatioClient client(settings);
  ASSERT_EQ(client.Send(PatchEmail(1, false)).status, 204);
  crm_.Stall();
  ODataAnswer answer = client.Send(PatchEmail(1));
  crm_.Unstall();

  EXPECT_EQ(answer.outcome, Outcome::kRetryLater);
  EXPECT_EQ(answer.status, 0);
  EXPECT_EQ(answer.error, "timeout");
  EXPECT_FALSE(crm_.contact(ContactId(1))->do_not_use_email);
}

TEST_F(CreatioClientTest, NotFoundIsAnAnswerWithoutTheContactInTheError) {
  crm_.FailContact(ContactId(3), 404);
  CreatioClient client(CookieSettings(crm_));
  ODataAnswer answer = client.Send(PatchEmail(3));
  EXPECT_EQ(answer.outcome, Outcome::kAnswered);
  EXPECT_EQ(answer.status, 404);
  EXPECT_EQ(answer.error, "HTTP 404");
}

TEST_F(CreatioClientTest, BatchItemsAreMatchedBackInRequestOrder) {
  crm_.FailContact(ContactId(2), 404);
  CreatioClient client(CookieSettings(crm_));

  BatchAnswer answer = client.Batch({PatchEmail(1), PatchEmail(2), PatchEmail(3)});
  ASSERT_EQ(answer.exchange.outcome, Outcome::kAnswered);
  ASSERT_EQ(answer.exchange.status, 200);
  ASSERT_EQ(answer.items.size(), 3U);
  EXPECT_EQ(answer.items[0].status, 204);
  EXPECT_EQ(answer.items[1].status, 404);
  EXPECT_EQ(answer.items[2].status, 204);
  EXPECT_TRUE(crm_.contact(ContactId(1))->do_not_use_email);
  EXPECT_FALSE(crm_.contact(ContactId(2))->do_not_use_email);
  EXPECT_TRUE(crm_.contact(ContactId(3))->do_not_use_email);  // continue-on-error
  EXPECT_EQ(crm_.batches(), 1);
  EXPECT_EQ(crm_.single_writes(), 0);

  auto odata = ODataRequests(crm_);
  ASSERT_EQ(odata.size(), 1U);
  EXPECT_EQ(odata[0].path, "/0/odata/$batch");
  EXPECT_THAT(Header(odata[0], "prefer"), HasSubstr("continue-on-error"));
}

TEST_F(CreatioClientTest, BatchOfAHundredIsOneRequestAndMoreIsRefused) {
  CreatioClient client(CookieSettings(crm_));
  std::vector<ODataRequest> items;
  for (int n = 1; n <= 100; ++n) {
    if (n > 10) crm_.PutContact(Contact(n));
    items.push_back(PatchEmail(n));
  }
  BatchAnswer answer = client.Batch(items);
  ASSERT_EQ(answer.exchange.status, 200);
  ASSERT_EQ(answer.items.size(), 100U);
  for (const auto& item : answer.items) EXPECT_EQ(item.status, 204);
  EXPECT_EQ(crm_.batches(), 1);

  items.push_back(PatchEmail(1));
  EXPECT_THROW(client.Batch(items), std::invalid_argument);
}

TEST_F(CreatioClientTest, BatchOnAnExpiredSessionLogsInOnceAndRetries) {
  CreatioClient client(CookieSettings(crm_));
  ASSERT_EQ(client.Send(PatchEmail(1)).status, 204);
  crm_.ExpireSessions(CreatioStandIn::Expiry::kRedirectToLogin);
  crm_.ClearRecord();

  BatchAnswer answer = client.Batch({PatchEmail(2), PatchEmail(3)});
  ASSERT_EQ(answer.exchange.status, 200);
  EXPECT_EQ(answer.items[0].status, 204);
  EXPECT_EQ(answer.items[1].status, 204);
  EXPECT_EQ(crm_.logins(), 1);
}

TEST_F(CreatioClientTest, CheckMetadataFindsARemovedField) {
  CreatioClient client(CookieSettings(crm_));
  EXPECT_THAT(client.CheckMetadata(), IsEmpty());

  crm_.RemoveContactField("DoNotUseSms");
  auto problems = client.CheckMetadata();
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_EQ(problems[0], "Contact has no property DoNotUseSms");
}

TEST_F(CreatioClientTest, CheckMetadataNamesARenamedEntityAndField) {
  CreatioSettings settings = CookieSettings(crm_);
  settings.subscription_entity = "BulkEmailSubscriptionX";
  settings.do_not_use_call_field = "UsrDoNotCall";
  CreatioClient client(settings);
  auto problems = client.CheckMetadata();
  EXPECT_EQ(problems, (std::vector<std::string>{"Contact has no property UsrDoNotCall",
                                                "$metadata has no entity BulkEmailSubscriptionX"}));
}

TEST_F(CreatioClientTest, CheckMetadataReportsAnExchangeFailureAsOneProblem) {
  herald::testing::RefusingPort port;
  CreatioSettings settings = CookieSettings(crm_);
  settings.base_url = port.base_url();
  CreatioClient client(settings);
  auto problems = client.CheckMetadata();
  ASSERT_EQ(problems.size(), 1U);
  EXPECT_THAT(problems[0], HasSubstr("connection refused"));
}

// The settings, loaded as heraldd loads them: file keys and HERALD_* variables.
struct Root {
  CreatioSettings crm;
};

CreatioSettings Load(const std::map<std::string, std::string>& env) {
  return config::Schema<Root>().Add(&Root::crm, CreatioSection()).Load("", env).crm;
}

std::string LoadError(const std::map<std::string, std::string>& env) {
  try {
    Load(env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(CreatioSettingsTest, DefaultsNeedNothing) {
  CreatioSettings s = Load({});
  EXPECT_FALSE(s.enabled);
  EXPECT_EQ(s.odata_path, "/0/odata");
  EXPECT_EQ(s.batch_size, 100);
  EXPECT_TRUE(s.topic_types.empty());
}

TEST(CreatioSettingsTest, ParsesTopicTypesAndNames) {
  CreatioSettings s = Load({
      {"HERALD_CRM_ENABLED", "true"},
      {"HERALD_CRM_BASE_URL", "https://crm.example.com/"},
      {"HERALD_CRM_ODATA_PATH", "/odata/"},
      {"HERALD_CRM_USER_NAME", "HeraldSync"},
      {"HERALD_CRM_PASSWORD", "example-password"},
      {"HERALD_CRM_TOPIC_TYPES",
       "news=0A1B2C3D-0000-4000-8000-000000000001, offers = 0a1b2c3d-0000-4000-8000-000000000002"},
      {"HERALD_CRM_FIELDS_DO_NOT_USE_EMAIL", "UsrNoEmail"},
      {"HERALD_CRM_BATCH_SIZE", "50"},
  });
  EXPECT_EQ(s.base_url, "https://crm.example.com");
  EXPECT_EQ(s.odata_path, "/odata");
  EXPECT_EQ(s.password, "example-password");
  EXPECT_EQ(s.do_not_use_email_field, "UsrNoEmail");
  EXPECT_EQ(s.batch_size, 50);
  EXPECT_EQ(s.topic_types, (std::map<std::string, std::string>{
                               {"news", "0a1b2c3d-0000-4000-8000-000000000001"},
                               {"offers", "0a1b2c3d-0000-4000-8000-000000000002"}}));
}

TEST(CreatioSettingsTest, RejectsBadValues) {
  EXPECT_THAT(LoadError({{"HERALD_CRM_TOPIC_TYPES", "news=not-a-guid"}}),
              HasSubstr("HERALD_CRM_TOPIC_TYPES"));
  EXPECT_THAT(LoadError({{"HERALD_CRM_TOPIC_TYPES", "news"}}), HasSubstr("topic=guid"));
  EXPECT_THAT(LoadError({{"HERALD_CRM_TOPIC_TYPES",
                          "news=0a1b2c3d-0000-4000-8000-000000000001,"
                          "news=0a1b2c3d-0000-4000-8000-000000000002"}}),
              HasSubstr("twice"));
  EXPECT_THAT(LoadError({{"HERALD_CRM_BATCH_SIZE", "101"}}), HasSubstr("HERALD_CRM_BATCH_SIZE"));
  EXPECT_THAT(LoadError({{"HERALD_CRM_BATCH_SIZE", "0"}}), HasSubstr("HERALD_CRM_BATCH_SIZE"));
  EXPECT_THAT(LoadError({{"HERALD_CRM_AUTH", "basic"}}), HasSubstr("cookie,oauth"));
  EXPECT_THAT(LoadError({{"HERALD_CRM_CONTACT_ENTITY", "Contact(1)"}}),
              HasSubstr("HERALD_CRM_CONTACT_ENTITY"));
  EXPECT_THAT(LoadError({{"HERALD_CRM_BASE_URL", "crm.example.com"}}), HasSubstr("URL"));
}

TEST(CreatioSettingsTest, EnabledNeedsWhereAndHowToLogIn) {
  EXPECT_THAT(LoadError({{"HERALD_CRM_ENABLED", "true"}}), HasSubstr("crm.base_url"));
  EXPECT_THAT(LoadError({{"HERALD_CRM_ENABLED", "true"},
                         {"HERALD_CRM_BASE_URL", "https://crm.example.com"},
                         {"HERALD_CRM_USER_NAME", "HeraldSync"}}),
              HasSubstr("HERALD_CRM_PASSWORD"));
  EXPECT_THAT(LoadError({{"HERALD_CRM_ENABLED", "true"},
                         {"HERALD_CRM_BASE_URL", "https://crm.example.com"},
                         {"HERALD_CRM_AUTH", "oauth"},
                         {"HERALD_CRM_CLIENT_ID", "herald"}}),
              HasSubstr("HERALD_CRM_CLIENT_SECRET"));
}

}  // namespace
}  // namespace herald::crm
