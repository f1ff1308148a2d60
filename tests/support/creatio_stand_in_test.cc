#include "tests/support/creatio_stand_in.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/eventually.h"

namespace herald::testing {
namespace {

using json = nlohmann::json;

constexpr char kJson[] = "application/json; charset=utf-8; IEEE754Compatible=true";
constexpr char kSubscribed[] = "1a5cd9b8-b999-4b65-b8a8-bd3168792128";
constexpr char kUnsubscribed[] = "c8947f80-a374-412a-bbc8-ea9068a8b78e";
constexpr char kNewsType[] = "0b5e9a4c-0000-4000-8000-00000000aaaa";
constexpr char kOffersType[] = "0b5e9a4c-0000-4000-8000-00000000bbbb";

// Contact ids in the order Creatio's $orderby=Id gives them here.
std::string ContactId(int n) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "00000000-0000-4000-8000-%012d", n);
  return buf;
}

CreatioContact Contact(int n) {
  CreatioContact c;
  c.id = ContactId(n);
  c.name = "Test Person " + std::to_string(n);
  c.email = "person" + std::to_string(n) + "@example.com";
  c.mobile_phone = "+9945000000" + std::to_string(10 + n);
  return c;
}

struct Session {
  std::string aspxauth;
  std::string csrf;
};

class CreatioStandInTest : public ::testing::Test {
 protected:
  httplib::Client Client() const {
    httplib::Client client(creatio_.base_url());
    client.set_read_timeout(10, 0);
    client.set_tcp_nodelay(true);  // else Nagle and delayed ACKs add 40 ms to a PATCH
    return client;
  }

  static std::map<std::string, std::string> Cookies(const httplib::Response& res) {
    std::map<std::string, std::string> cookies;  // name -> the whole Set-Cookie line
    for (size_t i = 0; i < res.get_header_value_count("Set-Cookie"); ++i) {
      const std::string line = res.get_header_value("Set-Cookie", i);
      cookies[line.substr(0, line.find('='))] = line;
    }
    return cookies;
  }

  static std::string CookieValue(const std::string& line) {
    const size_t eq = line.find('=');
    return line.substr(eq + 1, line.find(';') - eq - 1);
  }

  Session Login() {
    auto res = Client().Post("/ServiceModel/AuthService.svc/Login",
                             R"({"UserName":"Supervisor","UserPassword":"Supervisor!1"})",
                             "application/json");
    EXPECT_TRUE(res);
    if (!res) return {};
    const auto cookies = Cookies(*res);
    return {CookieValue(cookies.at(".ASPXAUTH")), CookieValue(cookies.at("BPMCSRF"))};
  }

  static httplib::Headers Headers(const Session& s) {
    return {{"Cookie", ".ASPXAUTH=" + s.aspxauth + "; BPMCSRF=" + s.csrf},
            {"BPMCSRF", s.csrf},
            {"ForceUseSession", "true"},
            {"Accept", "application/json"}};
  }

  httplib::Result Get(const std::string& path, const Session& s) {
    return Client().Get("/0/odata/" + path, Headers(s));
  }
  httplib::Result Patch(const std::string& path, const std::string& body, const Session& s) {
    return Client().Patch("/0/odata/" + path, Headers(s), body, kJson);
  }
  httplib::Result Post(const std::string& path, const std::string& body, const Session& s,
                       httplib::Headers extra = {}) {
    httplib::Headers headers = Headers(s);
    headers.insert(extra.begin(), extra.end());
    return Client().Post("/0/odata/" + path, headers, body, kJson);
  }

  static json Body(const httplib::Result& res) { return json::parse(res->body); }

  // The ids of a page's rows.
  static std::vector<std::string> Ids(const json& page) {
    std::vector<std::string> ids;
    for (const auto& row : page.at("value")) ids.push_back(row.at("Id"));
    return ids;
  }

  CreatioStandIn creatio_;
};

