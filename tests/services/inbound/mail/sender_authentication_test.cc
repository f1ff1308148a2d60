// SEC-5: which Authentication-Results count as our own MTA's DMARC verdict on a marker's
// From:. Every refusal here has a positive control beside it (the genuine pass counts).
#include "services/inbound/mail/sender_authentication.h"

#include <gtest/gtest.h>

namespace herald::inbound {
namespace {

const std::vector<std::string> kTrusted = {"mx.herald.test"};

std::string Mail(const std::string& headers, const std::string& from = "Anna <anna@example.net>") {
  return headers + "From: " + from +
         "\r\nSubject: Revocation of consent to the processing of personal data\r\n"
         "Message-ID: <m1@example.net>\r\n\r\nbody\r\n";
}

TEST(AuthResultsParse, ReadsAuthservIdMethodsAndPropertiesThroughCommentsAndFolding) {
  auto r = ParseAuthResults(
      " MX.Herald.Test 1 (our filter); spf=pass smtp.mailfrom=example.net;\r\n"
      "\tdkim = pass (2048-bit key) header.d=example.net header.s=\"sel 1\";\r\n"
      " dmarc=pass (p=reject dis=none) header . from = Example.NET");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->authserv_id, "mx.herald.test");
  ASSERT_EQ(r->results.size(), 3u);
  EXPECT_EQ(r->results[0].method, "spf");
  EXPECT_EQ(r->results[1].method, "dkim");
  EXPECT_EQ(r->results[1].result, "pass");
  EXPECT_EQ(r->results[1].properties.at("header.s"), "sel 1");
  EXPECT_EQ(r->results[2].method, "dmarc");
  EXPECT_EQ(r->results[2].properties.at("header.from"), "Example.NET");
  auto none = ParseAuthResults("mx.herald.test; none");
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->results.empty());
  EXPECT_FALSE(ParseAuthResults("  (only a comment) "));
}

// Positive control: our MTA's aligned pass counts, whatever the case of the domain.
TEST(DmarcAlignedPass, OurMtasAlignedPassCounts_SEC5) {
  EXPECT_TRUE(DmarcAlignedPass(
      Mail("Authentication-Results: mx.herald.test; dmarc=pass header.from=Example.net\r\n"),
      kTrusted, "example.net"));
}

TEST(DmarcAlignedPass, APassFromAnUntrustedAuthservIdCountsForNothing_SEC5) {
  std::string forged =
      Mail("Authentication-Results: attacker.example; dmarc=pass header.from=example.net\r\n");
  EXPECT_FALSE(DmarcAlignedPass(forged, kTrusted, "example.net"));
  // The same header under our id is what would count (control).
  EXPECT_TRUE(DmarcAlignedPass(
      Mail("Authentication-Results: mx.herald.test; dmarc=pass header.from=example.net\r\n"),
      kTrusted, "example.net"));
}

// The sender can write a field with our id below the one our MTA adds on top: only the
// topmost field of a trusted id is read.
TEST(DmarcAlignedPass, OnlyTheTopmostTrustedFieldIsRead_SEC5) {
  std::string raw = Mail(
      "Authentication-Results: mx.herald.test; dmarc=fail header.from=example.net\r\n"
      "Received: from attacker by mx.herald.test\r\n"
      "Authentication-Results: mx.herald.test; dmarc=pass header.from=example.net\r\n");
  EXPECT_FALSE(DmarcAlignedPass(raw, kTrusted, "example.net"));
  // An untrusted field above ours does not hide our verdict.
  std::string ok = Mail(
      "Authentication-Results: spamfilter.example; dmarc=fail header.from=example.net\r\n"
      "Authentication-Results: mx.herald.test; dmarc=pass header.from=example.net\r\n");
  EXPECT_TRUE(DmarcAlignedPass(ok, kTrusted, "example.net"));
}

TEST(DmarcAlignedPass, APassForAnotherDomainOrAnotherVerdictDoesNotCount_SEC5) {
  EXPECT_FALSE(DmarcAlignedPass(
      Mail("Authentication-Results: mx.herald.test; dmarc=pass header.from=attacker.example\r\n"),
      kTrusted, "example.net"));
  EXPECT_FALSE(DmarcAlignedPass(
      Mail("Authentication-Results: mx.herald.test; dmarc=none header.from=example.net\r\n"),
      kTrusted, "example.net"));
  EXPECT_FALSE(DmarcAlignedPass(Mail("Authentication-Results: mx.herald.test; dmarc=pass\r\n"),
                                kTrusted, "example.net"));
  EXPECT_FALSE(DmarcAlignedPass(
      Mail("Authentication-Results: mx.herald.test; spf=pass smtp.mailfrom=example.net;"
           " dkim=pass header.d=example.net\r\n"),
      kTrusted, "example.net"));
  // A pass inside a comment is no result at all.
  EXPECT_FALSE(DmarcAlignedPass(
      Mail("Authentication-Results: mx.herald.test; (dmarc=pass header.from=example.net)"
           " dmarc=fail header.from=example.net\r\n"),
      kTrusted, "example.net"));
}

TEST(DmarcAlignedPass, NeedsExactlyOneFromMailboxAndATrustedList_SEC5) {
  std::string header =
      "Authentication-Results: mx.herald.test; dmarc=pass header.from=example.net\r\n";
  EXPECT_FALSE(
      DmarcAlignedPass(Mail(header + "From: other@example.net\r\n"), kTrusted, "example.net"));
  EXPECT_FALSE(DmarcAlignedPass(Mail(header, "anna@example.net, eve@attacker.example"), kTrusted,
                                "example.net"));
  EXPECT_FALSE(DmarcAlignedPass(Mail(header), {}, "example.net"));
  EXPECT_TRUE(DmarcAlignedPass(Mail(header), {"other.example", "MX.HERALD.TEST"}, "example.net"));
}

}  // namespace
}  // namespace herald::inbound
