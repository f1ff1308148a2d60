// Unit tests of the public-endpoint protection of the web role: the per-client
// rate limiter, trusted proxies / X-Forwarded-For, and form body decoding.
#include <gtest/gtest.h>

#include <chrono>

#include "common/clock.h"
#include "services/web/client_ip.h"
#include "services/web/http_types.h"
#include "services/web/rate_limiter.h"

namespace herald::web {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

TEST(RateLimiterTest, BurstThenRetryAfterThenRefill) {
  ManualClock clock(FromUnixMicros(1'700'000'000'000'000));
  RateLimiter limiter(clock, /*per_second=*/0.5, /*burst=*/3);
  EXPECT_EQ(limiter.Take("198.51.100.7"), 0);
  EXPECT_EQ(limiter.Take("198.51.100.7"), 0);
  EXPECT_EQ(limiter.Take("198.51.100.7"), 0);
  // Empty: one token takes 2 s at 0.5/s.
  EXPECT_EQ(limiter.Take("198.51.100.7"), 2);
  // Another client has its own bucket.
  EXPECT_EQ(limiter.Take("198.51.100.8"), 0);
  clock.Advance(seconds(1));
  EXPECT_EQ(limiter.Take("198.51.100.7"), 1);  // half a token there, one second to go
  clock.Advance(seconds(1));
  EXPECT_EQ(limiter.Take("198.51.100.7"), 0);
  EXPECT_EQ(limiter.Take("198.51.100.7"), 2);  // empty again: a whole token to wait for
}

TEST(RateLimiterTest, RetryAfterIsAtLeastOneSecond) {
  ManualClock clock(FromUnixMicros(0));
  RateLimiter limiter(clock, 100, 1);
  EXPECT_EQ(limiter.Take("a"), 0);
  EXPECT_EQ(limiter.Take("a"), 1);  // 10 ms away, still announced as 1 s (whole seconds)
  clock.Advance(milliseconds(10));
  EXPECT_EQ(limiter.Take("a"), 0);
}

TEST(RateLimiterTest, ZeroRateIsOff) {
  ManualClock clock(FromUnixMicros(0));
  RateLimiter limiter(clock, 0, 1);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(limiter.Take("a"), 0);
}

TEST(RateLimiterTest, MemoryIsBoundedByMaxKeys) {
  ManualClock clock(FromUnixMicros(0));
  RateLimiter limiter(clock, 1, 2, /*max_keys=*/100);
  for (int i = 0; i < 10000; ++i) limiter.Take("client-" + std::to_string(i));
  EXPECT_LE(limiter.size(), 100u);
  // Idle (refilled) buckets are the first to go, and forgetting them loses nothing.
  clock.Advance(seconds(10));
  limiter.Take("new");
  EXPECT_LE(limiter.size(), 2u);
}

TEST(ClientIpTest, ParsesCidrsAndRefusesGarbage) {
  EXPECT_TRUE(ParseCidr("10.0.0.0/8"));
  EXPECT_TRUE(ParseCidr("192.0.2.1"));
  EXPECT_TRUE(ParseCidr("2001:db8::/32"));
  EXPECT_TRUE(ParseCidr("::1"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/33"));
  EXPECT_FALSE(ParseCidr("2001:db8::/129"));
  EXPECT_FALSE(ParseCidr("10.0.0.0/"));
  EXPECT_FALSE(ParseCidr("10.0.0/8"));
  EXPECT_FALSE(ParseCidr("example.org"));
  EXPECT_FALSE(ParseCidr(""));
  EXPECT_THROW(TrustedProxies::Parse({"10.0.0.0/8", "nonsense"}), std::invalid_argument);
}

TEST(ClientIpTest, ContainsMatchesNetworksOfBothFamilies) {
  auto t = TrustedProxies::Parse({"10.0.0.0/8", "192.0.2.5", "2001:db8::/32"});
  EXPECT_TRUE(t.Contains("10.200.3.4"));
  EXPECT_FALSE(t.Contains("11.0.0.1"));
  EXPECT_TRUE(t.Contains("192.0.2.5"));
  EXPECT_FALSE(t.Contains("192.0.2.6"));
  EXPECT_TRUE(t.Contains("2001:db8:1::9"));
  EXPECT_FALSE(t.Contains("2001:db9::1"));
  EXPECT_TRUE(t.Contains("::ffff:10.1.1.1"));  // IPv4-mapped form of a trusted address
  EXPECT_FALSE(t.Contains("garbage"));
}

TEST(ClientIpTest, ForwardedForIgnoredFromUntrustedPeer) {
  auto t = TrustedProxies::Parse({"10.0.0.0/8"});
  EXPECT_EQ(ClientIp("203.0.113.9", "198.51.100.1", t), "203.0.113.9");
  EXPECT_EQ(ClientIp("203.0.113.9", "198.51.100.1", TrustedProxies()), "203.0.113.9");
}

TEST(ClientIpTest, ForwardedForReadFromTheRightThroughTrustedHops) {
  auto t = TrustedProxies::Parse({"10.0.0.0/8"});
  EXPECT_EQ(ClientIp("10.0.0.1", "198.51.100.1", t), "198.51.100.1");
  // A client that writes its own X-Forwarded-For cannot choose who it is: the right-most
  // untrusted hop (what our proxy saw) is the client.
  EXPECT_EQ(ClientIp("10.0.0.1", "1.2.3.4, 198.51.100.1, 10.0.0.2", t), "198.51.100.1");
  EXPECT_EQ(ClientIp("10.0.0.1", " 198.51.100.1 ", t), "198.51.100.1");
  // Garbage stops the walk at the last hop we could vouch for.
  EXPECT_EQ(ClientIp("10.0.0.1", "198.51.100.1, junk", t), "10.0.0.1");
  EXPECT_EQ(ClientIp("10.0.0.1", "junk, 10.0.0.3", t), "10.0.0.3");
  EXPECT_EQ(ClientIp("10.0.0.1", "", t), "10.0.0.1");
}

TEST(UrlEncodedTest, DecodesFieldsPlusAndPercent) {
  auto f =
      ParseUrlEncoded("List-Unsubscribe=One-Click&a=b+c&pref%3AEMAIL%3Aevents=on&x&=v&y=%zz%4");
  EXPECT_EQ(f.find("List-Unsubscribe")->second, "One-Click");
  EXPECT_EQ(f.find("a")->second, "b c");
  EXPECT_EQ(f.find("pref:EMAIL:events")->second, "on");
  EXPECT_EQ(f.find("x")->second, "");
  EXPECT_EQ(f.find("")->second, "v");
  EXPECT_EQ(f.find("y")->second, "%zz%4");  // malformed escapes kept literally
  EXPECT_TRUE(ParseUrlEncoded("").empty());
  EXPECT_TRUE(ParseUrlEncoded("&&&").empty());
}

TEST(HttpRequestTest, HeaderIsCaseInsensitive) {
  HttpRequest r;
  r.headers.emplace("accept-language", "ru");
  EXPECT_EQ(r.Header("Accept-Language"), "ru");
  EXPECT_EQ(r.Header("Origin"), "");
}

}  // namespace
}  // namespace herald::web