TEST_F(CreatioStandInTest, LoginSetsTheFourCookiesAndAnswersCodeZero) {
  auto res = Client().Post("/ServiceModel/AuthService.svc/Login",
                           R"({"UserName":"Supervisor","UserPassword":"Supervisor!1"})",
                           "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(Body(res), json::parse(R"({"Code":0,"Message":"","Exception":null,
                                        "PasswordChangeUrl":null,"RedirectUrl":null})"));
  const auto cookies = Cookies(*res);
  ASSERT_EQ(cookies.size(), 4U);
  EXPECT_NE(cookies.at(".ASPXAUTH").find("HttpOnly"), std::string::npos);
  EXPECT_EQ(cookies.at("BPMCSRF").find("HttpOnly"), std::string::npos);  // the page reads it
  EXPECT_EQ(cookies.count("BPMLOADER"), 1U);
  EXPECT_EQ(CookieValue(cookies.at("UserName")), "Supervisor");
  for (const auto& [name, line] : cookies) EXPECT_NE(line.find("path=/"), std::string::npos);
  EXPECT_EQ(creatio_.logins(), 1);
  EXPECT_EQ(creatio_.failed_logins(), 0);
}

TEST_F(CreatioStandInTest, BadCredentialsAnswer200WithCodeOneAndNoCookie) {
  auto res =
      Client().Post("/ServiceModel/AuthService.svc/Login",
                    R"({"UserName":"Supervisor","UserPassword":"wrong"})", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(Body(res).at("Code"), 1);
  EXPECT_FALSE(Body(res).at("Message").get<std::string>().empty());
  EXPECT_EQ(res->get_header_value_count("Set-Cookie"), 0U);
  EXPECT_EQ(creatio_.failed_logins(), 1);
  EXPECT_EQ(creatio_.logins(), 0);

  creatio_.SetUser("integration", "another-secret");
  res = Client().Post("/ServiceModel/AuthService.svc/Login",
                      R"({"UserName":"Supervisor","UserPassword":"Supervisor!1"})",
                      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(Body(res).at("Code"), 1);
  res = Client().Post("/ServiceModel/AuthService.svc/Login",
                      R"({"UserName":"integration","UserPassword":"another-secret"})",
                      "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(Body(res).at("Code"), 0);
}

TEST_F(CreatioStandInTest, EachLoginIsANewSessionAndBothWork) {
  creatio_.PutContact(Contact(1));
  const Session a = Login();
  const Session b = Login();
  EXPECT_NE(a.aspxauth, b.aspxauth);
  EXPECT_NE(a.csrf, b.csrf);
  EXPECT_EQ(Get("Contact(" + ContactId(1) + ")", a)->status, 200);
  EXPECT_EQ(Get("Contact(" + ContactId(1) + ")", b)->status, 200);
  EXPECT_EQ(creatio_.logins(), 2);
}

TEST_F(CreatioStandInTest, ODataWithoutALiveSessionIs401) {
  creatio_.PutContact(Contact(1));
  auto res = Client().Get("/0/odata/Contact");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  Session forged{"00ff00ff", "abc"};
  EXPECT_EQ(Get("Contact", forged)->status, 401);
  EXPECT_EQ(Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":true})", forged)->status,
            401);
  EXPECT_TRUE(creatio_.writes().empty());
}

TEST_F(CreatioStandInTest, MissingOrWrongCsrfHeaderIs403) {
  creatio_.PutContact(Contact(1));
  const Session s = Login();
  const Session other = Login();
  const std::string path = "/0/odata/Contact(" + ContactId(1) + ")";
  httplib::Headers no_csrf = {{"Cookie", ".ASPXAUTH=" + s.aspxauth + "; BPMCSRF=" + s.csrf}};
  auto res = Client().Patch(path, no_csrf, R"({"DoNotUseEmail":true})", kJson);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  httplib::Headers wrong = no_csrf;
  wrong.emplace("BPMCSRF", other.csrf);  // another session's token
  res = Client().Patch(path, wrong, R"({"DoNotUseEmail":true})", kJson);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 403);
  EXPECT_TRUE(creatio_.writes().empty());
  EXPECT_EQ(Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":true})", s)->status, 204);
}

TEST_F(CreatioStandInTest, ClientCredentialsGiveABearerTokenThatNeedsNoCsrfUntilItExpires) {
  creatio_.PutContact(Contact(1));
  auto bad = Client().Post("/connect/token",
                           "client_id=herald&client_secret=nope&grant_type=client_credentials",
                           "application/x-www-form-urlencoded");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Body(bad), json::parse(R"({"error":"invalid_client"})"));

  auto res =
      Client().Post("/connect/token",
                    "client_id=herald&client_secret=herald-secret&grant_type=client_credentials",
                    "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const json token = Body(res);
  EXPECT_EQ(token.at("token_type"), "Bearer");
  EXPECT_EQ(token.at("expires_in"), 3600);
  const std::string access = token.at("access_token");
  EXPECT_EQ(creatio_.token_grants(), 1);

  const std::string path = "/0/odata/Contact(" + ContactId(1) + ")";
  auto ok = Client().Patch(path, {{"Authorization", "Bearer " + access}}, R"({"DoNotUseSms":true})",
                           kJson);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 204);
  EXPECT_TRUE(creatio_.contact(ContactId(1))->do_not_use_sms);
  auto unknown = Client().Get(path, {{"Authorization", "Bearer not-a-token"}});
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 401);

  creatio_.SetTokenLifetime(std::chrono::seconds(0));
  res = Client().Post("/connect/token",
                      "client_id=herald&client_secret=herald-secret&grant_type=client_credentials",
                      "application/x-www-form-urlencoded");
  ASSERT_TRUE(res);
  EXPECT_EQ(Body(res).at("expires_in"), 0);
  auto expired = Client().Get(
      path, {{"Authorization", "Bearer " + Body(res).at("access_token").get<std::string>()}});
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->status, 401);
}

