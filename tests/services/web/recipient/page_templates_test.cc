// The recipient pages' templates and stylesheet, compiled into the binary: the stylesheet is
// served exactly as the asset file, every template renders inside the layout, and values
// reach the page HTML-escaped. The pages run on a database that is never reached: an
// address-only link's confirmation and reduced pages read nothing from it.
#include "services/web/recipient/page_templates.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/crypto/link_token.h"
#include "common/db/pool.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/recipient_links.h"
#include "services/subscriptions/registry.h"
#include "services/web/recipient/recipient_pages.h"

namespace herald::web {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kKeys[] = "k1:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kHostile[] = "<script>alert('x')</script> & \"more\"";
constexpr char kHostileEscaped[] =
    "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;more&quot;";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in) << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TEST(PageTemplatesTest, StylesheetIsTheAssetFileByteForByte) {
  const std::string asset =
      ReadFile(std::string(HERALD_SOURCE_DIR) + "/services/web/recipient/assets/recipient.css");
  ASSERT_FALSE(asset.empty());
  HttpResponse r = RecipientPages::Stylesheet();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/css; charset=utf-8");
  EXPECT_EQ(r.body, asset);
  EXPECT_EQ(RecipientStylesheet(), asset);
}

TEST(PageTemplatesTest, EveryTemplateRendersInsideTheLayoutWithTheSecurityHeaders) {
  for (const char* name : {"unsubscribe", "unsubscribed", "undone", "preferences",
                           "reduced_preferences", "refused", "privacy_confirmation"}) {
    HttpResponse r = RenderPage(Language::kRu, 201, "A <title>", name, PageData());
    EXPECT_EQ(r.status, 201) << name;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    EXPECT_THAT(r.body, StartsWith("<!DOCTYPE html>\n<html lang=\"ru\">\n")) << name;
    EXPECT_THAT(r.body, HasSubstr("<title>A &lt;title&gt;</title>"));
    EXPECT_THAT(r.body, HasSubstr("<link rel=\"stylesheet\" href=\"/static/recipient.css\">"));
    EXPECT_THAT(r.body, HasSubstr("<main>\n<h1"));
    EXPECT_THAT(r.body, HasSubstr("</main>\n</body>\n</html>\n"));
    EXPECT_THAT(r.body, Not(HasSubstr("{{"))) << name;
    EXPECT_THAT(r.headers["Content-Security-Policy"], HasSubstr("default-src 'none'"));
    EXPECT_EQ(r.headers["Cache-Control"], "no-store");
    EXPECT_EQ(r.headers["X-Frame-Options"], "DENY");
  }
  EXPECT_THROW(RenderPage(Language::kEn, 200, "t", "no_such_page", PageData()), std::logic_error);
}

TEST(PageTemplatesTest, OnlyTheLayoutInsertsUnescapedText) {
  const std::string dir = std::string(HERALD_SOURCE_DIR) + "/services/web/recipient/templates/";
  for (const char* name : {"details", "unsubscribe", "unsubscribed", "undone", "preferences",
                           "reduced_preferences", "refused", "privacy_confirmation"}) {
    const std::string source = ReadFile(dir + name + ".mustache");
    EXPECT_FALSE(source.empty()) << name;
    EXPECT_THAT(source, Not(HasSubstr("{{{"))) << name;
    EXPECT_THAT(source, Not(HasSubstr("{{&"))) << name;
  }
}

TEST(PageTemplatesTest, ValuesAreEscapedInTextAndAttributes) {
  PageData d;
  d.set("title", kHostile);
  d.set("paragraph_id", "x\" onclick=\"y");
  d.set("paragraph", kHostile);
  d.set("csrf", "\"><script>");
  d.set("button", kHostile);
  HttpResponse r = RenderPage(Language::kEn, 200, kHostile, "privacy_confirmation", d);
  EXPECT_THAT(r.body, Not(HasSubstr("<script")));
  EXPECT_THAT(r.body, Not(HasSubstr("\" onclick")));
  EXPECT_THAT(r.body, HasSubstr(std::string("<title>") + kHostileEscaped + "</title>"));
  EXPECT_THAT(r.body, HasSubstr(std::string("<h1 id=\"title\">") + kHostileEscaped + "</h1>"));
  EXPECT_THAT(r.body, HasSubstr("value=\"&quot;&gt;&lt;script&gt;\""));
}

