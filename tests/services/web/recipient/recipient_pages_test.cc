// Unit tests of the recipient pages' pure parts: language negotiation, the CSRF
// field and same-origin check, HTML escaping, and the completeness of the three translations.
// Token age is the domain's (tests/services/subscriptions/recipient_links_test.cc).
#include "services/web/recipient/recipient_pages.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/crypto/key_ring.h"
#include "services/web/recipient/csrf.h"
#include "services/web/recipient/language.h"
#include "services/web/recipient/page_templates.h"
#include "services/web/recipient/page_text.h"

namespace herald::web {
namespace {

const std::string kHex1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const std::string kHex2 = "f0e1d2c3b4a5968778695a4b3c2d1e0ff0e1d2c3b4a5968778695a4b3c2d1e0f";

TEST(LanguageTest, SubjectLocaleWinsOverBrowser) {
  EXPECT_EQ(NegotiateLanguage("ru", "en-US,en;q=0.9"), Language::kRu);
  EXPECT_EQ(NegotiateLanguage("en-GB", "ru"), Language::kEn);
  EXPECT_EQ(NegotiateLanguage("AZ_az", "ru"), Language::kAz);
}

TEST(LanguageTest, UnsupportedLocaleFallsBackToAcceptLanguage) {
  EXPECT_EQ(NegotiateLanguage("de", "ru-RU,ru;q=0.9"), Language::kRu);
  EXPECT_EQ(NegotiateLanguage("", "en"), Language::kEn);
}

TEST(LanguageTest, AcceptLanguageQValuesAndOrder) {
  EXPECT_EQ(NegotiateLanguage("", "de, en;q=0.5, ru;q=0.8"), Language::kRu);
  EXPECT_EQ(NegotiateLanguage("", "en;q=0.8, ru;q=0.8"), Language::kEn);  // tie: first
  EXPECT_EQ(NegotiateLanguage("", "ru;q=0, en;q=0.1"), Language::kEn);    // q=0: never
  EXPECT_EQ(NegotiateLanguage("", "ru;q=0"), Language::kAz);
  EXPECT_EQ(NegotiateLanguage("", "ru;q=2, en;q=0.1"), Language::kEn);  // malformed q
  EXPECT_EQ(NegotiateLanguage("", "*"), Language::kAz);
}

TEST(LanguageTest, DefaultIsAzerbaijani) {
  EXPECT_EQ(NegotiateLanguage("", ""), Language::kAz);
  EXPECT_EQ(NegotiateLanguage("fr", "de-DE,fr;q=0.5"), Language::kAz);
  EXPECT_EQ(NegotiateLanguage("", std::string(5000, ',')), Language::kAz);
  EXPECT_STREQ(LanguageCode(Language::kAz), "az");
  EXPECT_STREQ(LanguageCode(Language::kRu), "ru");
  EXPECT_STREQ(LanguageCode(Language::kEn), "en");
}

TEST(PageTextTest, AllThreeTranslationsAreComplete) {
  for (Language l : {Language::kAz, Language::kRu, Language::kEn}) {
    const PageText& t = TextFor(l);
    const char* const* fields = reinterpret_cast<const char* const*>(&t);
    const size_t n = sizeof(PageText) / sizeof(const char*);
    for (size_t i = 0; i < n; ++i) {
      ASSERT_NE(fields[i], nullptr) << LanguageCode(l) << " field " << i;
      EXPECT_GT(std::string(fields[i]).size(), 0u) << LanguageCode(l) << " field " << i;
    }
    for (const char* topic : {"product_news", "special_offers", "events", "service"}) {
      EXPECT_NE(BuiltInTopicLabel(t, topic), nullptr);
    }
    for (int ch = 1; ch <= 3; ++ch) EXPECT_STRNE(ChannelLabel(t, ch), "");
  }
  // And actually translated: the Russian and Azerbaijani pages are not the English one.
  EXPECT_STRNE(TextFor(Language::kRu).confirm_button, TextFor(Language::kEn).confirm_button);
  EXPECT_STRNE(TextFor(Language::kAz).confirm_button, TextFor(Language::kEn).confirm_button);
}

TEST(CsrfTest, BoundToTheTokenAndTheKeys) {
  CsrfGuard guard(crypto::KeyRing::Parse("k1:" + kHex1));
  std::string c = guard.Token("token-a");
  EXPECT_TRUE(guard.Verify("token-a", c));
  EXPECT_FALSE(guard.Verify("token-b", c));  // another link's form
  EXPECT_FALSE(guard.Verify("token-a", ""));
  EXPECT_FALSE(guard.Verify("token-a", c.substr(0, c.size() - 1)));
  std::string flipped = c;
  flipped[3] = flipped[3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(guard.Verify("token-a", flipped));
  EXPECT_FALSE(guard.Verify("token-a", std::string(5000, 'A')));
  CsrfGuard other(crypto::KeyRing::Parse("k9:" + kHex2));
  EXPECT_FALSE(other.Verify("token-a", c));  // made without our key
}

TEST(CsrfTest, OlderKeyStillVerifiesAfterRotationRetiredDoesNot) {
  CsrfGuard before(crypto::KeyRing::Parse("k1:" + kHex1));
  std::string c = before.Token("tok");
  CsrfGuard rotated(crypto::KeyRing::Parse("k2:" + kHex2 + ",k1:" + kHex1));
  EXPECT_TRUE(rotated.Verify("tok", c));
  CsrfGuard retired(crypto::KeyRing::Parse("k2:" + kHex2));
  EXPECT_FALSE(retired.Verify("tok", c));
}

HttpRequest Post(std::initializer_list<std::pair<std::string, std::string>> headers) {
  HttpRequest r;
  r.method = "POST";
  for (const auto& [k, v] : headers) r.headers.emplace(k, v);
  return r;
}

// E8: the undo ticket verifies only with its link token, its session and within 15 minutes,
// and carries exactly the topics its unsubscribe turned off.
TEST(CsrfTest, E8_UndoTicketIsBoundToTokenSessionTopicsAndWindow) {
  CsrfGuard guard(crypto::KeyRing::Parse("k1:" + kHex1));
  const int64_t issued = 1'800'000'000'000'000;
  const int64_t window = 15 * 60 * 1'000'000LL;
  const std::vector<std::string> topics = {"product_news", "events"};
  std::string ticket = guard.UndoTicket("token-a", "session-1", issued, topics);
  auto grant = guard.VerifyUndoTicket("token-a", "session-1", ticket, issued);
  ASSERT_TRUE(grant);
  EXPECT_EQ(grant->issued_micros, issued);
  EXPECT_EQ(grant->topics, topics);
  EXPECT_TRUE(guard.VerifyUndoTicket("token-a", "session-1", ticket, issued + window));
  EXPECT_FALSE(guard.VerifyUndoTicket("token-a", "session-1", ticket, issued + window + 1))
      << "past the window";
  EXPECT_FALSE(guard.VerifyUndoTicket("token-a", "session-1", ticket, issued - 1))
      << "from the future";
  EXPECT_FALSE(guard.VerifyUndoTicket("token-b", "session-1", ticket, issued)) << "other link";
  EXPECT_FALSE(guard.VerifyUndoTicket("token-a", "session-2", ticket, issued)) << "other browser";
  EXPECT_FALSE(guard.VerifyUndoTicket("token-a", "", ticket, issued)) << "no session cookie";
  // The time and the topics are under the MAC: neither can be moved or widened.
  const std::string mac = ticket.substr(ticket.rfind('.'));
  std::string moved = std::to_string(issued + 600'000'000) + ".product_news,events" + mac;
  EXPECT_FALSE(guard.VerifyUndoTicket("token-a", "session-1", moved, issued + window));
  std::string widened = std::to_string(issued) + ".product_news,events,special_offers" + mac;
  EXPECT_FALSE(guard.VerifyUndoTicket("token-a", "session-1", widened, issued));
  std::string tampered = ticket;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  for (const std::string& bad :
       {std::string(), std::string("."), std::string("x.y"), std::string("1..x"),
        ticket.substr(0, ticket.size() - 2), ticket + "A", tampered, guard.Token("token-a")}) {
    EXPECT_FALSE(guard.VerifyUndoTicket("token-a", "session-1", bad, issued)) << bad;
  }
  // Not a CSRF field either: each MAC has its own context label.
  EXPECT_FALSE(guard.Verify("token-a", ticket.substr(ticket.rfind('.') + 1)));
  CsrfGuard other(crypto::KeyRing::Parse("k9:" + kHex2));
  EXPECT_FALSE(other.VerifyUndoTicket("token-a", "session-1", ticket, issued));
}

TEST(CsrfTest, SameOriginPost) {
  const std::string pub = OriginOf("https://herald.example/base");
  EXPECT_EQ(pub, "https://herald.example");
  EXPECT_TRUE(SameOriginPost(Post({}), pub));  // no header at all: the csrf field decides
  EXPECT_TRUE(SameOriginPost(Post({{"Origin", "https://herald.example"}}), pub));
  EXPECT_TRUE(SameOriginPost(Post({{"Origin", "https://HERALD.example"}}), pub));
  EXPECT_TRUE(
      SameOriginPost(Post({{"Origin", "http://127.0.0.1:5610"}, {"Host", "127.0.0.1:5610"}}), pub));
  EXPECT_FALSE(SameOriginPost(Post({{"Origin", "https://evil.example"}}), pub));
  EXPECT_FALSE(
      SameOriginPost(Post({{"Origin", "https://evil.example"}, {"Host", "herald.example"}}), pub));
  EXPECT_FALSE(SameOriginPost(Post({{"Origin", "null"}}), pub));
  EXPECT_FALSE(SameOriginPost(Post({{"Sec-Fetch-Site", "cross-site"}}), pub));
  EXPECT_TRUE(SameOriginPost(Post({{"Sec-Fetch-Site", "same-origin"}}), pub));
}

TEST(EscapeHtmlTest, EscapesMarkupCharacters) {
  EXPECT_EQ(EscapeHtml("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

}  // namespace
}  // namespace herald::web
