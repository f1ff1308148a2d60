// The recipient's pages over real HTTP against a real heraldd and PostgreSQL:
// STANDARDS E1 (GET changes nothing), E2 (one-click POST, urlencoded and multipart,
// idempotent, 200 without a redirect), E3 (forged, tampered, truncated, retired-key tokens
// refused and change nothing; old keys still verify after rotation; old tokens still
// unsubscribe), the preference center with CSRF, and the public-endpoint protection (429
// with Retry-After, X-Forwarded-For only from trusted proxies, 413, never a 500).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/crypto/link_token.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using ::testing::Not;

// k2 is newest (signs), k1 is older and still in the ring, k0 is retired (not in the ring).
const std::string kHex0 = "0000000000000000000000000000000000000000000000000000000000000a0a";
const std::string kHex1 = "1111111111111111111111111111111111111111111111111111111111111b1b";
const std::string kHex2 = "2222222222222222222222222222222222222222222222222222222222222c2c";
// The suppression key HeralddProcess gives heraldd.
const std::string kSuppressionKeys =
    "it:abababababababababababababababababababababababababababababababab";
const std::string kMessageId = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
const char kPolicyUrl[] = "https://operator.example/privacy";

std::string Sign(const std::string& key, const crypto::LinkClaims& c) {
  return crypto::LinkSigner(crypto::KeyRing::Parse(key)).Sign(c);
}

class RecipientPagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
  }

  void StartServer(const std::vector<std::string>& env = {}) {
    server_ = std::make_unique<HeralddProcess>(db_->dsn());
    server_->AddEnv("HERALD_LINK_KEYS=k2:" + kHex2 + ",k1:" + kHex1);
    server_->AddEnv(std::string("HERALD_LINKS_POLICY_URL=") + kPolicyUrl);
    server_->AddEnv("HERALD_LINKS_LIFETIME_DAYS=30");
    bool rate_set = false;
    for (auto& e : env) {
      rate_set |= e.rfind("HERALD_HTTP_RATE_LIMIT", 0) == 0;
      server_->AddEnv(e);
    }
    if (!rate_set) server_->AddEnv("HERALD_HTTP_RATE_LIMIT_PER_MINUTE=600000");
    if (!rate_set) server_->AddEnv("HERALD_HTTP_RATE_LIMIT_BURST=100000");
    server_->Start();
    stub_ = v1::SubscriptionService::NewStub(server_->Channel());
  }

  // A subject with an e-mail address, marketing consent on EMAIL only.
  std::string MakeSubject(const std::string& locale = "ru",
                          const std::string& email = "person@example.org") {
    v1::UpsertSubjectRequest u;
    std::string ext = "ext-" + email;
    for (auto& ch : ext) ch = ch == '@' ? '.' : ch;
    u.set_external_id(ext);
    u.set_locale(locale);
    u.add_emails(email);
    v1::UpsertSubjectResponse ur;
    {
      grpc::ClientContext ctx;
      testing::Authorize(ctx, HeralddProcess::kCrmKey);
      auto st = stub_->UpsertSubject(&ctx, u, &ur);
      EXPECT_TRUE(st.ok()) << st.error_message();
    }
    v1::RecordConsentRequest c;
    c.set_subject_id(ur.subject().id());
    c.set_kind(v1::MARKETING);
    c.set_channel(v1::EMAIL);
    c.set_granted(true);
    c.mutable_proof()->set_source(v1::WEB_FORM);
    c.mutable_proof()->set_document_version("v1");
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::RecordConsentResponse cr;
    auto st = stub_->RecordConsent(&ctx, c, &cr);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return ur.subject().id();
  }

  crypto::LinkClaims Claims(const std::string& subject, const std::string& topic = "product_news",
                            Timestamp issued = SystemClock().Now()) {
    crypto::LinkClaims c;
    c.subject_id = subject;
    c.topic = topic;
    c.channel = 1;
    c.message_id = kMessageId;
    c.issued_at = issued;
    return c;
  }

  // "EMAIL:product_news" -> subscribed, for every topic x channel, over gRPC.
  std::map<std::string, bool> Preferences(const std::string& subject) {
    v1::GetPreferencesRequest r;
    r.set_subject_id(subject);
    v1::GetPreferencesResponse resp;
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    auto st = stub_->GetPreferences(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    std::map<std::string, bool> out;
    for (const auto& p : resp.preferences()) {
      out[v1::Channel_Name(p.channel()) + ":" + p.topic()] = p.subscribed();
    }
    return out;
  }

  std::vector<v1::SubjectEvent> Events(const std::string& subject) {
    v1::ListSubjectEventsRequest r;
    r.set_subject_id(subject);
    r.set_page_size(500);
    v1::ListSubjectEventsResponse resp;
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    auto st = stub_->ListSubjectEvents(&ctx, r, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return {resp.events().begin(), resp.events().end()};
  }

  // Everything a link could change, from the database itself.
  std::string Snapshot() {
    return db_->Scalar(
        "SELECT (SELECT count(*) FROM events) || '/' || (SELECT count(*) FROM suppressions)"
        " || '/' || (SELECT count(*) FROM consents) || '/' ||"
        " (SELECT coalesce(string_agg(channel || topic || subscribed::text, ',' ORDER BY"
        " channel, topic), '') FROM preferences)");
  }

  httplib::Client Client() {
    httplib::Client c("127.0.0.1", server_->http_port());
    c.set_follow_location(false);
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(10, 0);
    return c;
  }

  httplib::Result PostForm(const std::string& path, const std::string& body,
                           const httplib::Headers& headers = {}) {
    auto c = Client();
    return c.Post(path, headers, body, "application/x-www-form-urlencoded");
  }

  // The undo form's ticket, and the session cookie the same response set (E8).
  static std::string UndoTicket(const std::string& html) {
    const std::string field = "name=\"undo\" value=\"";
    auto pos = html.find(field);
    if (pos == std::string::npos) return "";
    pos += field.size();
    return html.substr(pos, html.find('"', pos) - pos);
  }
  // The ticket with one character of its MAC changed (its time and topics kept).
  static std::string Tampered(std::string ticket) {
    char& c = ticket[ticket.size() - 3];
    c = c == 'A' ? 'B' : 'A';
    return ticket;
  }
  static std::string UndoCookie(const httplib::Response& r) {
    std::string set = r.get_header_value("Set-Cookie");
    return set.substr(0, set.find(';'));
  }

  static std::string Csrf(const std::string& html) {
    auto pos = html.find("name=\"csrf\" value=\"");
    if (pos == std::string::npos) return "";
    pos += 19;
    return html.substr(pos, html.find('"', pos) - pos);
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> stub_;
};

void ExpectPageHeaders(const httplib::Response& r) {
  EXPECT_THAT(r.get_header_value("Content-Security-Policy"), HasSubstr("default-src 'none'"));
  EXPECT_THAT(r.get_header_value("Content-Security-Policy"), HasSubstr("frame-ancestors 'none'"));
  EXPECT_THAT(r.get_header_value("Content-Security-Policy"), HasSubstr("form-action 'self'"));
  EXPECT_EQ(r.get_header_value("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(r.get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(r.get_header_value("Cache-Control"), "no-store");
  EXPECT_THAT(r.body, Not(HasSubstr("<script")));
}

// STANDARDS E1: GET shows a confirmation page and changes nothing (link scanners fetch it).
TEST_F(RecipientPagesTest, E1_GetShowsConfirmationAndChangesNothing) {
  StartServer();
  std::string subject = MakeSubject("ru");
  std::string token = Sign("k2:" + kHex2, Claims(subject));
  auto before_prefs = Preferences(subject);
  std::string before = Snapshot();
  auto c = Client();
  for (int i = 0; i < 3; ++i) {
    auto r = c.Get("/u/" + token);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    ExpectPageHeaders(*r);
    EXPECT_THAT(r->body, HasSubstr("<html lang=\"ru\">"));  // the subject's locale
    EXPECT_THAT(r->body, HasSubstr("<form method=\"post\" id=\"unsubscribe-form\">"));
    EXPECT_THAT(r->body, HasSubstr("name=\"List-Unsubscribe\" value=\"One-Click\""));
    EXPECT_THAT(r->body, HasSubstr("id=\"confirm-unsubscribe\""));
    EXPECT_THAT(r->body, HasSubstr("Новости продуктов"));
  }
  auto p = c.Get("/p/" + token);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->status, 200);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(Preferences(subject), before_prefs);
  EXPECT_TRUE(before_prefs.at("EMAIL:product_news"));
}

// STANDARDS E2: the one-click POST (urlencoded) unsubscribes, answers 200 without a redirect,
// and a replay changes nothing more. The change is an event with source LINK, the message id,
// and IP and user agent on the personal side.
TEST_F(RecipientPagesTest, E2_OneClickUrlEncodedUnsubscribesIdempotently) {
  StartServer();
  std::string subject = MakeSubject("en");
  std::string token = Sign("k2:" + kHex2, Claims(subject));
  auto r =
      PostForm("/u/" + token, "List-Unsubscribe=One-Click", {{"User-Agent", "ExampleMail/1.0"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << server_->Log();
  ExpectPageHeaders(*r);
  EXPECT_THAT(r->body, HasSubstr("id=\"unsubscribed\""));
  EXPECT_THAT(r->body, HasSubstr("id=\"preferences-link\" href=\"/p/" + token + "\""));
  EXPECT_THAT(r->body, HasSubstr("id=\"undo\""));
  EXPECT_THAT(r->body, HasSubstr("<html lang=\"en\">"));

  auto prefs = Preferences(subject);
  EXPECT_FALSE(prefs.at("EMAIL:product_news"));
  EXPECT_TRUE(prefs.at("EMAIL:special_offers"));  // only the token's topic
  EXPECT_TRUE(prefs.at("SMS:product_news"));      // only the token's channel

  auto events = Events(subject);
  int opt_outs = 0;
  for (const auto& e : events) {
    if (e.type() != "opt_out") continue;
    ++opt_outs;
    EXPECT_EQ(e.source(), v1::LINK);
    auto details = nlohmann::json::parse(e.details_json());
    EXPECT_EQ(details["message_id"], kMessageId);
    EXPECT_EQ(details["topic"], "product_news");
    auto personal = nlohmann::json::parse(e.personal_json());
    EXPECT_EQ(personal["ip"], "127.0.0.1");
    EXPECT_EQ(personal["user_agent"], "ExampleMail/1.0");
  }
  EXPECT_EQ(opt_outs, 1);

  std::string after_first = Snapshot();
  for (int i = 0; i < 3; ++i) {
    auto again = PostForm("/u/" + token, "List-Unsubscribe=One-Click");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200);
    EXPECT_THAT(again->body, HasSubstr("id=\"unsubscribed\""));
  }
  EXPECT_EQ(Snapshot(), after_first);  // idempotent: no new event, no new row
}

// STANDARDS E2: multipart/form-data works too; a token with an empty topic is all marketing
// on its channel.
TEST_F(RecipientPagesTest, E2_OneClickMultipartAndEmptyTopicIsWholeChannel) {
  StartServer();
  std::string subject = MakeSubject("az");
  std::string token = Sign("k2:" + kHex2, Claims(subject, ""));
  auto c = Client();
  httplib::MultipartFormDataItems items = {{"List-Unsubscribe", "One-Click", "", ""}};
  auto r = c.Post("/u/" + token, items);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("id=\"unsubscribed\""));
  EXPECT_THAT(r->body, HasSubstr("<html lang=\"az\">"));
  auto prefs = Preferences(subject);
  for (const char* t : {"product_news", "special_offers", "events", "webinars"}) {
    EXPECT_FALSE(prefs.at(std::string("EMAIL:") + t)) << t;
    EXPECT_TRUE(prefs.at(std::string("SMS:") + t)) << t;
  }
  // A body without the one-click field is not an unsubscribe.
  std::string subject2 = MakeSubject("az", "other@example.org");
  std::string token2 = Sign("k2:" + kHex2, Claims(subject2));
  std::string before = Snapshot();
  auto bad = PostForm("/u/" + token2, "List-Unsubscribe=Nope");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(Snapshot(), before);
}

// E9: a configured topic is shown in the page's language, label and description, on the
// preference center and on the unsubscribe page; the page never falls back to another
// language's text.
TEST_F(RecipientPagesTest, E9_ConfiguredTopicIsShownInThePagesLanguage) {
  StartServer();
  struct Case {
    const char* locale;
    const char* label;
    const char* description;
  };
  for (const Case& c : {Case{"ru", "Вебинары", "Онлайн-семинары и демонстрации"},
                        Case{"az", "Vebinarlar", "Onlayn seminarlar və nümayişlər"},
                        Case{"en", "Webinars", "Online seminars and demos"}}) {
    SCOPED_TRACE(c.locale);
    std::string subject = MakeSubject(c.locale, std::string("web-") + c.locale + "@example.org");
    auto client = Client();
    auto p = client.Get("/p/" + Sign("k2:" + kHex2, Claims(subject)));
    ASSERT_TRUE(p);
    EXPECT_EQ(p->status, 200);
    EXPECT_THAT(p->body, HasSubstr(std::string("<legend>") + c.label + "</legend>"));
    EXPECT_THAT(p->body, HasSubstr(c.description));
    auto u = client.Get("/u/" + Sign("k2:" + kHex2, Claims(subject, "webinars")));
    ASSERT_TRUE(u);
    EXPECT_THAT(u->body, HasSubstr(c.label));
    for (const Case& other : {Case{"ru", "Вебинары", "Онлайн-семинары и демонстрации"},
                              Case{"az", "Vebinarlar", "Onlayn seminarlar və nümayişlər"},
                              Case{"en", "Webinars", "Online seminars and demos"}}) {
      if (std::string(other.locale) == c.locale) continue;
      EXPECT_THAT(p->body, Not(HasSubstr(other.label))) << other.locale;
      EXPECT_THAT(p->body, Not(HasSubstr(other.description))) << other.locale;
      EXPECT_THAT(u->body, Not(HasSubstr(std::string(">") + other.label))) << other.locale;
    }
  }
}

// STANDARDS E3: forged, tampered, truncated, extended, unknown-key and garbage tokens get
// 4xx, never a redirect, and change nothing.
TEST_F(RecipientPagesTest, E3_ForgedTamperedTruncatedTokensRefused) {
  StartServer();
  std::string subject = MakeSubject();
  std::string good = Sign("k2:" + kHex2, Claims(subject));
  std::string tampered = good;
  tampered[good.size() / 2] = tampered[good.size() / 2] == 'A' ? 'B' : 'A';
  std::string forged = Sign("k2:" + kHex0, Claims(subject));  // right key id, wrong secret
  std::string unknown = Sign("k7:" + kHex1, Claims(subject));
  std::vector<std::string> bad = {tampered,
                                  good.substr(0, good.size() - 1),
                                  good.substr(0, good.size() - 4),
                                  good.substr(0, 20),
                                  good + "A",
                                  good + "AAAA",
                                  forged,
                                  unknown,
                                  "",
                                  "not-a-token",
                                  "%00%ff",
                                  std::string(600, 'A')};
  std::string before = Snapshot();
  auto prefs_before = Preferences(subject);
  auto c = Client();
  for (const auto& t : bad) {
    auto g = c.Get("/u/" + t);
    ASSERT_TRUE(g);
    EXPECT_GE(g->status, 400) << t;
    EXPECT_LT(g->status, 500) << t;
    auto p = PostForm("/u/" + t, "List-Unsubscribe=One-Click");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->status, 404) << t;
    EXPECT_THAT(p->body, HasSubstr("id=\"error\""));
    auto pp = PostForm("/p/" + t, "action=unsubscribe_all");
    ASSERT_TRUE(pp);
    EXPECT_GE(pp->status, 400);
    EXPECT_LT(pp->status, 500);
  }
  EXPECT_EQ(Snapshot(), before);
  EXPECT_EQ(Preferences(subject), prefs_before);
}

// STANDARDS E3: after a rotation the older key still verifies; a retired key does not.
TEST_F(RecipientPagesTest, E3_OldKeyVerifiesAfterRotationRetiredKeyDoesNot) {
  StartServer();  // ring: k2 (newest), k1
  std::string subject = MakeSubject();
  std::string retired = Sign("k0:" + kHex0, Claims(subject, "events"));
  std::string before = Snapshot();
  auto r0 = PostForm("/u/" + retired, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(r0);
  EXPECT_EQ(r0->status, 404);
  EXPECT_EQ(Snapshot(), before);

  std::string old_key = Sign("k1:" + kHex1, Claims(subject, "events"));
  auto r1 = PostForm("/u/" + old_key, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(r1);
  EXPECT_EQ(r1->status, 200);
  EXPECT_FALSE(Preferences(subject).at("EMAIL:events"));
}

// STANDARDS E3: a genuine token never stops unsubscribing; past its lifetime it opens only a
// reduced page (no preference editing). E8: the page that has just unsubscribed may still
// undo that, in the same browser session; a repeat of the old link never re-subscribes.
TEST_F(RecipientPagesTest, E3_ExpiredTokenStillUnsubscribesWithReducedPage) {
  StartServer();  // lifetime 30 days
  std::string subject = MakeSubject("en");
  auto old = SystemClock().Now() - std::chrono::hours(24 * 400);
  std::string token = Sign("k2:" + kHex2, Claims(subject, "special_offers", old));
  auto c = Client();
  auto page = c.Get("/p/" + token);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, Not(HasSubstr("preferences-form")));
  EXPECT_THAT(page->body, HasSubstr("id=\"reduced\""));
  EXPECT_THAT(page->body, HasSubstr("id=\"confirm-unsubscribe\""));
  std::string before = Snapshot();
  auto edit = PostForm("/p/" + token, "action=unsubscribe_all");
  ASSERT_TRUE(edit);
  EXPECT_EQ(edit->status, 403);
  EXPECT_EQ(Snapshot(), before);

  auto r = PostForm("/u/" + token, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("id=\"unsubscribed\""));
  EXPECT_THAT(r->body, Not(HasSubstr("preferences-link")));
  auto prefs = Preferences(subject);
  EXPECT_FALSE(prefs.at("EMAIL:special_offers"));
  EXPECT_TRUE(prefs.at("EMAIL:product_news"));

  // The old link again: nothing changes, so nothing can be undone.
  auto again = PostForm("/u/" + token, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_THAT(again->body, Not(HasSubstr("id=\"undo\"")));
  EXPECT_FALSE(again->has_header("Set-Cookie"));

  // The first page's undo, in its session, works and is recorded with source LINK.
  auto undo = PostForm("/u/" + token, "action=undo&undo=" + UndoTicket(r->body),
                       {{"Cookie", UndoCookie(*r)}});
  ASSERT_TRUE(undo);
  EXPECT_EQ(undo->status, 200) << undo->body;
  EXPECT_TRUE(Preferences(subject).at("EMAIL:special_offers"));
  EXPECT_THAT(undo->body, Not(HasSubstr("preferences-link"))) << "the old link edits nothing";
}

// E8: the undo is offered only by the page that has just unsubscribed, works only in the
// browser session that page started, and never through the preference center's CSRF field
// (which any holder of a fresh link can read) or a copied page without its cookie.
TEST_F(RecipientPagesTest, E8_UndoOnlyFromThePageThatJustUnsubscribed) {
  StartServer();
  std::string subject = MakeSubject("ru");
  std::string token = Sign("k2:" + kHex2, Claims(subject, "events"));
  auto c = Client();
  std::string csrf = Csrf(c.Get("/p/" + token)->body);
  ASSERT_FALSE(csrf.empty());
  auto r = PostForm("/u/" + token, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  ASSERT_THAT(r->body, HasSubstr("id=\"undo\""));
  const std::string ticket = UndoTicket(r->body);
  const std::string cookie = UndoCookie(*r);
  ASSERT_FALSE(ticket.empty());
  ASSERT_THAT(cookie, ::testing::StartsWith("herald_undo="));
  EXPECT_THAT(r->get_header_value("Set-Cookie"), HasSubstr("HttpOnly"));
  EXPECT_THAT(r->get_header_value("Set-Cookie"), HasSubstr("SameSite=Strict"));
  EXPECT_THAT(r->get_header_value("Set-Cookie"), HasSubstr("Max-Age=900"));
  EXPECT_FALSE(Preferences(subject).at("EMAIL:events"));

  const std::string before = Snapshot();
  struct Case {
    std::string what;
    std::string body;
    httplib::Headers headers;
  };
  const std::vector<Case> refused = {
      {"the preference center's csrf", "action=undo&csrf=" + csrf, {}},
      {"csrf and cookie", "action=undo&csrf=" + csrf, {{"Cookie", cookie}}},
      {"ticket without its cookie", "action=undo&undo=" + ticket, {}},
      {"ticket with another session",
       "action=undo&undo=" + ticket,
       {{"Cookie", "herald_undo=AAAAAAAAAAAAAAAAAAAAAA"}}},
      {"tampered ticket", "action=undo&undo=" + Tampered(ticket), {{"Cookie", cookie}}},
      {"cross-site",
       "action=undo&undo=" + ticket,
       {{"Cookie", cookie}, {"Sec-Fetch-Site", "cross-site"}}},
  };
  for (const auto& k : refused) {
    auto u = PostForm("/u/" + token, k.body, k.headers);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->status, 403) << k.what;
  }
  // The ticket is bound to its link: another topic's link of the same subject refuses it.
  std::string other = Sign("k2:" + kHex2, Claims(subject, "product_news"));
  auto o = PostForm("/u/" + other, "action=undo&undo=" + ticket, {{"Cookie", cookie}});
  ASSERT_TRUE(o);
  EXPECT_EQ(o->status, 403);
  EXPECT_EQ(Snapshot(), before);
  EXPECT_FALSE(Preferences(subject).at("EMAIL:events"));

  auto undo = PostForm("/u/" + token, "action=undo&undo=" + ticket, {{"Cookie", cookie}});
  ASSERT_TRUE(undo);
  EXPECT_EQ(undo->status, 200) << undo->body;
  EXPECT_TRUE(Preferences(subject).at("EMAIL:events"));
  EXPECT_THAT(undo->get_header_value("Set-Cookie"), HasSubstr("Max-Age=0"))
      << "the session ends with its undo";

  // Unsubscribed again from the confirmation page: a new undo for the new change; a repeat
  // that changes nothing offers none.
  auto second = PostForm("/u/" + token, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(second);
  EXPECT_THAT(second->body, HasSubstr("id=\"undo\""));
  auto repeat = PostForm("/u/" + token, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(repeat);
  EXPECT_THAT(repeat->body, Not(HasSubstr("id=\"undo\"")));
  EXPECT_FALSE(Preferences(subject).at("EMAIL:events"));
}

// The preference center: every topic x channel, disabled without consent, toggles saved over
// a CSRF-protected POST, visible over gRPC, recorded with source LINK and the message id.
TEST_F(RecipientPagesTest, PreferenceCenterTogglesAndUnsubscribeAll) {
  StartServer();
  std::string subject = MakeSubject("ru");
  std::string token = Sign("k2:" + kHex2, Claims(subject));
  auto c = Client();
  auto page = c.Get("/p/" + token);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  ExpectPageHeaders(*page);
  const std::string& html = page->body;
  EXPECT_THAT(html, HasSubstr("<form method=\"post\" id=\"preferences-form\">"));
  for (const char* t : {"product_news", "special_offers", "events", "webinars"}) {
    for (const char* ch : {"EMAIL", "SMS", "CALL"}) {
      std::string id = std::string("pref-") + ch + "-" + t;
      EXPECT_THAT(html, HasSubstr("name=\"pref:" + std::string(ch) + ":" + t + "\""));
      EXPECT_THAT(html, HasSubstr("<label for=\"" + id + "\">"));
    }
  }
  EXPECT_THAT(html, HasSubstr("id=\"pref-EMAIL-events\" name=\"pref:EMAIL:events\" value=\"on\" "
                              "checked>"));
  EXPECT_THAT(html, HasSubstr("id=\"pref-SMS-events\" name=\"pref:SMS:events\" value=\"on\" "
                              "disabled aria-describedby=\"no-consent-SMS\">"));
  EXPECT_THAT(html, HasSubstr("id=\"no-consent-SMS\""));
  EXPECT_THAT(html, HasSubstr("id=\"save-preferences\""));
  EXPECT_THAT(html, HasSubstr("id=\"unsubscribe-all\""));
  EXPECT_THAT(html, HasSubstr(std::string("id=\"policy-link\" href=\"") + kPolicyUrl));
  std::string csrf = Csrf(html);
  ASSERT_FALSE(csrf.empty());

  // Keep product_news and events on e-mail; turn special_offers and webinars off. The
  // SMS field is ignored (no consent on SMS).
  auto saved = PostForm("/p/" + token,
                        "csrf=" + csrf +
                            "&action=save&pref%3AEMAIL%3Aproduct_news=on"
                            "&pref%3AEMAIL%3Aevents=on&pref%3ASMS%3Aevents=on",
                        {{"Origin", "https://herald.test"}});
  ASSERT_TRUE(saved);
  EXPECT_EQ(saved->status, 200);
  EXPECT_THAT(saved->body, HasSubstr("id=\"status\""));
  auto prefs = Preferences(subject);
  EXPECT_TRUE(prefs.at("EMAIL:product_news"));
  EXPECT_TRUE(prefs.at("EMAIL:events"));
  EXPECT_FALSE(prefs.at("EMAIL:special_offers"));
  EXPECT_FALSE(prefs.at("EMAIL:webinars"));
  int changes = 0;
  for (const auto& e : Events(subject)) {
    if (e.type() != "preference.changed") continue;
    ++changes;
    EXPECT_EQ(e.source(), v1::LINK);
    EXPECT_EQ(nlohmann::json::parse(e.details_json())["message_id"], kMessageId);
    EXPECT_EQ(nlohmann::json::parse(e.personal_json())["ip"], "127.0.0.1");
  }
  EXPECT_EQ(changes, 2);

  // Turn one back on from the page's own Host origin (no Origin header rewrite needed).
  auto on = PostForm("/p/" + token,
                     "csrf=" + csrf +
                         "&action=save&pref%3AEMAIL%3Aproduct_news=on"
                         "&pref%3AEMAIL%3Aevents=on&pref%3AEMAIL%3Awebinars=on",
                     {{"Origin", "http://127.0.0.1:" + std::to_string(server_->http_port())}});
  ASSERT_TRUE(on);
  EXPECT_EQ(on->status, 200);
  EXPECT_TRUE(Preferences(subject).at("EMAIL:webinars"));

  auto all = PostForm("/p/" + token, "csrf=" + csrf + "&action=unsubscribe_all");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->status, 200);
  EXPECT_THAT(all->body, HasSubstr("id=\"status\""));
  for (const auto& [key, subscribed] : Preferences(subject)) EXPECT_FALSE(subscribed) << key;
}

// Cross-site form posts are refused: no csrf field, a csrf of another link, a foreign
// Origin, Sec-Fetch-Site: cross-site. Nothing changes.
TEST_F(RecipientPagesTest, PreferenceFormRefusesCrossSiteRequests) {
  StartServer();
  std::string subject = MakeSubject();
  std::string token = Sign("k2:" + kHex2, Claims(subject));
  std::string other = Sign("k2:" + kHex2, Claims(subject, "events"));
  auto c = Client();
  std::string csrf = Csrf(c.Get("/p/" + token)->body);
  std::string other_csrf = Csrf(c.Get("/p/" + other)->body);
  ASSERT_NE(csrf, other_csrf);
  std::string before = Snapshot();
  struct Case {
    std::string body;
    httplib::Headers headers;
  };
  std::vector<Case> cases = {
      {"action=unsubscribe_all", {}},
      {"csrf=&action=unsubscribe_all", {}},
      {"csrf=" + other_csrf + "&action=unsubscribe_all", {}},
      {"csrf=" + csrf + "&action=unsubscribe_all", {{"Origin", "https://evil.example"}}},
      {"csrf=" + csrf + "&action=unsubscribe_all", {{"Origin", "null"}}},
      {"csrf=" + csrf + "&action=unsubscribe_all", {{"Sec-Fetch-Site", "cross-site"}}},
  };
  for (const auto& k : cases) {
    auto r = PostForm("/p/" + token, k.body, k.headers);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 403) << k.body;
    // The undo on /u/ is protected the same way.
    std::string undo = k.body;
    undo.replace(undo.find("action=unsubscribe_all"), 22, "action=undo");
    auto u = PostForm("/u/" + token, undo, k.headers);
    ASSERT_TRUE(u);
    EXPECT_EQ(u->status, 403) << k.body;
  }
  EXPECT_EQ(Snapshot(), before);
}

// The undo after unsubscribing records a new preference with source LINK.
TEST_F(RecipientPagesTest, UndoResubscribesTheTopic) {
  StartServer();
  std::string subject = MakeSubject("en");
  std::string token = Sign("k2:" + kHex2, Claims(subject, "events"));
  auto r = PostForm("/u/" + token, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_FALSE(Preferences(subject).at("EMAIL:events"));
  std::string ticket = UndoTicket(r->body);
  ASSERT_FALSE(ticket.empty());
  auto undo = PostForm("/u/" + token, "action=undo&undo=" + ticket, {{"Cookie", UndoCookie(*r)}});
  ASSERT_TRUE(undo);
  EXPECT_EQ(undo->status, 200);
  EXPECT_THAT(undo->body, HasSubstr("id=\"status\""));
  EXPECT_TRUE(Preferences(subject).at("EMAIL:events"));
  bool found = false;
  for (const auto& e : Events(subject)) {
    if (e.type() == "preference.changed" && e.source() == v1::LINK) {
      auto d = nlohmann::json::parse(e.details_json());
      found |= d["topic"] == "events" && d["subscribed"] == true && d["message_id"] == kMessageId;
    }
  }
  EXPECT_TRUE(found);
}

// A token for a bare address (no subject) suppresses the address; its pages are reduced.
TEST_F(RecipientPagesTest, AddressOnlyTokenSuppressesTheAddress) {
  StartServer();
  crypto::SuppressionHasher hasher(crypto::KeyRing::Parse(kSuppressionKeys));
  crypto::LinkClaims c;
  c.address_key = hasher.Current("email", "lonely@example.org").hash;
  c.address_key_id = "it";
  c.topic = "";
  c.channel = 1;
  c.message_id = kMessageId;
  c.issued_at = SystemClock().Now();
  std::string token = Sign("k2:" + kHex2, c);
  auto cl = Client();
  auto page = cl.Get("/p/" + token);
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_THAT(page->body, HasSubstr("id=\"reduced\""));
  EXPECT_THAT(page->body, Not(HasSubstr("preferences-form")));

  auto check = [&] {
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_address("lonely@example.org");
    r.set_channel(v1::EMAIL);
    r.set_topic("product_news");
    v1::CheckEligibilityResponse resp;
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kSchedulerKey);
    EXPECT_TRUE(stub_->CheckEligibility(&ctx, r, &resp).ok());
    return resp.decision();
  };
  EXPECT_NE(check().reason(), v1::ADDRESS_SUPPRESSED);
  auto r = PostForm("/u/" + token, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("id=\"unsubscribed\""));
  EXPECT_THAT(r->body, Not(HasSubstr("preferences-link")));
  EXPECT_EQ(check().reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM suppressions"), "1");
  EXPECT_EQ(db_->Scalar("SELECT key_id FROM suppressions"), "it");  // the key the link names
  EXPECT_EQ(db_->Scalar("SELECT details->>'message_id' FROM events WHERE type = "
                        "'suppression.added'"),
            kMessageId);
  auto again = PostForm("/u/" + token, "List-Unsubscribe=One-Click");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM suppressions"), "1");
}

// Public endpoints: per-client-IP limit with 429 and Retry-After; X-Forwarded-For from an
// untrusted peer does not buy a new bucket; the ops endpoints are not limited.
TEST_F(RecipientPagesTest, RateLimitedWithRetryAfterAndXffIgnoredFromUntrustedPeer) {
  StartServer({"HERALD_HTTP_RATE_LIMIT_PER_MINUTE=6", "HERALD_HTTP_RATE_LIMIT_BURST=3"});
  auto c = Client();
  for (int i = 0; i < 3; ++i) {
    auto r = c.Get("/u/garbage");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 404);
  }
  for (const char* xff : {"", "198.51.100.1", "198.51.100.2, 198.51.100.3"}) {
    httplib::Headers h;
    if (*xff) h.emplace("X-Forwarded-For", xff);
    auto r = c.Get("/p/garbage", h);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429) << xff;
    int retry = std::atoi(r->get_header_value("Retry-After").c_str());
    EXPECT_GE(retry, 1);
    EXPECT_LE(retry, 10);
  }
  auto hook = c.Post("/hooks/anything", "x", "text/plain");
  ASSERT_TRUE(hook);
  EXPECT_EQ(hook->status, 429);
  EXPECT_EQ(testing::HttpGet(server_->ops_port(), "/healthz"), 200);
}

// From a trusted proxy, X-Forwarded-For names the client: each client has its own bucket.
TEST_F(RecipientPagesTest, XffFromTrustedProxySeparatesClients) {
  StartServer({"HERALD_HTTP_RATE_LIMIT_PER_MINUTE=6", "HERALD_HTTP_RATE_LIMIT_BURST=2",
               "HERALD_HTTP_TRUSTED_PROXIES=127.0.0.0/8"});
  auto c = Client();
  for (const char* client : {"198.51.100.1", "198.51.100.2"}) {
    httplib::Headers h = {{"X-Forwarded-For", client}};
    EXPECT_EQ(c.Get("/u/x", h)->status, 404) << client;
    EXPECT_EQ(c.Get("/u/x", h)->status, 404) << client;
    EXPECT_EQ(c.Get("/u/x", h)->status, 429) << client;
  }
}

// Oversized bodies are refused with 413 before any handler runs; nothing changes.
TEST_F(RecipientPagesTest, OversizedBodyRefused413) {
  StartServer();
  std::string subject = MakeSubject();
  std::string token = Sign("k2:" + kHex2, Claims(subject));
  std::string before = Snapshot();
  std::string body = "List-Unsubscribe=One-Click&pad=" + std::string(200 * 1024, 'x');
  auto r = PostForm("/u/" + token, body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(Snapshot(), before);
}

// No input produces a 500 or a crash: garbage paths, methods, content types and bodies.
TEST_F(RecipientPagesTest, GarbageNeverAnswers500) {
  StartServer();
  std::string subject = MakeSubject();
  std::string token = Sign("k2:" + kHex2, Claims(subject));
  std::mt19937 rng(4);
  std::vector<std::string> paths = {"/u/",
                                    "/p/",
                                    "/u//",
                                    "/u/" + token + "/x",
                                    "/p/%",
                                    "/u/%E0%A4",
                                    "/p/..%2F..%2Fetc",
                                    "/static/../x",
                                    "/u/" + std::string(5000, 'z'),
                                    "/hooks/",
                                    "/nope",
                                    "/u/" + token + "?List-Unsubscribe=One-Click"};
  std::vector<std::pair<std::string, std::string>> bodies = {
      {"application/x-www-form-urlencoded", "%%%&&&==="},
      {"multipart/form-data; boundary=x", "--x\r\nbroken"},
      {"multipart/form-data", "no boundary"},
      {"application/json", "{\"List-Unsubscribe\":\"One-Click\"}"},
      {"application/x-www-form-urlencoded", "csrf=%FF%FE&action=save&pref%3A=on"},
      {"application/x-www-form-urlencoded", "action=undo&csrf=AAAA"},
      {"text/plain", ""},
  };
  std::string random(4096, '\0');
  for (auto& ch : random) ch = static_cast<char>(rng());
  bodies.push_back({"application/x-www-form-urlencoded", random});
  bodies.push_back({"multipart/form-data; boundary=--", random});
  auto c = Client();
  int requests = 0;
  for (const auto& p : paths) {
    auto g = c.Get(p);
    ASSERT_TRUE(g) << p;
    EXPECT_LT(g->status, 500) << p;
    EXPECT_FALSE(g->status >= 300 && g->status < 400) << p;
    ++requests;
    for (const auto& [type, body] : bodies) {
      for (const std::string& target : {p, "/p/" + token, "/u/" + token}) {
        auto r = c.Post(target, body, type);
        ASSERT_TRUE(r) << target;
        EXPECT_LT(r->status, 500) << target << " " << type;
        EXPECT_FALSE(r->status >= 300 && r->status < 400) << target;
        ++requests;
      }
    }
  }
  EXPECT_GT(requests, 200);
  EXPECT_EQ(testing::HttpGet(server_->ops_port(), "/healthz"), 200);
  EXPECT_THAT(server_->Log(), Not(HasSubstr("http handler failed")));
}

}  // namespace
}  // namespace herald
