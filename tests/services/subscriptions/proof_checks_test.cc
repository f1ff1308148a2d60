#include "services/subscriptions/proof_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "common/error.h"
#include "tests/support/invalid_argument.h"

namespace herald::subscriptions {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::InvalidMessage;

// --- CheckProof. ---

// 2026-11-27T17:58:33.123456Z.
const Timestamp kNow = FromUnixMicros(1795802313123456);

v1::Proof GoodProof() {
  v1::Proof p;
  p.set_source(v1::WEB_FORM);
  p.set_form_id("signup-footer");
  p.set_document_version("policy-2026-01");
  p.set_ip("203.0.113.7");
  p.set_user_agent("Mozilla/5.0 (X11; Linux x86_64)");
  return p;
}

void SetOccurredAt(v1::Proof& p, int64_t unix_micros) {
  int64_t secs = unix_micros / 1000000;
  p.mutable_occurred_at()->set_seconds(secs);
  p.mutable_occurred_at()->set_nanos(static_cast<int32_t>((unix_micros - secs * 1000000) * 1000));
}

TEST(CheckProofTest, CopiesAValidProof) {
  v1::Proof p = GoodProof();
  SetOccurredAt(p, ToUnixMicros(kNow) - 3600000000);  // an hour ago
  CheckedProof c = CheckProof("proof", p, kNow, true);
  EXPECT_EQ(c.source, v1::WEB_FORM);
  EXPECT_EQ(c.form_id, "signup-footer");
  EXPECT_EQ(c.document_version, "policy-2026-01");
  EXPECT_EQ(ToUnixMicros(c.occurred_at), ToUnixMicros(kNow) - 3600000000);
  EXPECT_EQ(c.ip, "203.0.113.7");
  EXPECT_EQ(c.user_agent, "Mozilla/5.0 (X11; Linux x86_64)");
}

// The message a link or reply came from: a UUID, stored lower-case.
TEST(CheckProofTest, MessageIdIsAUuidWhenGiven) {
  v1::Proof p = GoodProof();
  EXPECT_EQ(CheckProof("proof", p, kNow, false).message_id, "");
  p.set_message_id("0A1B2C3D-4E5F-4A6B-8C7D-9E0F1A2B3C4D");
  EXPECT_EQ(CheckProof("proof", p, kNow, false).message_id, "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
  p.set_message_id("not-a-uuid-person@example.org");
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, false); });
  EXPECT_THAT(msg, HasSubstr("proof.message_id"));
  EXPECT_THAT(msg, Not(HasSubstr("person@example.org")));
}

TEST(CheckProofTest, OccurredAtDefaultsToNow) {
  CheckedProof c = CheckProof("proof", GoodProof(), kNow, true);
  EXPECT_EQ(c.occurred_at, kNow);
}

TEST(CheckProofTest, OccurredAtKeepsMicroseconds) {
  v1::Proof p = GoodProof();
  p.mutable_occurred_at()->set_seconds(1700000000);
  p.mutable_occurred_at()->set_nanos(123456789);  // sub-microsecond part is dropped
  EXPECT_EQ(ToUnixMicros(CheckProof("proof", p, kNow, true).occurred_at), 1700000000123456);
}

TEST(CheckProofTest, SourceIsRequired) {
  v1::Proof p = GoodProof();
  p.set_source(v1::SOURCE_UNSPECIFIED);
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, false); });
  EXPECT_THAT(msg, HasSubstr("proof.source"));
  EXPECT_THAT(msg, HasSubstr("required"));
}

TEST(CheckProofTest, UnknownSourceIsRejected) {
  v1::Proof p = GoodProof();
  p.set_source(static_cast<v1::Source>(99));
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, false); }),
              HasSubstr("proof.source"));
}

TEST(CheckProofTest, DocumentVersionRequiredWhenGranting) {
  v1::Proof p = GoodProof();
  p.clear_document_version();
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
  EXPECT_THAT(msg, HasSubstr("proof.document_version"));
  EXPECT_THAT(msg, HasSubstr("required"));
}

TEST(CheckProofTest, DocumentVersionOptionalWhenWithdrawing) {
  v1::Proof p = GoodProof();
  p.clear_document_version();
  EXPECT_EQ(CheckProof("proof", p, kNow, false).document_version, "");
}

TEST(CheckProofTest, FutureOccurredAtIsRejected) {
  v1::Proof p = GoodProof();
  SetOccurredAt(p, ToUnixMicros(kNow) + 3600000000);  // an hour ahead
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
  EXPECT_THAT(msg, HasSubstr("proof.occurred_at"));
  EXPECT_THAT(msg, HasSubstr("future"));
}

TEST(CheckProofTest, SmallClockSkewIsTolerated) {
  // Up to five minutes ahead of the server is accepted; one microsecond more is not.
  v1::Proof p = GoodProof();
  SetOccurredAt(p, ToUnixMicros(kNow) + 300000000);
  EXPECT_EQ(ToUnixMicros(CheckProof("proof", p, kNow, true).occurred_at),
            ToUnixMicros(kNow) + 300000000);
  SetOccurredAt(p, ToUnixMicros(kNow) + 300000001);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }), HasSubstr("future"));
}

