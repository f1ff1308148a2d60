// Provider webhooks: Twilio's request signature against its published example vectors, the
// JSON dialect's shared-secret signature, and precise errors for malformed bodies.
#include "services/inbound/sms/webhook_parsing.h"

#include <gtest/gtest.h>

namespace herald::inbound::sms {
namespace {

std::multimap<std::string, std::string> TwilioExampleParams(const std::string& number) {
  return {{"CallSid", "CA1234567890ABCDE"},
          {"Caller", number},
          {"Digits", "1234"},
          {"From", number},
          {"To", "+18005551212"}};
}

TEST(TwilioSignatureTest, MatchesTwilioDocumentationVectors) {
  // From Twilio's request-validation examples (auth token 12345).
  const std::string url = "https://mycompany.com/myapp.php?foo=1&bar=2";
  EXPECT_EQ(TwilioSignature("12345", url, TwilioExampleParams("+14158675309")),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
  EXPECT_EQ(TwilioSignature("12345", url, TwilioExampleParams("+14158675310")),
            "GvWf1cFY/Q7PnoempGyD5oXAezc=");
}

TEST(TwilioSignatureTest, AnyChangeBreaksIt) {
  const std::string url = "https://mycompany.com/myapp.php?foo=1&bar=2";
  auto good = TwilioSignature("12345", url, TwilioExampleParams("+14158675309"));
  EXPECT_NE(TwilioSignature("12346", url, TwilioExampleParams("+14158675309")), good);
  EXPECT_NE(TwilioSignature("12345", url + "x", TwilioExampleParams("+14158675309")), good);
  auto params = TwilioExampleParams("+14158675309");
  params.emplace("Body", "STOP");
  EXPECT_NE(TwilioSignature("12345", url, params), good);
  EXPECT_TRUE(SignatureMatches(good, good));
  EXPECT_FALSE(SignatureMatches("", good));
  EXPECT_FALSE(SignatureMatches(good.substr(1), good));
}

TEST(TwilioSignatureTest, SignsTheDecodedFormValues) {
  auto form = ParseForm("Body=St%C3%B6p+now&From=%2B994501234567&MessageSid=SM1");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->find("Body")->second, "Stöp now");
  EXPECT_EQ(form->find("From")->second, "+994501234567");
  EXPECT_EQ(
      TwilioSignature("t", "https://h/x", *form),
      TwilioSignature("t", "https://h/x",
                      {{"MessageSid", "SM1"}, {"From", "+994501234567"}, {"Body", "Stöp now"}}));
}

TEST(JsonSignatureTest, IsHmacSha256OfTheRawBodyInHex) {
  // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
  EXPECT_EQ(JsonSignature("Jefe", "what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(ParseFormTest, MalformedEscapesAreRefused) {
  EXPECT_FALSE(ParseForm("Body=%"));
  EXPECT_FALSE(ParseForm("Body=%4"));
  EXPECT_FALSE(ParseForm("Body=%zz"));
  EXPECT_TRUE(ParseForm(""));
  EXPECT_TRUE(ParseForm("a=&b"));
}

TEST(ParseInboundTest, TwilioForm) {
  ParseError e;
  auto m = ParseInbound(Dialect::kTwilio, "MessageSid=SM9&From=%2B79161234567&Body=STOP", &e);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->provider_message_id, "SM9");
  EXPECT_EQ(m->from, "+79161234567");
  EXPECT_EQ(m->text, "STOP");
}

TEST(ParseInboundTest, JsonBody) {
  ParseError e;
  auto m = ParseInbound(Dialect::kJson,
                        R"({"message_id":"m-1","from":"+994501234567","text":"DAYAN"})", &e);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->provider_message_id, "m-1");
  EXPECT_EQ(m->text, "DAYAN");
}

TEST(ParseInboundTest, ErrorsNameTheFieldNeverTheValue) {
  ParseError e;
  EXPECT_FALSE(ParseInbound(Dialect::kTwilio, "From=%2B79161234567&Body=STOP", &e));
  EXPECT_EQ(e.field, "MessageSid");
  EXPECT_FALSE(ParseInbound(Dialect::kTwilio, "MessageSid=SM1&Body=STOP", &e));
  EXPECT_EQ(e.field, "From");
  EXPECT_FALSE(ParseInbound(Dialect::kJson, "[1,2]", &e));
  EXPECT_EQ(e.field, "body");
  EXPECT_FALSE(ParseInbound(Dialect::kJson, "{not json", &e));
  EXPECT_EQ(e.field, "body");
  EXPECT_FALSE(ParseInbound(Dialect::kJson, R"({"message_id":5,"from":"+1"})", &e));
  EXPECT_EQ(e.field, "message_id");
  EXPECT_FALSE(ParseInbound(Dialect::kJson, R"({"message_id":"a b","from":"+79161234567"})", &e));
  EXPECT_EQ(e.field, "message_id");
  EXPECT_EQ(e.message.find("+7916"), std::string::npos);
}

TEST(ParseReceiptTest, FinalStatusesAreMapped) {
  ParseError e;
  auto d = ParseReceipt(Dialect::kTwilio, "MessageSid=SM1&MessageStatus=delivered", &e);
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->final);
  EXPECT_EQ(d->status, "delivered");
  auto f = ParseReceipt(Dialect::kJson, R"({"message_id":"x","status":"failed"})", &e);
  ASSERT_TRUE(f);
  EXPECT_TRUE(f->final);
  EXPECT_EQ(f->status, "undelivered");
  auto s = ParseReceipt(Dialect::kTwilio, "MessageSid=SM1&MessageStatus=sent", &e);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->final);
  EXPECT_FALSE(ParseReceipt(Dialect::kTwilio, "MessageSid=SM1", &e));
  EXPECT_EQ(e.field, "MessageStatus");
}

}  // namespace
}  // namespace herald::inbound::sms