TEST_F(CreatioStandInTest, PatchContactAnswers204AppliesAndIsRecorded) {
  creatio_.PutContact(Contact(1));
  const Session s = Login();
  creatio_.ClearRecord();
  auto res =
      Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":true,"DoNotUseCall":true})", s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 204);
  EXPECT_TRUE(res->body.empty());
  const auto c = creatio_.contact(ContactId(1));
  EXPECT_TRUE(c->do_not_use_email);
  EXPECT_FALSE(c->do_not_use_sms);
  EXPECT_TRUE(c->do_not_use_call);

  ASSERT_EQ(creatio_.writes().size(), 1U);
  EXPECT_EQ(creatio_.writes()[0].entity, "Contact");
  EXPECT_EQ(creatio_.writes()[0].id, ContactId(1));
  EXPECT_EQ(json::parse(creatio_.writes()[0].body),
            json::parse(R"({"DoNotUseEmail":true,"DoNotUseCall":true})"));
  EXPECT_EQ(creatio_.writes_for(ContactId(1)).size(), 1U);
  EXPECT_TRUE(creatio_.writes_for(ContactId(2)).empty());
  EXPECT_EQ(creatio_.single_writes(), 1);

  const auto requests = creatio_.requests();
  ASSERT_EQ(requests.size(), 1U);
  EXPECT_EQ(requests[0].method, "PATCH");
  EXPECT_EQ(requests[0].path, "/0/odata/Contact(" + ContactId(1) + ")");
  EXPECT_EQ(requests[0].status, 204);
  EXPECT_FALSE(requests[0].in_batch);
  EXPECT_EQ(requests[0].headers.at("bpmcsrf"), s.csrf);
  EXPECT_EQ(requests[0].headers.at("forceusesession"), "true");
}

TEST_F(CreatioStandInTest, UppercaseGuidInTheUrlNamesTheSameContact) {
  creatio_.PutContact(Contact(1));
  const Session s = Login();
  std::string upper = ContactId(1);
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_EQ(Patch("Contact(" + upper + ")", R"({"DoNotUseEmail":true})", s)->status, 204);
  EXPECT_TRUE(creatio_.contact(ContactId(1))->do_not_use_email);
  EXPECT_EQ(Patch("Contact(guid'" + ContactId(1) + "')", R"({"DoNotUseEmail":true})", s)->status,
            400);
}

TEST_F(CreatioStandInTest, UnknownFieldIs400AndARemovedFieldBecomesUnknown) {
  creatio_.PutContact(Contact(1));
  const Session s = Login();
  auto res =
      Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":true,"DoNotUseFax":true})", s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(Body(res).at("error").at("message").get<std::string>().find("DoNotUseFax"),
            std::string::npos);
  EXPECT_EQ(Body(res).at("error").at("code"), "");
  EXPECT_FALSE(creatio_.contact(ContactId(1))->do_not_use_email);  // nothing of it applied
  EXPECT_EQ(Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":"yes"})", s)->status, 400);
  EXPECT_EQ(Patch("Contact(" + ContactId(1) + ")", "not json", s)->status, 400);

  auto metadata = Get("$metadata", s);
  ASSERT_TRUE(metadata);
  EXPECT_EQ(metadata->status, 200);
  EXPECT_NE(metadata->body.find(R"(<Property Name="DoNotUseSms")"), std::string::npos);
  EXPECT_NE(metadata->body.find(R"(<EntityType Name="BulkEmailSubscription">)"), std::string::npos);

  creatio_.RemoveContactField("DoNotUseSms");
  EXPECT_EQ(Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseSms":true})", s)->status, 400);
  metadata = Get("$metadata", s);
  EXPECT_EQ(metadata->body.find(R"(<Property Name="DoNotUseSms")"), std::string::npos);
  EXPECT_NE(metadata->body.find(R"(<Property Name="DoNotUseEmail")"), std::string::npos);
  EXPECT_EQ(Get("Contact?$select=Id,DoNotUseSms", s)->status, 400);
  EXPECT_FALSE(Body(Get("Contact", s)).at("value")[0].contains("DoNotUseSms"));
  EXPECT_TRUE(creatio_.writes().empty());
}

TEST_F(CreatioStandInTest, UnknownContactIs404) {
  const Session s = Login();
  auto res = Patch("Contact(" + ContactId(9) + ")", R"({"DoNotUseEmail":true})", s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 404);
  EXPECT_TRUE(Body(res).at("error").contains("message"));
  EXPECT_EQ(Get("Contact(" + ContactId(9) + ")", s)->status, 404);
  EXPECT_EQ(Get("NoSuchEntity", s)->status, 404);
}

