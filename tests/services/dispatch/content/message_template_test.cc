// MessageTemplate: what a campaign author may write, and what a recipient receives.
#include "services/dispatch/content/message_template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"

namespace herald::dispatch {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::set<std::string> Allowed() {
  std::set<std::string> allowed = BuiltInTemplateVariables();
  allowed.insert("offer_code");  // a campaign's per-recipient variable
  return allowed;
}

TemplateSource Text(std::string text) { return TemplateSource{"Subject", std::move(text), ""}; }

// Compiles and expects INVALID_ARGUMENT; returns the message.
std::string CompileError(const TemplateSource& source) {
  try {
    MessageTemplate::Compile(source, Allowed());
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "compiled, expected INVALID_ARGUMENT";
  return "";
}

MessageTemplate::Rendered Render(const TemplateSource& source,
                                 const std::map<std::string, std::string>& values) {
  return MessageTemplate::Compile(source, Allowed()).Render(values);
}

std::string RenderText(const std::string& text, const std::map<std::string, std::string>& values) {
  return Render(Text(text), values).text;
}

// --- Unknown variables ---------------------------------------------------------------------

TEST(MessageTemplateTest, UnknownVariableIsNamedWithThePartButNotTheText) {
  const std::string message = CompileError(Text("Secret offer for {{card_number}} today"));
  EXPECT_EQ(message, "content.text: unknown variable \"card_number\"");
}

TEST(MessageTemplateTest, EachPartIsNamedInItsError) {
  EXPECT_THAT(CompileError({"Hi {{nope}}", "", ""}), HasSubstr("content.subject:"));
  EXPECT_THAT(CompileError({"", "Hi {{nope}}", ""}), HasSubstr("content.text:"));
  EXPECT_THAT(CompileError({"", "", "<p>{{nope}}</p>"}), HasSubstr("content.html:"));
}

TEST(MessageTemplateTest, AllUnknownVariablesAreListed) {
  EXPECT_EQ(CompileError(Text("{{b}} {{a}} {{given_name}} {{b}}")),
            "content.text: unknown variables \"a\", \"b\"");
}

TEST(MessageTemplateTest, UnknownSectionNameIsRefused) {
  EXPECT_EQ(CompileError(Text("{{#vip}}Hello{{/vip}}")), "content.text: unknown variable \"vip\"");
}

TEST(MessageTemplateTest, UnknownVariableInsideSectionsIsFound) {
  // Bodies the exploration can only reach by answering the outer tags both ways.
  EXPECT_THAT(CompileError(Text("{{#given_name}}{{inner1}}{{/given_name}}")), HasSubstr("inner1"));
  EXPECT_THAT(CompileError(Text("{{^given_name}}{{inner2}}{{/given_name}}")), HasSubstr("inner2"));
  EXPECT_THAT(
      CompileError(Text("{{#surname}}{{^given_name}}{{inner3}}{{/given_name}}{{/surname}}")),
      HasSubstr("inner3"));
  EXPECT_THAT(
      CompileError(Text("{{^surname}}{{#given_name}}{{inner4}}{{/given_name}}{{/surname}}")),
      HasSubstr("inner4"));
  EXPECT_THAT(
      CompileError(Text("{{#surname}}{{^surname}}{{^locale}}{{inner5}}{{/locale}}{{/surname}}"
                        "{{/surname}}")),
      HasSubstr("inner5"));
}

TEST(MessageTemplateTest, NameThatIsNotANameIsNotEchoed) {
  // Whatever sits between the braces is echoed only if it looks like a variable name.
  const std::string message = CompileError(Text("{{Dear Ivan, your card 4111}}"));
  EXPECT_EQ(message, "content.text: unknown variable (not a valid variable name)");
}

TEST(MessageTemplateTest, DottedNamesAreNotAllowed) {
  EXPECT_THAT(CompileError(Text("{{given_name.length}}")), HasSubstr("\"given_name.length\""));
}

// --- Syntax --------------------------------------------------------------------------------

TEST(MessageTemplateTest, UnclosedSectionIsASyntaxError) {
  const std::string message = CompileError(Text("Private text {{#given_name}} more private"));
  EXPECT_EQ(message, "content.text: syntax error: unclosed section \"given_name\" at byte 13");
}

TEST(MessageTemplateTest, UnclosedTagIsASyntaxError) {
  const std::string message = CompileError({"Private text {{given_name", "", ""});
  EXPECT_EQ(message, "content.subject: syntax error: unclosed tag at byte 13");
}

TEST(MessageTemplateTest, UnopenedSectionIsASyntaxError) {
  EXPECT_EQ(CompileError({"", "", "<p>{{/given_name}}</p>"}),
            "content.html: syntax error: unopened section \"given_name\" at byte 3");
}

TEST(MessageTemplateTest, AHugeUnclosedSectionNameIsNotEchoed) {
  const std::string text = "{{#" + std::string(200'000, 'a') + "}} no end";
  EXPECT_EQ(CompileError(Text(text)),
            "content.text: syntax error: unclosed section (not a valid variable name) at byte 0");
}

TEST(MessageTemplateTest, PartialsAreRefused) {
  EXPECT_EQ(CompileError(Text("Hello {{> footer}}")), "content.text: partials are not supported");
  // Also where only an inverted section's body reaches it.
  EXPECT_EQ(CompileError({"", "", "{{^given_name}}{{>footer}}{{/given_name}}"}),
            "content.html: partials are not supported");
}

TEST(MessageTemplateTest, SetDelimiterTagsAreRefused) {
  EXPECT_EQ(CompileError(Text("{{=<% %>=}}<%given_name%>")),
            "content.text: set-delimiter tags are not supported");
  EXPECT_EQ(CompileError(Text("{{{ =<% %>= }}}")),
            "content.text: set-delimiter tags are not supported");
}

std::string Nested(int depth, const std::string& name = "given_name") {
  std::string s;
  for (int i = 0; i < depth; ++i) s += "{{#" + name + "}}";
  s += "x";
  for (int i = 0; i < depth; ++i) s += "{{/" + name + "}}";
  return s;
}

TEST(MessageTemplateTest, NestingDepthIsLimited) {
  EXPECT_EQ(RenderText(Nested(MessageTemplate::kMaxSectionDepth), {{"given_name", "A"}}), "x");
  EXPECT_EQ(CompileError(Text(Nested(MessageTemplate::kMaxSectionDepth + 1))),
            "content.text: sections nested deeper than 16 levels");
  // Deep enough to overflow the stack inside kainjow if it ever got there, yet under 256 KiB.
  EXPECT_THAT(CompileError(Text(Nested(20000, "a"))), HasSubstr("nested deeper"));
}

TEST(MessageTemplateTest, TriplesAndCommentsDoNotCountAsNesting) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "{{{#given_name}}}{{! {{#x}} }}";
  // Not 40 levels deep: {{{#given_name}}} is an unescaped variable named "#given_name".
  EXPECT_EQ(CompileError(Text(text)), "content.text: unknown variable (not a valid variable name)");
}

// --- Escaping ------------------------------------------------------------------------------

TEST(MessageTemplateTest, UnescapedOutputIsRefusedInHtml) {
  EXPECT_EQ(CompileError({"", "", "<p>{{{given_name}}}</p>"}),
            "content.html: unescaped output ({{{x}}} or {{& x}}) is not allowed in HTML: "
            "\"given_name\"");
  EXPECT_THAT(CompileError({"", "", "<p>{{& surname}}</p>"}), HasSubstr("\"surname\""));
  EXPECT_THAT(CompileError({"", "", "{{^locale}}{{{offer_code}}}{{/locale}}"}),
              HasSubstr("\"offer_code\""));
  EXPECT_THAT(CompileError({"", "", "{{#locale}}{{{.}}}{{/locale}}"}), HasSubstr("unescaped"));
}

TEST(MessageTemplateTest, UnescapedOutputIsAllowedInTextAndSubject) {
  const auto rendered =
      Render({"{{{given_name}}} {{& surname}}", "{{{given_name}}} {{&surname}}", ""},
             {{"given_name", "Tom & Jerry"}, {"surname", "<b>"}});
  EXPECT_EQ(rendered.subject, "Tom & Jerry <b>");
  EXPECT_EQ(rendered.text, "Tom & Jerry <b>");
}

TEST(MessageTemplateTest, HtmlIsEscapedButTextAndSubjectAreNot) {
  const std::string hostile = "<script>alert(\"x\")</script> & 'q'";
  const auto rendered = Render({"{{offer_code}}", "{{offer_code}}", "<p>{{offer_code}}</p>"},
                               {{"offer_code", hostile}});
  EXPECT_EQ(rendered.html,
            "<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &apos;q&apos;</p>");
  EXPECT_EQ(rendered.text, hostile);
  EXPECT_EQ(rendered.subject, hostile);
}

TEST(MessageTemplateTest, HtmlIsEscapedInsideSections) {
  const auto rendered =
      Render({"", "", "{{#given_name}}<b>{{.}}</b>{{/given_name}}"}, {{"given_name", "<i>"}});
  EXPECT_EQ(rendered.html, "<b>&lt;i&gt;</b>");
}

// --- Values --------------------------------------------------------------------------------

TEST(MessageTemplateTest, CyrillicAndAzerbaijaniValuesPassThroughUnchanged) {
  const std::map<std::string, std::string> values = {
      {"surname", "Məmmədova"}, {"given_name", "Şəhla"}, {"patronymic", "Ağa qızı"}};
  const TemplateSource source{"Hörmətli {{given_name}} {{surname}}",
                              "Здравствуйте, {{given_name}} {{patronymic}}!",
                              "<p>Hörmətli {{given_name}} {{patronymic}} {{surname}}</p>"};
  const auto rendered = Render(source, values);
  EXPECT_EQ(rendered.subject, "Hörmətli Şəhla Məmmədova");
  EXPECT_EQ(rendered.text, "Здравствуйте, Şəhla Ağa qızı!");
  EXPECT_EQ(rendered.html, "<p>Hörmətli Şəhla Ağa qızı Məmmədova</p>");

  EXPECT_EQ(
      RenderText("{{surname}} {{given_name}} {{patronymic}}",
                 {{"surname", "Иванова"}, {"given_name", "Мария"}, {"patronymic", "Ильинична"}}),
      "Иванова Мария Ильинична");
}

TEST(MessageTemplateTest, MissingValuesRenderEmpty) {
  const auto rendered = Render(
      {"[{{given_name}}]", "[{{surname}}][{{offer_code}}]", "<p>{{unsubscribe_url}}</p>"}, {});
  EXPECT_EQ(rendered.subject, "[]");
  EXPECT_EQ(rendered.text, "[][]");
  EXPECT_EQ(rendered.html, "<p></p>");
}

TEST(MessageTemplateTest, ValuesTheTemplateDoesNotUseAreIgnored) {
  EXPECT_EQ(RenderText("Hi {{given_name}}", {{"given_name", "Ann"}, {"not_declared", "x"}}),
            "Hi Ann");
}

TEST(MessageTemplateTest, SectionsShowWhenTheValueIsPresentAndNotEmpty) {
  const std::string text =
      "Dear {{given_name}}{{#patronymic}} {{patronymic}}{{/patronymic}}"
      "{{^patronymic}} {{surname}}{{/patronymic}}.";
  const std::map<std::string, std::string> base = {{"given_name", "Ivan"}, {"surname", "Petrov"}};
  auto with_patronymic = base;
  with_patronymic["patronymic"] = "Ilyich";
  auto empty_patronymic = base;
  empty_patronymic["patronymic"] = "";
  EXPECT_EQ(RenderText(text, with_patronymic), "Dear Ivan Ilyich.");
  EXPECT_EQ(RenderText(text, base), "Dear Ivan Petrov.");
  EXPECT_EQ(RenderText(text, empty_patronymic), "Dear Ivan Petrov.");
}

TEST(MessageTemplateTest, NestedSectionsAndCurrentItem) {
  const std::string text =
      "{{#surname}}{{^given_name}}Dear {{.}}{{/given_name}}{{#given_name}}Hi {{.}}"
      "{{/given_name}}{{/surname}}{{! a comment }}";
  EXPECT_EQ(RenderText(text, {{"surname", "Aliyev"}}), "Dear Aliyev");
  EXPECT_EQ(RenderText(text, {{"surname", "Aliyev"}, {"given_name", "Elvin"}}), "Hi Elvin");
  EXPECT_EQ(RenderText(text, {}), "");
}

TEST(MessageTemplateTest, LineBreaksInTheSubjectBecomeSpaces) {
  const auto rendered = Render({"Offer: {{offer_code}}\n", "Code:\r\n{{offer_code}}", ""},
                               {{"offer_code", "A\r\nBcc: x@example.com\nC\rD"}});
  EXPECT_EQ(rendered.subject, "Offer: A Bcc: x@example.com C D ");
  EXPECT_THAT(rendered.subject, AllOf(Not(HasSubstr("\r")), Not(HasSubstr("\n"))));
  // The text part is a body, not a header: its line breaks stay.
  EXPECT_EQ(rendered.text, "Code:\r\nA\r\nBcc: x@example.com\nC\rD");
}

// --- Limits and introspection -------------------------------------------------------------

TEST(MessageTemplateTest, EachPartIsLimitedTo256KiB) {
  const std::string at_limit(MessageTemplate::kMaxPartBytes, 'a');
  const std::string over_limit(MessageTemplate::kMaxPartBytes + 1, 'a');
  EXPECT_EQ(RenderText(at_limit, {}).size(), MessageTemplate::kMaxPartBytes);
  EXPECT_EQ(CompileError({"", over_limit, ""}), "content.text: larger than 262144 bytes");
  EXPECT_EQ(CompileError({over_limit, "", ""}), "content.subject: larger than 262144 bytes");
  EXPECT_EQ(CompileError({"", "", over_limit}), "content.html: larger than 262144 bytes");
}

TEST(MessageTemplateTest, UsedVariablesCoverEveryPartAndSection) {
  const auto tmpl = MessageTemplate::Compile(
      {"{{given_name}}", "{{#patronymic}}{{.}}{{/patronymic}}{{^locale}}{{offer_code}}{{/locale}}",
       "<a href=\"{{unsubscribe_url}}\">x</a>"},
      Allowed());
  EXPECT_THAT(tmpl.used_variables(),
              ElementsAre("given_name", "locale", "offer_code", "patronymic", "unsubscribe_url"));
}

TEST(MessageTemplateTest, EmptyPartsRenderEmpty) {
  const auto tmpl = MessageTemplate::Compile({"", "Only text", ""}, Allowed());
  EXPECT_TRUE(tmpl.used_variables().empty());
  const auto rendered = tmpl.Render({});
  EXPECT_EQ(rendered.subject, "");
  EXPECT_EQ(rendered.text, "Only text");
  EXPECT_EQ(rendered.html, "");
}

TEST(MessageTemplateTest, RenderIsSafeFromManyThreads) {
  const auto tmpl = MessageTemplate::Compile(
      {"Hi {{given_name}}", "{{#given_name}}Dear {{.}}{{/given_name}}", "<p>{{given_name}}</p>"},
      Allowed());
  std::vector<std::thread> threads;
  threads.reserve(8);
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&tmpl, &mismatches, t] {
      const std::string name = "N" + std::to_string(t);
      for (int i = 0; i < 500; ++i) {
        const auto r = tmpl.Render({{"given_name", name}});
        if (r.subject != "Hi " + name || r.text != "Dear " + name ||
            r.html != "<p>" + name + "</p>") {
          ++mismatches[t];
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

}  // namespace
}  // namespace herald::dispatch