// RecipientPages with a topic whose configured description is markup.
class HostileTopicTest : public ::testing::Test {
 protected:
  std::string AddressToken(const std::string& topic) {
    crypto::LinkClaims c;
    c.address_key = std::string(32, '\x5a');
    c.topic = topic;
    c.channel = 1;
    c.issued_at = clock_.Now();
    return signer_.Sign(c);
  }

  HttpRequest Get(const std::string& token) {
    HttpRequest r;
    r.method = "GET";
    r.path_params = {token};
    r.headers.emplace("Accept-Language", "en");
    return r;
  }

  ManualClock clock_{ParseTimestamp("2026-11-27T10:00:00Z")};
  TopicCatalog topics_{{{"hostile",
                         true,
                         {{"az", kHostile}, {"ru", kHostile}, {"en", kHostile}},
                         {{"az", kHostile}, {"ru", kHostile}, {"en", kHostile}}}}};
  crypto::LinkSigner signer_{crypto::KeyRing::Parse(kKeys)};
  crypto::SuppressionHasher hasher_{crypto::KeyRing::Parse(kKeys)};
  // Never connected: nothing these pages do for an address-only link reads the database.
  db::Pool pool_{"postgresql://127.0.0.1:1/unreachable", 1, std::chrono::milliseconds(50)};
  subscriptions::EligibilityGate gate_{hasher_, "RU", {"RU"}};
  subscriptions::SubscriptionRegistry registry_{pool_, clock_, topics_, hasher_, gate_};
  subscriptions::RecipientLinks links_{signer_, registry_, topics_, clock_, std::chrono::hours(24)};
  CsrfGuard csrf_{crypto::KeyRing::Parse(kKeys)};
  RecipientPages pages_{
      links_, csrf_, topics_, clock_, {"https://operator.example/?a=1&b=\"2\"", ""}};
};

TEST_F(HostileTopicTest, ConfirmationPageShowsTheLabelEscaped) {
  HttpResponse r = pages_.GetUnsubscribe(Get(AddressToken("hostile")));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr(std::string("<dd id=\"topic\">") + kHostileEscaped + "</dd>"));
  EXPECT_THAT(r.body, Not(HasSubstr("<script")));
  EXPECT_THAT(r.body, HasSubstr("id=\"confirm-unsubscribe\""));
}

TEST_F(HostileTopicTest, ReducedPreferencesEscapeTheLabelAndThePolicyUrl) {
  const std::string token = AddressToken("hostile");
  HttpResponse r = pages_.GetPreferences(Get(token));
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.body, HasSubstr("id=\"reduced\""));
  EXPECT_THAT(r.body, HasSubstr(std::string("<dd id=\"topic\">") + kHostileEscaped + "</dd>"));
  EXPECT_THAT(r.body, Not(HasSubstr("<script")));
  EXPECT_THAT(r.body, HasSubstr("action=\"/u/" + token + "\""));
  EXPECT_THAT(r.body, HasSubstr("href=\"https://operator.example/?a=1&amp;b=&quot;2&quot;\""));
}

TEST_F(HostileTopicTest, ForgedTokenGetsTheLocalisedNotFoundPage) {
  HttpResponse r = pages_.GetUnsubscribe(Get("forged"));
  EXPECT_EQ(r.status, 404);
  EXPECT_THAT(r.body, HasSubstr("<html lang=\"en\">"));
  EXPECT_THAT(r.body, HasSubstr("<h1 id=\"error\">"));
}

}  // namespace
}  // namespace herald::web
