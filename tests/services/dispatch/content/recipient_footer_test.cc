// The footer and mailto marker of marketing e-mail, in the recipient's language (E6, E7).
#include "services/dispatch/content/recipient_footer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "services/inbound/mail/subject_markers.h"

namespace herald::dispatch {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const RecipientLinks kLinks{"https://herald.test/u/TOKEN", "https://herald.test/p/TOKEN"};

TEST(FooterTextTest, EveryLanguageHasEveryText) { EXPECT_NO_THROW(RequireCompleteFooterTexts()); }

// E6: the mailto's subject is the refusal marker of the recipient's language, and inbound mail
// recognises each of them as a refusal of marketing.
TEST(FooterTextTest, E6_RefusalMarkerIsTheRecipientsLanguageAndRecognised) {
  EXPECT_THAT(FooterTextFor("ru").refusal_marker, HasSubstr("Отказ от уведомлений"));
  EXPECT_THAT(FooterTextFor("en-GB").refusal_marker, HasSubstr("Refusal of notifications"));
  EXPECT_THAT(FooterTextFor("az").refusal_marker, HasSubstr("bildirişlərdən imtina"));
  EXPECT_STREQ(FooterTextFor("").refusal_marker, FooterTextFor("az").refusal_marker)
      << "an unknown language gets the operator's";
  EXPECT_STREQ(FooterTextFor("de").refusal_marker, FooterTextFor("az").refusal_marker);
  for (const char* locale : {"az", "ru", "en"}) {
    auto found = inbound::FindMarkers(FooterTextFor(locale).refusal_marker);
    ASSERT_EQ(found.size(), 1u) << locale;
    EXPECT_EQ(found[0], inbound::MarkerRequest::kRefuseMarketing) << locale;
  }
}

// E7: both links, labelled in the recipient's language, in the text and the HTML body.
TEST(RecipientFooterTest, E7_AddsBothLinksInTheRecipientsLanguage) {
  std::string text = "Здравствуйте!";
  std::string html = "<html><body><p>Здравствуйте!</p></body></html>";
  AddRecipientFooter("ru", kLinks, text, html);
  EXPECT_THAT(text, HasSubstr("Отписаться от этих писем: https://herald.test/u/TOKEN\n"));
  EXPECT_THAT(text, HasSubstr("Настроить подписки: https://herald.test/p/TOKEN\n"));
  EXPECT_THAT(html,
              HasSubstr("<a href=\"https://herald.test/u/TOKEN\">Отписаться от этих писем</a>"));
  EXPECT_THAT(html, HasSubstr("<a href=\"https://herald.test/p/TOKEN\">Настроить подписки</a>"));
  EXPECT_THAT(html, HasSubstr("</a></p></body></html>")) << "the footer goes before </body>";
  EXPECT_THAT(text, Not(HasSubstr("Unsubscribe")));
}

TEST(RecipientFooterTest, E7_EnglishAndAzerbaijaniLabels) {
  std::string text, html;
  AddRecipientFooter("en", kLinks, text, html);
  EXPECT_THAT(text, HasSubstr("Manage your subscriptions: https://herald.test/p/TOKEN"));
  EXPECT_TRUE(html.empty()) << "a text-only message gets no HTML part";
  text.clear();
  AddRecipientFooter("az", kLinks, text, html);
  EXPECT_THAT(text, HasSubstr("Abunəlik seçimləri: https://herald.test/p/TOKEN"));
  EXPECT_THAT(text, HasSubstr("Bu məktublardan abunəlikdən çıxmaq: https://herald.test/u/TOKEN"));
}

// A link the template placed itself is not repeated; the other one still is.
TEST(RecipientFooterTest, E7_LinksTheTemplatePlacedAreNotRepeated) {
  std::string text = "Bye: https://herald.test/u/TOKEN";
  std::string html = "<p><a href=\"https://herald.test/u/TOKEN\">x</a></p>";
  AddRecipientFooter("en", kLinks, text, html);
  EXPECT_EQ(text.find("https://herald.test/u/TOKEN"), text.rfind("https://herald.test/u/TOKEN"));
  EXPECT_THAT(text, HasSubstr("Manage your subscriptions: https://herald.test/p/TOKEN"));
  EXPECT_EQ(html.find("https://herald.test/u/TOKEN"), html.rfind("https://herald.test/u/TOKEN"));
  EXPECT_THAT(html, HasSubstr("https://herald.test/p/TOKEN"));

  std::string both = "https://herald.test/u/TOKEN https://herald.test/p/TOKEN";
  std::string both_html = both;
  AddRecipientFooter("en", kLinks, both, both_html);
  EXPECT_EQ(both, "https://herald.test/u/TOKEN https://herald.test/p/TOKEN");
  EXPECT_EQ(both_html, both);
}

}  // namespace
}  // namespace herald::dispatch
