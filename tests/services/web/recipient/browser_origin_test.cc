// What a real browser sends on the recipient pages' own form posts, as seen by the browser
// tests (tests/integration/browser_test.cc): under our Referrer-Policy: no-referrer, Chromium
// posts with "Origin: null" and "Sec-Fetch-Site: same-origin". That must pass; a bare null
// origin, or one a cross-site page produced, must not.
#include <gtest/gtest.h>

#include <string>

#include "services/web/recipient/csrf.h"

namespace herald::web {
namespace {

HttpRequest BrowserPost(std::initializer_list<std::pair<std::string, std::string>> headers) {
  HttpRequest r;
  r.method = "POST";
  for (const auto& [k, v] : headers) r.headers.emplace(k, v);
  return r;
}

TEST(BrowserOriginTest, ChromiumsOwnPostUnderNoReferrerPasses) {
  const std::string pub = OriginOf("https://herald.example");
  EXPECT_TRUE(SameOriginPost(
      BrowserPost(
          {{"Origin", "null"}, {"Sec-Fetch-Site", "same-origin"}, {"Host", "herald.example"}}),
      pub));
  EXPECT_TRUE(
      SameOriginPost(BrowserPost({{"Origin", "NULL"}, {"Sec-Fetch-Site", "Same-Origin"}}), pub));
}

TEST(BrowserOriginTest, NullOriginWithoutSameOriginFetchSiteIsRefused) {
  const std::string pub = OriginOf("https://herald.example");
  EXPECT_FALSE(SameOriginPost(BrowserPost({{"Origin", "null"}}), pub));
  EXPECT_FALSE(
      SameOriginPost(BrowserPost({{"Origin", "null"}, {"Sec-Fetch-Site", "cross-site"}}), pub));
  EXPECT_FALSE(
      SameOriginPost(BrowserPost({{"Origin", "null"}, {"Sec-Fetch-Site", "same-site"}}), pub));
  EXPECT_FALSE(SameOriginPost(BrowserPost({{"Origin", "null"}, {"Sec-Fetch-Site", "none"}}), pub));
}

}  // namespace
}  // namespace herald::web
