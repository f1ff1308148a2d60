#include "services/dispatch/adapters/sms/json_body_template.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace herald::dispatch::sms {
namespace {

using ::nlohmann::json;

constexpr TemplateFields kFields = {
    .to = "+994501234567", .from = "Herald", .body = "Salam", .message_id = "id-1"};

// Found by fuzzing: nlohmann reads "1e400" as out of range, not as a parse error; the
// template is refused like any other, in words that do not quote it.
TEST(JsonBodyTemplateTest, ANumberBeyondADoubleIsRefusedWithoutQuotingIt) {
  try {
    JsonBodyTemplate tpl(R"({"to":"{{to}}","text":"{{body}}","n":1e400})");
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("1e400"), std::string::npos) << e.what();
  }
}

TEST(JsonBodyTemplateTest, SubstitutesEveryPlaceholderAsAJsonString) {
  JsonBodyTemplate t(
      R"({"to":"{{to}}","from":"{{from}}","text":"Note: {{body}}","ref":"{{message_id}}","n":1})");
  json rendered = json::parse(t.Render(kFields));
  EXPECT_EQ(rendered, (json{{"to", "+994501234567"},
                            {"from", "Herald"},
                            {"text", "Note: Salam"},
                            {"ref", "id-1"},
                            {"n", 1}}));
}

TEST(JsonBodyTemplateTest, ValuesCannotChangeTheDocument) {
  JsonBodyTemplate t(R"({"to":"{{to}}","text":"{{body}}"})");
  TemplateFields fields = kFields;
  const std::string body = "\"},\"to\":\"+1555\",\"x\":{\"a\":\"\\ {{to}} ə\n\t😀";
  fields.body = body;
  json rendered = json::parse(t.Render(fields));
  EXPECT_EQ(rendered["text"], body);
  EXPECT_EQ(rendered["to"], "+994501234567");
  EXPECT_EQ(rendered.size(), 2u);
}

TEST(JsonBodyTemplateTest, MalformedUtf8BecomesReplacementCharacter) {
  JsonBodyTemplate t(R"({"to":"{{to}}","text":"{{body}}"})");
  TemplateFields fields = kFields;
  fields.body = "a\xff";
  EXPECT_EQ(json::parse(t.Render(fields))["text"], "a\uFFFD");
}

TEST(JsonBodyTemplateTest, PlaceholderMayRepeat) {
  JsonBodyTemplate t(R"({"to":"{{to}}","text":"{{body}}","copy":"{{body}}"})");
  json rendered = json::parse(t.Render(kFields));
  EXPECT_EQ(rendered["copy"], "Salam");
}

void ExpectRejected(const std::string& text, const std::string& why) {
  try {
    JsonBodyTemplate t(text);
    ADD_FAILURE() << "accepted: " << text;
  } catch (const std::invalid_argument& e) {
    std::string message = e.what();
    EXPECT_EQ(message.rfind("body_template: ", 0), 0u) << message;
    EXPECT_NE(message.find(why), std::string::npos) << message;
  }
}

TEST(JsonBodyTemplateTest, RejectsTemplatesThatCannotWork) {
  ExpectRejected(R"({"to":{{to}},"text":"{{body}}"})", "not valid JSON");   // unquoted
  ExpectRejected(R"({"to":"{{to}}","text":"{{body}}")", "not valid JSON");  // unclosed
  ExpectRejected(R"(to={{to}}&text={{body}})", "not valid JSON");
  ExpectRejected(R"({"to":"{{to}}","text":"{{text}}"})", "unknown placeholder {{text}}");
  ExpectRejected(R"({"to":"{{to}}","text":"{{body"})", "unterminated");
  ExpectRejected(R"({"text":"{{body}}"})", "needs {{to}}");
  ExpectRejected(R"({"to":"{{to}}"})", "needs {{body}}");
}

TEST(JsonBodyTemplateTest, ErrorDoesNotQuoteTheTemplate) {
  // Templates may carry an API key; the error goes to start-up logs.
  try {
    JsonBodyTemplate t(R"({"key":"sk_live_SECRET","to":"{{to}}","text":"{{body}}",})");
    ADD_FAILURE() << "accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("SECRET"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace herald::dispatch::sms