TEST(CheckProofTest, InvalidOccurredAtIsRejected) {
  v1::Proof p = GoodProof();
  p.mutable_occurred_at()->set_seconds(-1);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
              HasSubstr("proof.occurred_at"));
  p.mutable_occurred_at()->set_seconds(1700000000);
  p.mutable_occurred_at()->set_nanos(1000000000);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
              HasSubstr("proof.occurred_at"));
  p.mutable_occurred_at()->set_nanos(-1);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
              HasSubstr("proof.occurred_at"));
}

TEST(CheckProofTest, FarFutureOccurredAtIsRejected) {
  // Without a range check, seconds * 1000000 overflows int64_t for seconds >= ~9.22e12 (far
  // past year 9999, the end of google.protobuf.Timestamp's valid range): the result looks
  // like a time long before 1970 and passes the "is in the future" check.
  v1::Proof p = GoodProof();
  p.mutable_occurred_at()->set_seconds(10000000000000);  // 1e13 s: year ~318,857
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
  EXPECT_THAT(msg, HasSubstr("proof.occurred_at"));
}

TEST(CheckProofTest, BeyondTimestampRangeIsRejected) {
  // Year 10000: past google.protobuf.Timestamp's range; rejected (as "in the future").
  v1::Proof p = GoodProof();
  p.mutable_occurred_at()->set_seconds(253402300800);
  EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
              HasSubstr("proof.occurred_at"));
}

TEST(CheckProofTest, Ipv4AndIpv6AreAccepted) {
  for (const std::string& ip : std::vector<std::string>{
           "203.0.113.7", "0.0.0.0", "2001:db8::1", "::1", "fe80::1ff:fe23:4567:890a",
           "::ffff:192.0.2.1", "2001:0db8:0000:0000:0000:ff00:0042:8329"}) {
    v1::Proof p = GoodProof();
    p.set_ip(ip);
    EXPECT_EQ(CheckProof("proof", p, kNow, true).ip, ip);
  }
}

TEST(CheckProofTest, EmptyIpIsAllowed) {
  v1::Proof p = GoodProof();
  p.clear_ip();
  EXPECT_EQ(CheckProof("proof", p, kNow, true).ip, "");
}

TEST(CheckProofTest, BadIpIsRejectedWithoutEchoingIt) {
  for (const std::string& ip : std::vector<std::string>{
           "999.1.1.1", "203.0.113", "203.0.113.7 ", " 203.0.113.7", "example.com", "2001:db8:::1",
           "203.0.113.7/24", "fe80::1%eth0", "1.2.3.4:80", std::string(46, '1')}) {
    v1::Proof p = GoodProof();
    p.set_ip(ip);
    std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
    EXPECT_THAT(msg, HasSubstr("proof.ip")) << ip;
    EXPECT_THAT(msg, Not(HasSubstr(ip))) << ip;
  }
}

TEST(CheckProofTest, IpWithEmbeddedNulIsRejected) {
  // inet_pton stops at the first NUL byte, so "203.0.113.7\0<anything>" would validate as
  // the address before the NUL while the whole value (NUL and trailing bytes included) is
  // kept in CheckedProof::ip and later written to the event trail's personal data (JSON with
  // "\u0000", which PostgreSQL jsonb refuses).
  v1::Proof p = GoodProof();
  p.set_ip(std::string("203.0.113.7\0<script>", 20));
  std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
  EXPECT_THAT(msg, HasSubstr("proof.ip"));
}

TEST(CheckProofTest, TextFieldsAreChecked) {
  {
    v1::Proof p = GoodProof();
    p.set_user_agent("Mozilla\r\nX-Injected: 1");
    std::string msg = InvalidMessage([&] { CheckProof("proof", p, kNow, true); });
    EXPECT_THAT(msg, HasSubstr("proof.user_agent"));
    EXPECT_THAT(msg, Not(HasSubstr("Injected")));
  }
  {
    v1::Proof p = GoodProof();
    p.set_user_agent(std::string(513, 'a'));
    EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
                HasSubstr("proof.user_agent"));
    p.set_user_agent(std::string(512, 'a'));
    EXPECT_EQ(CheckProof("proof", p, kNow, true).user_agent.size(), 512u);
  }
  {
    v1::Proof p = GoodProof();
    p.set_form_id(std::string(129, 'f'));
    EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
                HasSubstr("proof.form_id"));
  }
  {
    v1::Proof p = GoodProof();
    p.set_document_version("v1\xff");
    EXPECT_THAT(InvalidMessage([&] { CheckProof("proof", p, kNow, true); }),
                HasSubstr("proof.document_version"));
  }
}

}  // namespace
}  // namespace herald::subscriptions
