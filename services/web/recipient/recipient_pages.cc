#include "services/web/recipient/recipient_pages.h"

#include <openssl/rand.h>
#include <strings.h>

#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "common/crypto/link_token.h"
#include "common/domain/enums.h"
#include "common/error.h"
#include "common/log/log.h"
#include "services/web/client_ip.h"
#include "services/web/recipient/page_templates.h"
#include "services/web/recipient/page_text.h"

namespace herald::web {
namespace {

using subscriptions::PreferenceAction;
using subscriptions::PreferenceKey;
using subscriptions::UndoOutcome;

constexpr char kPreferenceFieldPrefix[] = "pref:";

// The texts the templates read as {{t.name}}.
PageData TextData(const PageText& t) {
  PageData d;
  d.set("confirm_title", t.confirm_title);
  d.set("confirm_question", t.confirm_question);
  d.set("label_topic", t.label_topic);
  d.set("label_channel", t.label_channel);
  d.set("confirm_button", t.confirm_button);
  d.set("unsubscribed_title", t.unsubscribed_title);
  d.set("unsubscribed_text", t.unsubscribed_text);
  d.set("address_unsubscribed_text", t.address_unsubscribed_text);
  d.set("undo_button", t.undo_button);
  d.set("undone", t.undone);
  d.set("preferences_link", t.preferences_link);
  d.set("preferences_title", t.preferences_title);
  d.set("preferences_intro", t.preferences_intro);
  d.set("no_consent", t.no_consent);
  d.set("save_button", t.save_button);
  d.set("unsubscribe_all_button", t.unsubscribe_all_button);
  d.set("policy_link", t.policy_link);
  d.set("expired_note", t.expired_note);
  d.set("address_only_note", t.address_only_note);
  return d;
}

const char* ChannelFieldName(int channel) {
  auto c = ChannelFromNumber(channel);
  return c ? ChannelName(*c) : "";
}

// The checkbox field of one toggle: "pref:EMAIL:product_news".
std::string PreferenceField(int channel, const std::string& topic) {
  return kPreferenceFieldPrefix + std::string(ChannelFieldName(channel)) + ":" + topic;
}

// The toggles the preference form sends as on: a checkbox is sent ("on") or absent (off).
// Fields that name no channel are ignored; the domain ignores unknown topics.
std::set<PreferenceKey> WantedPreferences(const HttpRequest& req) {
  std::set<PreferenceKey> wanted;
  for (const auto& [name, value] : req.form) {
    std::string_view rest(name);
    if (!rest.starts_with(kPreferenceFieldPrefix)) continue;
    rest.remove_prefix(sizeof(kPreferenceFieldPrefix) - 1);
    const size_t colon = rest.find(':');
    if (colon == std::string_view::npos) continue;
    for (Channel c : kAllChannels) {
      if (rest.substr(0, colon) == ChannelName(c)) {
        wanted.emplace(c, std::string(rest.substr(colon + 1)));
      }
    }
  }
  return wanted;
}

// What every page about one link shows: the texts, the topic and the channel it acts on.
PageData LinkData(Language lang, const std::string& topic_label, int channel) {
  const PageText& t = TextFor(lang);
  PageData d;
  d.set("t", TextData(t));
  d.set("topic_label", topic_label);
  d.set("channel_label", ChannelLabel(t, channel));
  return d;
}

// A cookie's value from the request's Cookie headers; "" when absent.
std::string CookieValue(const HttpRequest& req, std::string_view name) {
  for (const auto& [header, value] : req.headers) {
    if (strcasecmp(header.c_str(), "Cookie") != 0) continue;
    std::string_view rest = value;
    while (!rest.empty()) {
      size_t semi = rest.find(';');
      std::string_view pair = rest.substr(0, semi);
      rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      size_t eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
        return std::string(pair.substr(eq + 1));
      }
    }
  }
  return "";
}

// A new undo session id: 128 random bits, base64url.
std::string NewUndoSession() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes");
  return crypto::Base64UrlEncode(std::string(reinterpret_cast<char*>(bytes), sizeof bytes));
}

subscriptions::LinkVisitor VisitorOf(const HttpRequest& req) {
  return {ParseIp(req.client_ip) ? req.client_ip : std::string(), req.Header("User-Agent")};
}

}  // namespace

