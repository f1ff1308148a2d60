// Unit tests of the HTTP serving layer's limits: the request head scanner of the connection
// front (SEC-2), client keys by IPv6 /64 and the limiter's eviction (SEC-9).
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "common/clock.h"
#include "services/web/client_ip.h"
#include "services/web/rate_limiter.h"
#include "services/web/request_head.h"

namespace herald::web {
namespace {

using Kind = HeadScan::Kind;

HeadScan Scan(const std::string& bytes, HeadLimits limits = {}) {
  size_t scanned = 0;
  return ScanRequestHead(bytes, limits, &scanned);
}

TEST(RequestHeadTest, CompleteHeadIsFramed) {
  std::string req = "POST /u/tok?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
  HeadScan s = Scan(req);
  ASSERT_EQ(s.kind, Kind::kComplete) << s.reason;
  EXPECT_EQ(s.head.method, "POST");
  EXPECT_EQ(s.head.path, "/u/tok");
  EXPECT_EQ(s.head.content_length, 5u);
  EXPECT_EQ(s.head.head_bytes, req.size() - 5);
  EXPECT_FALSE(s.head.close);
  EXPECT_TRUE(Scan("GET / HTTP/1.0\r\n\r\n").head.close);
  EXPECT_FALSE(Scan("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").head.close);
  EXPECT_TRUE(Scan("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").head.close);
  EXPECT_EQ(Scan("GET / HTTP/1.1\nHost: a\n\n").kind, Kind::kComplete);  // bare LF
}

TEST(RequestHeadTest, IncrementalScanFindsATerminatorSplitAcrossReads) {
  std::string req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
  for (size_t cut = 1; cut < req.size(); ++cut) {
    size_t scanned = 0;
    HeadScan first = ScanRequestHead(std::string_view(req).substr(0, cut), {}, &scanned);
    ASSERT_EQ(first.kind, Kind::kIncomplete) << cut;
    HeadScan second = ScanRequestHead(req, {}, &scanned);
    ASSERT_EQ(second.kind, Kind::kComplete) << cut;
    EXPECT_EQ(second.head.head_bytes, req.size());
  }
}

// SEC-2: each limit is checked as soon as it is crossed, before the head is complete.
TEST(RequestHeadTest, LimitsAreCheckedBeforeTheHeadEnds) {
  HeadLimits l;
  l.max_request_line_bytes = 100;
  l.max_header_bytes = 1000;
  l.max_headers = 5;
  HeadScan uri = Scan("GET /" + std::string(200, 'a'), l);  // no line end yet
  EXPECT_EQ(uri.kind, Kind::kRefused);
  EXPECT_EQ(uri.status, 414);
  EXPECT_EQ(Scan("GET /" + std::string(80, 'a') + " HTTP/1.1\r\n\r\n", l).kind, Kind::kComplete);

  HeadScan flood = Scan("GET / HTTP/1.1\r\nX: " + std::string(1000, 'a'), l);
  EXPECT_EQ(flood.status, 431);
  EXPECT_EQ(flood.reason, "request head larger than 1000 bytes");
  EXPECT_EQ(Scan("GET / HTTP/1.1\r\nX: " + std::string(900, 'a') + "\r\n\r\n", l).kind,
            Kind::kComplete);

  std::string six = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 6; ++i) six += "H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Scan(six + "\r\n", l).status, 431);
  std::string five = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 5; ++i) five += "H" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(Scan(five + "\r\n", l).kind, Kind::kComplete);
}

TEST(RequestHeadTest, AmbiguousFramingIsRefused) {
  EXPECT_EQ(Scan("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n").status, 411);
  EXPECT_EQ(Scan("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n").status, 400);
  EXPECT_EQ(Scan("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n").kind,
            Kind::kComplete);
  EXPECT_EQ(Scan("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n").status, 400);
  EXPECT_EQ(Scan("POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n").status, 400);
  EXPECT_EQ(Scan("POST / HTTP/1.1\r\nContent-Encoding: gzip\r\n\r\n").status, 415);
  EXPECT_EQ(Scan("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n").status, 400);
  EXPECT_EQ(Scan("GET / HTTP/2.0\r\n\r\n").status, 505);
  EXPECT_EQ(Scan("GET /\r\n\r\n").status, 400);
  EXPECT_EQ(Scan("GET / HTTP/1.1\r\nno colon\r\n\r\n").status, 400);
}

// SEC-9: IPv6 clients are keyed by their /64, IPv4 ones (also mapped) by the address.
TEST(ClientKeyTest, Ipv6ByItsSlash64) {
  EXPECT_EQ(ClientKey("2001:db8:1:2::1"), "2001:db8:1:2::/64");
  EXPECT_EQ(ClientKey("2001:db8:1:2:ffff:eeee:dddd:cccc"), "2001:db8:1:2::/64");
  EXPECT_NE(ClientKey("2001:db8:1:3::1"), ClientKey("2001:db8:1:2::1"));
  EXPECT_EQ(ClientKey("192.0.2.7"), "192.0.2.7");
  EXPECT_EQ(ClientKey("::ffff:192.0.2.7"), "192.0.2.7");
  EXPECT_NE(ClientKey("192.0.2.7"), ClientKey("192.0.2.8"));
  EXPECT_EQ(ClientKey("garbage"), "garbage");
}

// SEC-9: a flood of new keys evicts the least recently used bucket, never the table: a
// client being limited stays limited (it was reset when the table was cleared).
TEST(RateLimiterTest, FloodOfNewKeysEvictsLeastRecentlyUsedOnly) {
  ManualClock clock(FromUnixMicros(1'700'000'000'000'000));
  RateLimiter limiter(clock, /*per_second=*/0.001, /*burst=*/2, /*max_keys=*/100);
  EXPECT_EQ(limiter.Take("abuser"), 0);
  EXPECT_EQ(limiter.Take("abuser"), 0);
  EXPECT_GT(limiter.Take("abuser"), 0);
  for (int i = 0; i < 1000; ++i) {
    limiter.Take("new-" + std::to_string(i));
    if (i % 50 == 0) {
      EXPECT_GT(limiter.Take("abuser"), 0) << i;  // still recent, still empty
    }
  }
  EXPECT_LE(limiter.size(), 100u);
  EXPECT_GT(limiter.Take("abuser"), 0);
  // Positive control: eviction does happen, to a key left unused for the whole flood (its
  // empty bucket is forgotten).
  limiter.Take("quiet");
  limiter.Take("quiet");
  EXPECT_GT(limiter.Take("quiet"), 0);
  for (int i = 0; i < 200; ++i) limiter.Take("later-" + std::to_string(i));
  EXPECT_EQ(limiter.Take("quiet"), 0);
}

}  // namespace
}  // namespace herald::web