TEST_F(CreatioStandInTest, PagesFollowTheNextLinkToTheEnd) {
  for (int n = 5; n >= 1; --n) creatio_.PutContact(Contact(n));
  const Session s = Login();
  std::vector<std::string> seen;
  std::string path = "Contact?$select=Id,Email,DoNotUseEmail&$orderby=Id&$top=2";
  int pages = 0;
  while (true) {
    auto res = Get(path, s);
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body;
    const json page = Body(res);
    EXPECT_NE(page.at("@odata.context").get<std::string>().find("$metadata#Contact"),
              std::string::npos);
    for (const auto& row : page.at("value")) {
      EXPECT_EQ(row.size(), 3U);  // $select holds
      seen.push_back(row.at("Id"));
    }
    ++pages;
    if (!page.contains("@odata.nextLink")) break;
    const std::string next = page.at("@odata.nextLink");
    ASSERT_EQ(next.rfind(creatio_.odata_url() + "/", 0), 0U) << next;
    path = next.substr(creatio_.odata_url().size() + 1);
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(seen, (std::vector<std::string>{ContactId(1), ContactId(2), ContactId(3), ContactId(4),
                                            ContactId(5)}));
  // The last page's request carried $skip=4, decoded in the record.
  EXPECT_NE(creatio_.requests().back().query.find("$skip=4"), std::string::npos);

  auto counted = Get("Contact?$count=true&$top=1&$skip=1", s);
  EXPECT_EQ(Body(counted).at("@odata.count"), 5);
  EXPECT_EQ(Ids(Body(counted)), std::vector<std::string>{ContactId(2)});
  EXPECT_FALSE(Body(Get("Contact", s)).contains("@odata.nextLink"));  // no $top: one page
}

TEST_F(CreatioStandInTest, FiltersSelectTheRightContactsAndUnsupportedOnesAre400) {
  for (int n = 1; n <= 6; ++n) {
    CreatioContact c = Contact(n);
    c.do_not_use_email = n == 2 || n == 5;
    c.do_not_use_sms = n == 3;
    c.do_not_use_call = n == 6;
    creatio_.PutContact(c);
  }
  const Session s = Login();
  const auto ids = [&](const std::string& query) {
    auto res = Get("Contact?" + query, s);
    EXPECT_TRUE(res);
    EXPECT_EQ(res->status, 200) << query << ": " << res->body;
    return res->status == 200 ? Ids(Body(res)) : std::vector<std::string>{};
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids("$filter=Id gt " + ContactId(4) + "&$orderby=Id"), (V{ContactId(5), ContactId(6)}));
  EXPECT_EQ(ids("$filter=DoNotUseEmail eq true"), (V{ContactId(2), ContactId(5)}));
  EXPECT_EQ(ids("$filter=DoNotUseEmail eq true or DoNotUseSms eq true or DoNotUseCall eq true"),
            (V{ContactId(2), ContactId(3), ContactId(5), ContactId(6)}));
  EXPECT_EQ(ids("$filter=Id gt " + ContactId(2) +
                " and (DoNotUseEmail eq true or DoNotUseSms eq true)&$orderby=Id&$top=10"),
            (V{ContactId(3), ContactId(5)}));
  EXPECT_EQ(ids("$filter=Email eq 'person4@example.com'"), V{ContactId(4)});
  EXPECT_EQ(ids("$filter=Id%20gt%20" + ContactId(5)), V{ContactId(6)});  // encoded spaces

  for (const std::string bad :
       {"$filter=startswith(Email,'person')", "$filter=DoNotUseEmail eq 1",
        "$filter=DoNotUseFax eq true", "$filter=Id gt 'abc'", "$filter=DoNotUseEmail eq true or",
        "$filter=DoNotUseEmail gt true", "$filter=(DoNotUseEmail eq true",
        "$filter=not DoNotUseEmail eq true", "$expand=Owner", "$orderby=Foo", "$top=-1",
        "$top=2&$top=3"}) {
    auto res = Get("Contact?" + bad, s);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << bad;
    EXPECT_TRUE(Body(res).at("error").contains("message")) << bad;
  }
}

TEST_F(CreatioStandInTest, SubscriptionsAreReadByFilterCreatedAndUpdated) {
  creatio_.PutContact(Contact(1));
  creatio_.PutContact(Contact(2));
  const std::string row_id = "5ab00000-0000-4000-8000-000000000001";
  creatio_.PutSubscription({row_id, ContactId(1), kNewsType, kSubscribed});
  creatio_.PutSubscription(
      {"5ab00000-0000-4000-8000-000000000002", ContactId(2), kNewsType, kUnsubscribed});
  const Session s = Login();

  auto res = Get("BulkEmailSubscription?$filter=Contact/Id eq " + ContactId(1) +
                     " and BulkEmailType/Id eq " + kNewsType,
                 s);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json page = Body(res);
  ASSERT_EQ(page.at("value").size(), 1U);
  EXPECT_EQ(page.at("value")[0], json({{"Id", row_id},
                                       {"ContactId", ContactId(1)},
                                       {"BulkEmailTypeId", kNewsType},
                                       {"BulkEmailSubsStatusId", kSubscribed}}));
  EXPECT_TRUE(Body(Get("BulkEmailSubscription?$filter=Contact/Id eq " + ContactId(1) +
                           " and BulkEmailType/Id eq " + kOffersType,
                       s))
                  .at("value")
                  .empty());
  EXPECT_EQ(Ids(Body(Get(std::string("BulkEmailSubscription?$filter=BulkEmailSubsStatus/Id eq ") +
                             kUnsubscribed,
                         s))),
            std::vector<std::string>{"5ab00000-0000-4000-8000-000000000002"});
  EXPECT_EQ(Get("BulkEmailSubscription?$filter=BulkEmailType/Name eq 'News'", s)->status, 400);

  // Upsert of a missing row: POST answers 201 with the new row.
  auto created = Post("BulkEmailSubscription",
                      json({{"ContactId", ContactId(1)},
                            {"BulkEmailTypeId", kOffersType},
                            {"BulkEmailSubsStatusId", kUnsubscribed}})
                          .dump(),
                      s);
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string new_id = Body(created).at("Id");
  EXPECT_EQ(Body(created).at("BulkEmailTypeId"), kOffersType);
  EXPECT_EQ(creatio_.subscriptions().size(), 3U);
  EXPECT_EQ(Post("BulkEmailSubscription", R"({"ContactId":"x"})", s)->status, 400);

  // Upsert of an existing row: PATCH answers 204.
  auto patched = Patch("BulkEmailSubscription(" + row_id + ")",
                       json({{"BulkEmailSubsStatusId", kUnsubscribed}}).dump(), s);
  ASSERT_TRUE(patched);
  EXPECT_EQ(patched->status, 204);
  for (const auto& row : creatio_.subscriptions()) {
    if (row.id == row_id) {
      EXPECT_EQ(row.status_id, kUnsubscribed);
    }
  }
  EXPECT_EQ(Patch("BulkEmailSubscription(5ab00000-0000-4000-8000-00000000ffff)",
                  R"({"BulkEmailSubsStatusId":"c8947f80-a374-412a-bbc8-ea9068a8b78e"})", s)
                ->status,
            404);

  const auto writes = creatio_.writes_for(ContactId(1));
  ASSERT_EQ(writes.size(), 2U);
  EXPECT_EQ(writes[0].entity, "BulkEmailSubscription");
  EXPECT_EQ(writes[0].id, new_id);
  EXPECT_EQ(writes[1].id, row_id);
  EXPECT_TRUE(creatio_.writes_for(ContactId(2)).empty());
  EXPECT_EQ(creatio_.single_writes(), 4);
}

json BatchOf(const std::vector<json>& items) { return {{"requests", items}}; }

json PatchItem(const std::string& id, const std::string& url, const json& body) {
  return {{"method", "PATCH"},
          {"url", url},
          {"id", id},
          {"body", body},
          {"headers", {{"Content-Type", "application/json;IEEE754Compatible=true"}}}};
}

TEST_F(CreatioStandInTest, BatchRunsItemsInOrderAndStopsAtTheFirstFailure) {
  for (int n = 1; n <= 3; ++n) creatio_.PutContact(Contact(n));
  const Session s = Login();
  creatio_.ClearRecord();
  const json batch = BatchOf({
      PatchItem("1", "Contact(" + ContactId(1) + ")", {{"DoNotUseEmail", true}}),
      PatchItem("2", "Contact(" + ContactId(9) + ")", {{"DoNotUseEmail", true}}),  // unknown
      PatchItem("3", "Contact(" + ContactId(3) + ")", {{"DoNotUseEmail", true}}),
  });
  auto res = Post("$batch", batch.dump(), s);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  const json responses = Body(res).at("responses");
  ASSERT_EQ(responses.size(), 2U);  // item 3 was not executed
  EXPECT_EQ(responses[0].at("id"), "1");
  EXPECT_EQ(responses[0].at("status"), 204);
  EXPECT_FALSE(responses[0].contains("body"));
  EXPECT_TRUE(responses[0].at("headers").is_object());
  EXPECT_EQ(responses[1].at("id"), "2");
  EXPECT_EQ(responses[1].at("status"), 404);
  EXPECT_TRUE(responses[1].at("body").at("error").contains("message"));
  EXPECT_TRUE(creatio_.contact(ContactId(1))->do_not_use_email);
  EXPECT_FALSE(creatio_.contact(ContactId(3))->do_not_use_email);

  // The record: the $batch, then its executed items.
  const auto requests = creatio_.requests();
  ASSERT_EQ(requests.size(), 3U);
  EXPECT_EQ(requests[0].path, "/0/odata/$batch");
  EXPECT_FALSE(requests[0].in_batch);
  EXPECT_EQ(requests[1].path, "/0/odata/Contact(" + ContactId(1) + ")");
  EXPECT_TRUE(requests[1].in_batch);
  EXPECT_EQ(requests[1].status, 204);
  EXPECT_EQ(requests[1].headers.at("content-type"), "application/json;IEEE754Compatible=true");
  EXPECT_EQ(requests[2].status, 404);
  EXPECT_EQ(creatio_.batches(), 1);
  EXPECT_EQ(creatio_.single_writes(), 0);
}

TEST_F(CreatioStandInTest, BatchWithContinueOnErrorRunsEveryItem) {
  for (int n = 1; n <= 3; ++n) creatio_.PutContact(Contact(n));
  const Session s = Login();
  const json batch = BatchOf({
      PatchItem("a", "Contact(" + ContactId(1) + ")", {{"DoNotUseEmail", true}}),
      PatchItem("b", "Contact(" + ContactId(2) + ")", {{"DoNotUseMail", true}}),  // unknown field
      PatchItem("c", creatio_.odata_url() + "/Contact(" + ContactId(3) + ")",
                {{"DoNotUseSms", true}}),  // absolute url
      PatchItem("d", "/0/odata/Contact(" + ContactId(2) + ")", {{"DoNotUseCall", true}}),
      {{"method", "GET"},
       {"url", "Contact(" + ContactId(1) + ")?$select=Id,DoNotUseEmail"},
       {"id", "e"}},
  });
  auto res = Post("$batch", batch.dump(), s, {{"Prefer", "continue-on-error"}});
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200);
  const json responses = Body(res).at("responses");
  ASSERT_EQ(responses.size(), 5U);
  std::vector<int> statuses;
  for (const auto& r : responses) statuses.push_back(r.at("status"));
  EXPECT_EQ(statuses, (std::vector<int>{204, 400, 204, 204, 200}));
  EXPECT_EQ(responses[4].at("body").at("DoNotUseEmail"), true);
  EXPECT_TRUE(creatio_.contact(ContactId(3))->do_not_use_sms);
  EXPECT_TRUE(creatio_.contact(ContactId(2))->do_not_use_call);
  EXPECT_EQ(creatio_.writes().size(), 3U);
}