RecipientPages::RecipientPages(subscriptions::RecipientLinks& links, const CsrfGuard& csrf,
                               const TopicCatalog& topics, const Clock& clock,
                               RecipientPagesOptions options)
    : links_(links),
      csrf_(csrf),
      topics_(topics),
      clock_(clock),
      options_(std::move(options)),
      public_origin_(OriginOf(options_.public_base_url)) {}

void RecipientPages::AddRoutes(HttpServer& server) {
  // Any path under /u/ and /p/ reaches a handler, so a garbage token gets the same localised
  // 404 page as a forged one.
  server.Get(R"(/u/(.*))", [this](const HttpRequest& r) { return GetUnsubscribe(r); });
  server.Post(R"(/u/(.*))", [this](const HttpRequest& r) { return PostUnsubscribe(r); });
  server.Get(R"(/p/(.*))", [this](const HttpRequest& r) { return GetPreferences(r); });
  server.Post(R"(/p/(.*))", [this](const HttpRequest& r) { return PostPreferences(r); });
  server.Get("/static/recipient.css", [](const HttpRequest&) { return Stylesheet(); });
}

HttpResponse RecipientPages::Stylesheet() {
  HttpResponse r;
  r.content_type = "text/css; charset=utf-8";
  r.body = std::string(RecipientStylesheet());
  r.headers["Cache-Control"] = "public, max-age=86400";
  return r;
}

std::optional<RecipientPages::Link> RecipientPages::Open(const HttpRequest& req) const {
  if (req.path_params.empty()) return std::nullopt;
  return links_.Open(req.path_params[0]);
}

Language RecipientPages::LanguageFor(const HttpRequest& req, const Link* link) {
  return NegotiateLanguage(link ? links_.SubjectLocale(*link) : std::string(),
                           req.Header("Accept-Language"));
}

std::string RecipientPages::TopicLabel(Language lang, const std::string& topic) const {
  if (topic.empty()) return TextFor(lang).all_marketing;
  return web::TopicLabel(lang, topics_, topic);
}

HttpResponse RecipientPages::Refused(Language lang, const std::string& title,
                                     const std::string& text, int status) const {
  PageData d;
  d.set("title", title);
  d.set("text", text);
  return RenderPage(lang, status, title, "refused", d);
}

HttpResponse RecipientPages::Invalid(const HttpRequest& req) {
  Language lang = LanguageFor(req, nullptr);
  const PageText& t = TextFor(lang);
  return Refused(lang, t.invalid_title, t.invalid_text, 404);
}

HttpResponse RecipientPages::ErrorPage(Language lang, const herald::Error& e) const {
  const PageText& t = TextFor(lang);
  // Domain messages name fields, never values: safe to log.
  log::Info("recipient page refused", {{"code", static_cast<int>(e.code())}, {"error", e.what()}});
  switch (e.code()) {
    case ErrorCode::kInvalidArgument:
      return Refused(lang, t.bad_request_title, t.bad_request_text, 400);
    case ErrorCode::kNotFound:
      return Refused(lang, t.unavailable_title, t.unavailable_text, 404);
    case ErrorCode::kFailedPrecondition:
      return Refused(lang, t.unavailable_title, t.unavailable_text, 409);
    default:
      break;
  }
  // The database is away or overloaded: the same generic page as the server's exception
  // handler, in the recipient's language.
  log::Warn("recipient page unavailable", {{"code", static_cast<int>(e.code())}});
  HttpResponse r = Refused(lang, t.unavailable_title, t.unavailable_text, 503);
  r.headers["Retry-After"] = "30";
  return r;
}

HttpResponse RecipientPages::GetUnsubscribe(const HttpRequest& req) {
  auto link = Open(req);
  if (!link) return Invalid(req);
  Language lang = LanguageFor(req, &*link);
  // E1: nothing is written here; link scanners fetch this page.
  PageData d = LinkData(lang, TopicLabel(lang, link->topic), link->claims.channel);
  if (link->expired) d.set("expired", true);
  return RenderPage(lang, 200, TextFor(lang).confirm_title, "unsubscribe", d);
}

