// POST /hooks/email/inbound's handler without a server: the shared secret, the limits, the
// media types and the mapping of failures (never a 500).
#include "services/web/hooks/mail_hook.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>

#include "common/error.h"

namespace herald::web {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "s3cret-for-the-mail-hook";

struct Fixture {
  int calls = 0;
  std::function<std::string(std::string_view)> behaviour = [](std::string_view) {
    return std::string("ignored");
  };
  HttpHandler handler = MailHookHandler({kSecret, 100}, [this](std::string_view raw) {
    ++calls;
    return behaviour(raw);
  });
};

HttpRequest Request(const std::string& auth, const std::string& type, const std::string& body) {
  HttpRequest r;
  r.method = "POST";
  r.path = "/hooks/email/inbound";
  if (!auth.empty()) r.headers.emplace("authorization", auth);
  if (!type.empty()) r.headers.emplace("Content-Type", type);
  r.body = body;
  return r;
}

TEST(MailHookTest, TakesARawMessageWithTheSecret) {
  Fixture f;
  auto res = f.handler(Request(std::string("Bearer ") + kSecret, "message/rfc822", "From: a\r\n"));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.content_type, "application/json");
  EXPECT_THAT(res.body, HasSubstr("\"outcome\":\"ignored\""));
  res = f.handler(
      Request(std::string("bearer ") + kSecret, "Application/Octet-Stream; x=y", "From: a\r\n"));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(f.calls, 2);
}

TEST(MailHookTest, MissingSecretIs401WrongIs403AndNothingIsProcessed) {
  Fixture f;
  auto res = f.handler(Request("", "message/rfc822", "From: a\r\n"));
  EXPECT_EQ(res.status, 401);
  EXPECT_EQ(res.headers["WWW-Authenticate"], "Bearer realm=\"herald-inbound-mail\"");
  EXPECT_EQ(f.handler(Request("Basic abc", "message/rfc822", "x")).status, 401);
  EXPECT_EQ(f.handler(Request("Bearer ", "message/rfc822", "x")).status, 401);
  res = f.handler(Request("Bearer wrong-secret-value", "message/rfc822", "From: a\r\n"));
  EXPECT_EQ(res.status, 403);
  EXPECT_THAT(res.body, Not(HasSubstr("wrong-secret-value")));
  EXPECT_EQ(
      f.handler(Request(std::string("Bearer ") + kSecret + "x", "message/rfc822", "x")).status,
      403);
  EXPECT_EQ(f.calls, 0);
}

TEST(MailHookTest, SizeMediaTypeAndEmptyBody) {
  Fixture f;
  std::string auth = std::string("Bearer ") + kSecret;
  HttpResponse too_big = f.handler(Request(auth, "message/rfc822", std::string(101, 'x')));
  EXPECT_EQ(too_big.status, 413);
  // SEC-9: the answer names the limit, so the MTA's bounce says what to change.
  EXPECT_THAT(too_big.body, HasSubstr("larger than the limit of 100 bytes"));
  EXPECT_EQ(f.handler(Request(auth, "text/plain", "From: a\r\n")).status, 415);
  EXPECT_EQ(f.handler(Request(auth, "", "From: a\r\n")).status, 415);
  EXPECT_EQ(f.handler(Request(auth, "message/rfc822", "")).status, 400);
  EXPECT_EQ(f.calls, 0);
}

TEST(MailHookTest, NotAMessageIs400AndAnythingElseIs503NeverA500) {
  Fixture f;
  std::string auth = std::string("Bearer ") + kSecret;
  f.behaviour = [](std::string_view) -> std::string {
    throw InvalidArgument("body", "not an RFC 5322 message");
  };
  auto res = f.handler(Request(auth, "message/rfc822", "zzz"));
  EXPECT_EQ(res.status, 400);
  EXPECT_THAT(res.body, HasSubstr("body: not an RFC 5322 message"));
  f.behaviour = [](std::string_view) -> std::string {
    throw std::runtime_error("connection to server lost; value (secret@example.com)");
  };
  res = f.handler(Request(auth, "message/rfc822", "From: a\r\n"));
  EXPECT_EQ(res.status, 503);
  EXPECT_EQ(res.headers["Retry-After"], "60");
  EXPECT_THAT(res.body, Not(HasSubstr("example.com")));
  f.behaviour = [](std::string_view) -> std::string { throw Unavailable("pool exhausted"); };
  EXPECT_EQ(f.handler(Request(auth, "message/rfc822", "From: a\r\n")).status, 503);
}

}  // namespace
}  // namespace herald::web