TEST_F(CreatioStandInTest, BatchAbove100RequestsIs400AndAppliesNothing) {
  creatio_.PutContact(Contact(1));
  const Session s = Login();
  std::vector<json> items;
  for (int i = 0; i < 101; ++i) {
    items.push_back(
        PatchItem(std::to_string(i), "Contact(" + ContactId(1) + ")", {{"DoNotUseEmail", true}}));
  }
  auto res = Post("$batch", BatchOf(items).dump(), s, {{"Prefer", "continue-on-error"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_TRUE(creatio_.writes().empty());
  EXPECT_EQ(creatio_.batches(), 0);

  items.pop_back();
  res = Post("$batch", BatchOf(items).dump(), s, {{"Prefer", "continue-on-error"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(Body(res).at("responses").size(), 100U);
  EXPECT_EQ(creatio_.writes().size(), 100U);
  EXPECT_EQ(creatio_.batches(), 1);

  const json no_id = {
      {"requests", {{{"method", "PATCH"}, {"url", "Contact(" + ContactId(1) + ")"}}}}};
  EXPECT_EQ(Post("$batch", no_id.dump(), s)->status, 400);
  EXPECT_EQ(Post("$batch", "[]", s)->status, 400);
}

TEST_F(CreatioStandInTest, BatchNeedsTheSessionLikeAnyODataRequest) {
  creatio_.PutContact(Contact(1));
  const json batch =
      BatchOf({PatchItem("1", "Contact(" + ContactId(1) + ")", {{"DoNotUseEmail", true}})});
  auto res = Client().Post("/0/odata/$batch", batch.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  Session s = Login();
  s.csrf = "wrong";
  // Headers() sends the wrong value both in the cookie and in the header.
  EXPECT_EQ(Post("$batch", batch.dump(), s)->status, 403);
  EXPECT_TRUE(creatio_.writes().empty());
  EXPECT_EQ(creatio_.batches(), 0);
}

TEST_F(CreatioStandInTest, FailContactRefusesThatContactsWritesOnly) {
  for (int n = 1; n <= 3; ++n) creatio_.PutContact(Contact(n));
  creatio_.FailContact(ContactId(2), 404);
  creatio_.FailContact(ContactId(3), 400);
  const Session s = Login();
  EXPECT_EQ(Patch("Contact(" + ContactId(2) + ")", R"({"DoNotUseEmail":true})", s)->status, 404);
  EXPECT_EQ(Get("Contact(" + ContactId(2) + ")", s)->status, 200);  // reads still work
  const json batch = BatchOf({
      PatchItem("1", "Contact(" + ContactId(1) + ")", {{"DoNotUseEmail", true}}),
      PatchItem("2", "Contact(" + ContactId(2) + ")", {{"DoNotUseEmail", true}}),
      PatchItem("3", "Contact(" + ContactId(3) + ")", {{"DoNotUseEmail", true}}),
  });
  auto res = Post("$batch", batch.dump(), s, {{"Prefer", "continue-on-error"}});
  ASSERT_TRUE(res);
  const json responses = Body(res).at("responses");
  ASSERT_EQ(responses.size(), 3U);
  EXPECT_EQ(responses[0].at("status"), 204);
  EXPECT_EQ(responses[1].at("status"), 404);
  EXPECT_EQ(responses[2].at("status"), 400);
  EXPECT_FALSE(creatio_.contact(ContactId(2))->do_not_use_email);
  EXPECT_FALSE(creatio_.contact(ContactId(3))->do_not_use_email);
  ASSERT_EQ(creatio_.writes().size(), 1U);
  EXPECT_EQ(creatio_.writes()[0].id, ContactId(1));
}

TEST_F(CreatioStandInTest, FailNextAnswersWithoutExecutingAndCarriesRetryAfter) {
  creatio_.PutContact(Contact(1));
  const Session s = Login();
  creatio_.FailNext(2, 429, 7);
  const std::string path = "Contact(" + ContactId(1) + ")";
  for (int i = 0; i < 2; ++i) {
    auto res = Patch(path, R"({"DoNotUseEmail":true})", s);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 429);
    EXPECT_EQ(res->get_header_value("Retry-After"), "7");
  }
  EXPECT_TRUE(creatio_.writes().empty());
  EXPECT_EQ(Patch(path, R"({"DoNotUseEmail":true})", s)->status, 204);

  creatio_.FailNext(1, 500, 3);  // Retry-After only on 429 and 503
  auto res = Patch(path, R"({"DoNotUseSms":true})", s);
  EXPECT_EQ(res->status, 500);
  EXPECT_FALSE(res->has_header("Retry-After"));

  // A $batch fails as a whole, its items unexecuted.
  creatio_.FailNext(1, 503, 0);
  creatio_.ClearRecord();
  const json batch = BatchOf({PatchItem("1", path, {{"DoNotUseCall", true}})});
  res = Post("$batch", batch.dump(), s, {{"Prefer", "continue-on-error"}});
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Retry-After"), "0");
  EXPECT_FALSE(creatio_.contact(ContactId(1))->do_not_use_call);
  EXPECT_EQ(creatio_.batches(), 0);
  EXPECT_EQ(creatio_.requests().size(), 1U);  // no item recorded
  // Login is not an OData request: FailNext leaves it alone.
  creatio_.FailNext(1, 503);
  Login();
  EXPECT_EQ(creatio_.logins(), 1);
}

TEST_F(CreatioStandInTest, ExpiredSessionsAnswer401UntilANewLogin) {
  creatio_.PutContact(Contact(1));
  const Session old = Login();
  creatio_.ExpireSessions();
  EXPECT_EQ(Get("Contact", old)->status, 401);
  const Session fresh = Login();
  EXPECT_EQ(Get("Contact", fresh)->status, 200);
  EXPECT_EQ(Get("Contact", old)->status, 401);
}

TEST_F(CreatioStandInTest, ExpiredSessionsCanRedirectToTheLoginPage) {
  creatio_.PutContact(Contact(1));
  const Session old = Login();
  auto token =
      Client().Post("/connect/token",
                    "client_id=herald&client_secret=herald-secret&grant_type=client_credentials",
                    "application/x-www-form-urlencoded");
  const std::string bearer = "Bearer " + Body(token).at("access_token").get<std::string>();
  creatio_.ExpireSessions(CreatioStandIn::Expiry::kRedirectToLogin);
  auto res = Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":true})", old);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 302);
  // httplib 0.11's client percent-decodes header values; on the wire ReturnUrl is %2f0%2fodata...
  EXPECT_EQ(res->get_header_value("Location"),
            "/Login/NuiLogin.aspx?ReturnUrl=/0/odata/Contact(" + ContactId(1) + ")");
  auto with_token = Client().Get("/0/odata/Contact", {{"Authorization", bearer}});
  EXPECT_EQ(with_token->status, 302);
  EXPECT_TRUE(creatio_.writes().empty());
  // A cookie the stand-in never issued is still a plain 401.
  EXPECT_EQ(Get("Contact", Session{"deadbeef", "x"})->status, 401);
  EXPECT_EQ(Get("Contact", Login())->status, 200);
}

TEST_F(CreatioStandInTest, AStalledRequestEndsWithoutAnswerAndIsNotApplied) {
  creatio_.PutContact(Contact(1));
  const Session s = Login();
  creatio_.Stall();
  auto pending = std::async(std::launch::async, [&] {
    return Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":true})", s);
  });
  ASSERT_EVENTUALLY(creatio_.stalled_requests() == 1, 5000);
  EXPECT_EQ(pending.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  creatio_.Unstall();
  auto res = pending.get();
  EXPECT_FALSE(res);  // the connection closed before any answer
  EXPECT_EQ(creatio_.stalled_requests(), 0);
  EXPECT_FALSE(creatio_.contact(ContactId(1))->do_not_use_email);
  EXPECT_TRUE(creatio_.writes().empty());
  EXPECT_EQ(creatio_.single_writes(), 0);
  EXPECT_EQ(creatio_.requests().back().status, 0);
  // After Unstall the stand-in answers again.
  EXPECT_EQ(Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":true})", s)->status, 204);
}

TEST_F(CreatioStandInTest, AStalledBatchAppliesNoneOfItsItems) {
  creatio_.PutContact(Contact(1));
  creatio_.PutContact(Contact(2));
  const Session s = Login();
  creatio_.Stall();
  const json batch = BatchOf({
      PatchItem("1", "Contact(" + ContactId(1) + ")", {{"DoNotUseEmail", true}}),
      PatchItem("2", "Contact(" + ContactId(2) + ")", {{"DoNotUseEmail", true}}),
  });
  std::vector<std::future<httplib::Result>> pending;
  for (int i = 0; i < 3; ++i) {
    pending.push_back(std::async(std::launch::async, [&] {
      return Post("$batch", batch.dump(), s, {{"Prefer", "continue-on-error"}});
    }));
  }
  ASSERT_EVENTUALLY(creatio_.stalled_requests() == 3, 5000);
  creatio_.Unstall();
  for (auto& p : pending) EXPECT_FALSE(p.get());
  EXPECT_TRUE(creatio_.writes().empty());
  EXPECT_EQ(creatio_.batches(), 0);
}

TEST(CreatioStandInLifetimeTest, DestructionReleasesStalledRequests) {
  std::future<httplib::Result> pending;
  {
    CreatioStandIn creatio;
    creatio.Stall();
    pending = std::async(std::launch::async, [url = creatio.base_url()] {
      httplib::Client client(url);
      client.set_read_timeout(10, 0);
      return client.Get("/0/odata/Contact");
    });
    ASSERT_EVENTUALLY(creatio.stalled_requests() == 1, 5000);
  }
  EXPECT_FALSE(pending.get());
}

TEST_F(CreatioStandInTest, SetDelaySlowsEveryODataAnswer) {
  creatio_.PutContact(Contact(1));
  const Session s = Login();
  creatio_.SetDelay(std::chrono::milliseconds(300));
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Get("Contact", s)->status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
}

TEST_F(CreatioStandInTest, ConcurrentWritersAreEachApplied) {
  for (int n = 1; n <= 8; ++n) creatio_.PutContact(Contact(n));
  const Session s = Login();
  std::vector<std::thread> threads;
  std::atomic<int> no_content{0};
  for (int n = 1; n <= 8; ++n) {
    threads.emplace_back([&, n] {
      httplib::Client client = Client();
      for (int i = 0; i < 20; ++i) {
        auto res = client.Patch("/0/odata/Contact(" + ContactId(n) + ")", Headers(s),
                                json({{"DoNotUseEmail", i % 2 == 0}}).dump(), kJson);
        if (res && res->status == 204) ++no_content;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(no_content.load(), 160);
  EXPECT_EQ(creatio_.writes().size(), 160U);
  EXPECT_EQ(creatio_.writes_for(ContactId(3)).size(), 20U);
  EXPECT_FALSE(creatio_.contact(ContactId(3))->do_not_use_email);  // the last write: i == 19
}

TEST_F(CreatioStandInTest, ClearRecordKeepsDataAndKnobs) {
  creatio_.PutContact(Contact(1));
  const Session s = Login();
  EXPECT_EQ(Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":true})", s)->status, 204);
  creatio_.FailContact(ContactId(1), 400);
  creatio_.ClearRecord();
  EXPECT_TRUE(creatio_.requests().empty());
  EXPECT_EQ(creatio_.logins(), 0);
  EXPECT_EQ(creatio_.single_writes(), 0);
  EXPECT_TRUE(creatio_.contact(ContactId(1))->do_not_use_email);
  EXPECT_EQ(Get("Contact", s)->status, 200);  // the session survives
  EXPECT_EQ(Patch("Contact(" + ContactId(1) + ")", R"({"DoNotUseEmail":false})", s)->status, 400);
}

}  // namespace
}  // namespace herald::testing