HttpResponse RecipientPages::Unsubscribed(Language lang, const Link& link,
                                          const std::vector<std::string>& turned_off) const {
  PageData d = LinkData(lang, TopicLabel(lang, link.topic), link.claims.channel);
  if (link.for_subject()) d.set("subject", true);
  if (link.manages_preferences()) {
    d.set("manages_preferences", true);
    d.set("token", link.token);
  }
  if (link.expired) d.set("expired", true);
  // E8: only this page, which has just unsubscribed, may undo, and only the topics it turned
  // off (a repeat that changed nothing, or a topic refused earlier, would otherwise
  // re-subscribe someone who said no); the ticket is bound to a session cookie of this
  // browser and lasts 15 minutes.
  std::string session;
  if (!turned_off.empty() && link.for_subject()) {
    session = NewUndoSession();
    d.set("can_undo", true);
    d.set("undo", csrf_.UndoTicket(link.token, session, ToUnixMicros(clock_.Now()), turned_off));
  }
  HttpResponse r = RenderPage(lang, 200, TextFor(lang).unsubscribed_title, "unsubscribed", d);
  if (!session.empty()) {
    r.headers["Set-Cookie"] = std::string(kUndoCookie) + "=" + session + "; Path=/u/; Max-Age=" +
                              std::to_string(CsrfGuard::kUndoWindowSeconds) +
                              "; HttpOnly; SameSite=Strict" +
                              (options_.public_base_url.starts_with("https://") ? "; Secure" : "");
  }
  return r;
}

HttpResponse RecipientPages::Undo(const HttpRequest& req, Language lang, const Link& link) {
  const PageText& t = TextFor(lang);
  // Our own form: same origin, and the ticket of the page that unsubscribed, in the browser
  // that holds its session, within the window. Anything else changes nothing.
  if (!SameOriginPost(req, public_origin_)) {
    return Refused(lang, t.forbidden_title, t.forbidden_text, 403);
  }
  auto grant = csrf_.VerifyUndoTicket(link.token, CookieValue(req, kUndoCookie),
                                      req.FormValue("undo"), ToUnixMicros(clock_.Now()));
  if (!grant) return Refused(lang, t.forbidden_title, t.undo_unavailable, 403);
  switch (links_.Undo(link, VisitorOf(req), grant->topics, FromUnixMicros(grant->issued_micros))) {
    case UndoOutcome::kNotAllowed:
    case UndoOutcome::kChangedSince:
      return Refused(lang, t.forbidden_title, t.undo_unavailable, 403);
    case UndoOutcome::kNoConsent:
      return Refused(lang, t.unavailable_title, t.no_consent_undo, 409);
    case UndoOutcome::kUndone:
      break;
  }
  PageData d = LinkData(lang, TopicLabel(lang, link.topic), link.claims.channel);
  if (link.manages_preferences()) {
    d.set("manages_preferences", true);
    d.set("token", link.token);
  }
  HttpResponse r = RenderPage(lang, 200, t.preferences_title, "undone", d);
  // One undo per unsubscribe: the session ends here.
  r.headers["Set-Cookie"] = std::string(kUndoCookie) + "=; Path=/u/; Max-Age=0; HttpOnly";
  return r;
}

HttpResponse RecipientPages::PostUnsubscribe(const HttpRequest& req) {
  auto link = Open(req);
  if (!link) return Invalid(req);  // E3: nothing changed
  Language lang = LanguageFor(req, &*link);
  const PageText& t = TextFor(lang);
  try {
    if (req.FormValue("action") == "undo") return Undo(req, lang, *link);
    // RFC 8058 one-click: no cookie, no CSRF token, no Origin check (mail providers post it
    // from their own servers). The body must say List-Unsubscribe=One-Click.
    if (req.FormValue("List-Unsubscribe") != "One-Click") {
      return Refused(lang, t.bad_request_title, t.bad_request_text, 400);
    }
    const std::vector<std::string> on = links_.SubscribedTopics(*link);
    const bool changed = links_.Unsubscribe(*link, VisitorOf(req));
    return Unsubscribed(lang, *link, changed ? on : std::vector<std::string>());
  } catch (const herald::Error& e) {
    return ErrorPage(lang, e);
  }
}

HttpResponse RecipientPages::ReducedPreferences(Language lang, const Link& link, int status) const {
  PageData d = LinkData(lang, TopicLabel(lang, link.topic), link.claims.channel);
  if (!link.for_subject()) d.set("address_only", true);
  d.set("token", link.token);
  if (!options_.policy_url.empty()) d.set("policy_url", options_.policy_url);
  return RenderPage(lang, status, TextFor(lang).preferences_title, "reduced_preferences", d);
}

HttpResponse RecipientPages::PreferencesPage(
    Language lang, const Link& link,
    const google::protobuf::RepeatedPtrField<v1::Preference>& prefs,
    const std::string& status_text) const {
  const PageText& t = TextFor(lang);
  // Topics in the order the registry reports them; one fieldset per topic.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const v1::Preference*>> by_topic;
  std::map<int, bool> consent;
  for (const auto& p : prefs) {
    if (!by_topic.count(p.topic())) order.push_back(p.topic());
    by_topic[p.topic()].push_back(&p);
    consent[p.channel()] = p.channel_consent();
  }
  PageData topics{PageData::type::list};
  for (const auto& topic : order) {
    PageData choices{PageData::type::list};
    for (const v1::Preference* p : by_topic[topic]) {
      const std::string ch = ChannelFieldName(p->channel());
      PageData choice;
      choice.set("id", "pref-" + ch + "-" + topic);
      choice.set("name", PreferenceField(p->channel(), topic));
      choice.set("channel", ch);
      choice.set("label", ChannelLabel(t, p->channel()));
      // Without consent a channel sends nothing whatever the toggle says: it is shown off.
      choice.set("checked", p->subscribed() && p->channel_consent());
      choice.set("consent", p->channel_consent());
      choices.push_back(choice);
    }
    PageData entry;
    entry.set("label", TopicLabel(lang, topic));
    std::string description = TopicDescription(lang, topics_, topic);
    if (!description.empty()) entry.set("description", description);
    entry.set("choices", choices);
    topics.push_back(entry);
  }
  PageData no_consent{PageData::type::list};
  for (const auto& [channel, has_consent] : consent) {
    if (has_consent) continue;
    PageData entry;
    entry.set("channel", ChannelFieldName(channel));
    entry.set("label", ChannelLabel(t, channel));
    no_consent.push_back(entry);
  }
  PageData d;
  d.set("t", TextData(t));
  if (!status_text.empty()) d.set("status", status_text);
  d.set("csrf", csrf_.Token(link.token));
  d.set("topics", topics);
  d.set("no_consent", no_consent);
  if (!options_.policy_url.empty()) d.set("policy_url", options_.policy_url);
  return RenderPage(lang, 200, t.preferences_title, "preferences", d);
}

HttpResponse RecipientPages::GetPreferences(const HttpRequest& req) {
  auto link = Open(req);
  if (!link) return Invalid(req);
  Language lang = LanguageFor(req, &*link);
  if (!link->manages_preferences()) return ReducedPreferences(lang, *link, 200);
  try {
    return PreferencesPage(lang, *link, links_.Preferences(*link).preferences(), "");
  } catch (const herald::Error& e) {
    return ErrorPage(lang, e);
  }
}

HttpResponse RecipientPages::PostPreferences(const HttpRequest& req) {
  auto link = Open(req);
  if (!link) return Invalid(req);  // E3
  Language lang = LanguageFor(req, &*link);
  const PageText& t = TextFor(lang);
  if (!SameOriginPost(req, public_origin_) || !csrf_.Verify(link->token, req.FormValue("csrf"))) {
    return Refused(lang, t.forbidden_title, t.forbidden_text, 403);
  }
  if (!link->manages_preferences()) return ReducedPreferences(lang, *link, 403);
  const std::string action = req.FormValue("action");
  PreferenceAction what;
  const char* status;
  if (action == "unsubscribe_all") {
    what = PreferenceAction::kUnsubscribeAll;
    status = t.all_unsubscribed;
  } else if (action == "save" || action.empty()) {
    what = PreferenceAction::kSave;
    status = t.saved;
  } else {
    return Refused(lang, t.bad_request_title, t.bad_request_text, 400);
  }
  try {
    auto outcome = links_.ChangePreferences(*link, what, WantedPreferences(req), VisitorOf(req));
    return PreferencesPage(lang, *link, outcome.preferences.preferences(), status);
  } catch (const herald::Error& e) {
    return ErrorPage(lang, e);
  }
}

}  // namespace herald::web
