#include "services/web/recipient/recipient_pages.h"

#include <map>
#include <vector>

#include "common/domain/enums.h"
#include "common/error.h"
#include "common/log/log.h"
#include "services/web/client_ip.h"
#include "services/web/recipient/page_text.h"

namespace herald::web {
namespace {

// The actor recorded on every event these pages cause.
const Caller kCaller{"recipient-link", ""};

// No script at all; styles only from our own stylesheet; forms post only to us; never framed.
constexpr char kCsp[] =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

constexpr char kStylesheet[] = R"css(:root { color-scheme: light; }
body { margin: 0; background: #ffffff; color: #1a1a1a;
  font: 1.0625rem/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
main { max-width: 40rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { font-size: 1.6rem; line-height: 1.25; margin: 0 0 1rem; }
a { color: #0b4f9c; }
fieldset { border: 1px solid #767676; border-radius: 4px; margin: 0 0 1rem; padding: 0.5rem 1rem 0.75rem; }
legend { font-weight: 600; padding: 0 0.25rem; }
.choice { display: flex; align-items: center; gap: 0.5rem; margin: 0.35rem 0; }
.choice input { width: 1.25rem; height: 1.25rem; margin: 0; }
.choice input:disabled + label { color: #595959; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; margin: 0 0 1.25rem; }
dt { font-weight: 600; }
dd { margin: 0; }
button { font: inherit; padding: 0.6rem 1.1rem; border-radius: 4px; border: 2px solid #0b4f9c;
  background: #0b4f9c; color: #ffffff; cursor: pointer; margin: 0 0.5rem 0.5rem 0; }
button.secondary { background: #ffffff; color: #0b4f9c; }
a:focus-visible, button:focus-visible, input:focus-visible {
  outline: 3px solid #b35900; outline-offset: 2px; }
.status { border-left: 4px solid #1e7b34; background: #eef7f0; padding: 0.6rem 0.9rem; }
.note { color: #4a4a4a; font-size: 0.95rem; }
)css";

std::string Sanitize(std::string_view ua) {
  std::string out;
  for (char c : ua.substr(0, 512)) {
    out.push_back(c >= 0x20 && c <= 0x7e ? c : '?');
  }
  return out;
}

const char* ChannelEnumName(int channel) {
  switch (channel) {
    case 1:
      return "EMAIL";
    case 2:
      return "SMS";
    case 3:
      return "CALL";
    default:
      return "";
  }
}

}  // namespace

HttpResponse RecipientHtml(Language lang, int status, const std::string& title,
                           const std::string& main) {
  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = std::string("<!DOCTYPE html>\n<html lang=\"") + LanguageCode(lang) +
           "\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
           "<meta name=\"referrer\" content=\"no-referrer\">\n<title>" +
           EscapeHtml(title) +
           "</title>\n<link rel=\"stylesheet\" href=\"/static/recipient.css\">\n</head>\n"
           "<body>\n<main>\n" +
           main + "</main>\n</body>\n</html>\n";
  r.headers["Content-Security-Policy"] = kCsp;
  r.headers["Cache-Control"] = "no-store";
  r.headers["Referrer-Policy"] = "no-referrer";
  r.headers["X-Content-Type-Options"] = "nosniff";
  r.headers["X-Frame-Options"] = "DENY";
  return r;
}

bool TokenExpired(Timestamp issued_at, Timestamp now, std::chrono::seconds lifetime) {
  return now - issued_at > lifetime;
}

std::string EscapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

RecipientPages::RecipientPages(const crypto::LinkSigner& links, const CsrfGuard& csrf,
                               subscriptions::SubscriptionRegistry& registry,
                               const TopicCatalog& topics, const Clock& clock,
                               RecipientPagesOptions options)
    : links_(links),
      csrf_(csrf),
      registry_(registry),
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
  r.body = kStylesheet;
  r.headers["Cache-Control"] = "public, max-age=86400";
  return r;
}

std::optional<RecipientPages::Link> RecipientPages::Open(const HttpRequest& req) const {
  if (req.path_params.empty()) return std::nullopt;
  const std::string& token = req.path_params[0];
  auto claims = links_.Verify(token);
  if (!claims) return std::nullopt;
  Link link;
  link.token = token;
  link.claims = *claims;
  link.expired = TokenExpired(claims->issued_at, clock_.Now(), options_.token_lifetime);
  const TopicInfo* topic = claims->topic.empty() ? nullptr : topics_.Find(claims->topic);
  link.topic = topic && topic->marketing ? topic->name : std::string();
  return link;
}

Language RecipientPages::LanguageFor(const HttpRequest& req, const Link* link) {
  std::string locale;
  if (link && !link->claims.subject_id.empty()) {
    try {
      v1::GetSubjectRequest g;
      g.set_subject_id(link->claims.subject_id);
      locale = registry_.GetSubject(kCaller, g).subject().locale();
    } catch (const herald::Error&) {
      // A destroyed or unknown subject has no locale: the browser's language decides.
    }
  }
  return NegotiateLanguage(locale, req.Header("Accept-Language"));
}

v1::Proof RecipientPages::ProofFor(const HttpRequest& req, const Link& link) const {
  v1::Proof p;
  p.set_source(v1::LINK);
  p.set_form_id("recipient-link");
  if (ParseIp(req.client_ip)) p.set_ip(req.client_ip);
  p.set_user_agent(Sanitize(req.Header("User-Agent")));
  p.set_message_id(link.claims.message_id);
  return p;
}

std::string RecipientPages::TopicLabel(Language lang, const std::string& topic) const {
  const PageText& t = TextFor(lang);
  if (topic.empty()) return t.all_marketing;
  if (const char* built_in = BuiltInTopicLabel(t, topic)) return built_in;
  const TopicInfo* info = topics_.Find(topic);
  if (info && !info->description.empty()) return info->description;
  return topic;
}

std::string RecipientPages::Details(Language lang, const Link& link) const {
  const PageText& t = TextFor(lang);
  return std::string("<dl>\n<dt>") + t.label_topic + "</dt><dd id=\"topic\">" +
         EscapeHtml(TopicLabel(lang, link.topic)) + "</dd>\n<dt>" + t.label_channel +
         "</dt><dd id=\"channel\">" + ChannelLabel(t, link.claims.channel) + "</dd>\n</dl>\n";
}

HttpResponse RecipientPages::Refused(Language lang, const std::string& title,
                                     const std::string& text, int status) const {
  return RecipientHtml(
      lang, status, title,
      "<h1 id=\"error\">" + EscapeHtml(title) + "</h1>\n<p>" + EscapeHtml(text) + "</p>\n");
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
  const PageText& t = TextFor(lang);
  // E1: nothing is written here; link scanners fetch this page.
  std::string main = std::string("<h1>") + t.confirm_title + "</h1>\n<p>" + t.confirm_question +
                     "</p>\n" + Details(lang, *link) +
                     "<form method=\"post\" id=\"unsubscribe-form\">\n"
                     "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\n"
                     "<button type=\"submit\" id=\"confirm-unsubscribe\">" +
                     t.confirm_button + "</button>\n</form>\n";
  if (link->expired) main += std::string("<p class=\"note\">") + t.expired_note + "</p>\n";
  return RecipientHtml(lang, 200, t.confirm_title, main);
}

HttpResponse RecipientPages::Unsubscribed(Language lang, const Link& link) const {
  const PageText& t = TextFor(lang);
  const bool subject = !link.claims.subject_id.empty();
  std::string main = std::string("<h1 id=\"unsubscribed\">") + t.unsubscribed_title + "</h1>\n<p>" +
                     (subject ? t.unsubscribed_text : t.address_unsubscribed_text) + "</p>\n" +
                     Details(lang, link);
  if (subject && !link.expired) {
    main +=
        "<form method=\"post\" id=\"undo-form\">\n"
        "<input type=\"hidden\" name=\"action\" value=\"undo\">\n"
        "<input type=\"hidden\" name=\"csrf\" value=\"" +
        csrf_.Token(link.token) + "\">\n<button type=\"submit\" class=\"secondary\" id=\"undo\">" +
        t.undo_button + "</button>\n</form>\n<p><a id=\"preferences-link\" href=\"/p/" +
        link.token + "\">" + t.preferences_link + "</a></p>\n";
  } else if (link.expired) {
    main += std::string("<p class=\"note\">") + t.expired_note + "</p>\n";
  }
  return RecipientHtml(lang, 200, t.unsubscribed_title, main);
}

HttpResponse RecipientPages::PostUnsubscribe(const HttpRequest& req) {
  auto link = Open(req);
  if (!link) return Invalid(req);  // E3: nothing changed
  Language lang = LanguageFor(req, &*link);
  const PageText& t = TextFor(lang);
  const std::string action = req.FormValue("action");
  try {
    if (action == "undo") {
      // The undo is a preference change like any other: our own form, so CSRF-checked.
      if (!SameOriginPost(req, public_origin_) ||
          !csrf_.Verify(link->token, req.FormValue("csrf"))) {
        return Refused(lang, t.forbidden_title, t.forbidden_text, 403);
      }
      if (link->claims.subject_id.empty() || link->expired) {
        return Refused(lang, t.forbidden_title, t.forbidden_text, 403);
      }
      v1::SetPreferencesRequest s;
      s.set_subject_id(link->claims.subject_id);
      std::vector<std::string> topics =
          link->topic.empty() ? topics_.MarketingTopicNames() : std::vector{link->topic};
      for (const auto& topic : topics) {
        auto* c = s.add_changes();
        c->set_topic(topic);
        c->set_channel(static_cast<v1::Channel>(link->claims.channel));
        c->set_subscribed(true);
      }
      *s.mutable_proof() = ProofFor(req, *link);
      try {
        registry_.SetPreferences(kCaller, s);
      } catch (const herald::Error& e) {
        if (e.code() != ErrorCode::kFailedPrecondition) throw;
        return Refused(lang, t.unavailable_title, t.no_consent_undo, 409);
      }
      log::Info("link undo", {{"channel", ChannelEnumName(link->claims.channel)}});
      std::string main = std::string("<h1>") + t.preferences_title +
                         "</h1>\n<p id=\"status\" class=\"status\" role=\"status\">" + t.undone +
                         "</p>\n" + Details(lang, *link) +
                         "<p><a id=\"preferences-link\" href=\"/p/" + link->token + "\">" +
                         t.preferences_link + "</a></p>\n";
      return RecipientHtml(lang, 200, t.preferences_title, main);
    }
    // RFC 8058 one-click: no cookie, no CSRF token, no Origin check (mail providers post it
    // from their own servers). The body must say List-Unsubscribe=One-Click.
    if (req.FormValue("List-Unsubscribe") != "One-Click") {
      return Refused(lang, t.bad_request_title, t.bad_request_text, 400);
    }
    v1::Proof proof = ProofFor(req, *link);
    bool changed = false;
    if (!link->claims.subject_id.empty()) {
      v1::OptOutRequest r;
      r.set_subject_id(link->claims.subject_id);
      r.set_scope(link->topic.empty() ? v1::CHANNEL : v1::TOPIC);
      r.set_topic(link->topic);
      r.set_channel(static_cast<v1::Channel>(link->claims.channel));
      *r.mutable_proof() = proof;
      try {
        changed = registry_.OptOut(kCaller, r).changed();
      } catch (const herald::Error& e) {
        // A destroyed or blocked subject gets no marketing at all: the request is honoured.
        if (e.code() != ErrorCode::kNotFound && e.code() != ErrorCode::kFailedPrecondition) {
          throw;
        }
      }
    } else {
      changed =
          registry_
              .OptOutAddressKey(kCaller, link->claims.address_key,
                                static_cast<Channel>(link->claims.channel), link->topic, proof)
              .changed();
    }
    log::Info("link unsubscribe", {{"channel", ChannelEnumName(link->claims.channel)},
                                   {"changed", changed},
                                   {"expired_token", link->expired}});
    return Unsubscribed(lang, *link);
  } catch (const herald::Error& e) {
    return ErrorPage(lang, e);
  }
}

HttpResponse RecipientPages::ReducedPreferences(Language lang, const Link& link, int status) const {
  const PageText& t = TextFor(lang);
  std::string main = std::string("<h1>") + t.preferences_title +
                     "</h1>\n<p class=\"note\" id=\"reduced\">" +
                     (link.claims.subject_id.empty() ? t.address_only_note : t.expired_note) +
                     "</p>\n" + Details(lang, link) +
                     "<form method=\"post\" id=\"unsubscribe-form\" action=\"/u/" + link.token +
                     "\">\n<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\n"
                     "<button type=\"submit\" id=\"confirm-unsubscribe\">" +
                     t.confirm_button + "</button>\n</form>\n";
  if (!options_.policy_url.empty()) {
    main += "<p><a id=\"policy-link\" href=\"" + EscapeHtml(options_.policy_url) + "\">" +
            t.policy_link + "</a></p>\n";
  }
  return RecipientHtml(lang, status, t.preferences_title, main);
}

HttpResponse RecipientPages::PreferencesPage(
    Language lang, const Link& link,
    const google::protobuf::RepeatedPtrField<v1::Preference>& prefs,
    const std::string& status_text) const {
  const PageText& t = TextFor(lang);
  std::string main = std::string("<h1>") + t.preferences_title + "</h1>\n";
  if (!status_text.empty()) {
    main += "<p id=\"status\" class=\"status\" role=\"status\">" + status_text + "</p>\n";
  }
  main += std::string("<p>") + t.preferences_intro + "</p>\n";
  main +=
      "<form method=\"post\" id=\"preferences-form\">\n"
      "<input type=\"hidden\" name=\"csrf\" value=\"" +
      csrf_.Token(link.token) + "\">\n";
  // Topics in the order the registry reports them; one fieldset per topic.
  std::vector<std::string> order;
  std::map<std::string, std::vector<const v1::Preference*>> by_topic;
  std::map<int, bool> consent;
  for (const auto& p : prefs) {
    if (!by_topic.count(p.topic())) order.push_back(p.topic());
    by_topic[p.topic()].push_back(&p);
    consent[p.channel()] = p.channel_consent();
  }
  for (const auto& topic : order) {
    main += "<fieldset>\n<legend>" + EscapeHtml(TopicLabel(lang, topic)) + "</legend>\n";
    for (const v1::Preference* p : by_topic[topic]) {
      const std::string ch = ChannelEnumName(p->channel());
      const std::string name = "pref:" + ch + ":" + topic;
      const std::string id = "pref-" + ch + "-" + topic;
      main += "<div class=\"choice\"><input type=\"checkbox\" id=\"" + EscapeHtml(id) +
              "\" name=\"" + EscapeHtml(name) + "\" value=\"on\"";
      // Without consent a channel sends nothing whatever the toggle says: it is shown off.
      if (p->subscribed() && p->channel_consent()) main += " checked";
      if (!p->channel_consent()) main += " disabled aria-describedby=\"no-consent-" + ch + "\"";
      main += "><label for=\"" + EscapeHtml(id) + "\">" + ChannelLabel(t, p->channel()) +
              "</label></div>\n";
    }
    main += "</fieldset>\n";
  }
  for (const auto& [channel, has_consent] : consent) {
    if (has_consent) continue;
    main += std::string("<p class=\"note\" id=\"no-consent-") + ChannelEnumName(channel) + "\">" +
            ChannelLabel(t, channel) + ": " + t.no_consent + "</p>\n";
  }
  main += std::string(
              "<div class=\"actions\">\n<button type=\"submit\" name=\"action\" value=\"save\" "
              "id=\"save-preferences\">") +
          t.save_button +
          "</button>\n<button type=\"submit\" name=\"action\" value=\"unsubscribe_all\" "
          "class=\"secondary\" id=\"unsubscribe-all\">" +
          t.unsubscribe_all_button + "</button>\n</div>\n</form>\n";
  if (!options_.policy_url.empty()) {
    main += "<p><a id=\"policy-link\" href=\"" + EscapeHtml(options_.policy_url) + "\">" +
            t.policy_link + "</a></p>\n";
  }
  return RecipientHtml(lang, 200, t.preferences_title, main);
}

HttpResponse RecipientPages::GetPreferences(const HttpRequest& req) {
  auto link = Open(req);
  if (!link) return Invalid(req);
  Language lang = LanguageFor(req, &*link);
  if (link->claims.subject_id.empty() || link->expired) {
    return ReducedPreferences(lang, *link, 200);
  }
  try {
    v1::GetPreferencesRequest g;
    g.set_subject_id(link->claims.subject_id);
    auto prefs = registry_.GetPreferences(kCaller, g);
    return PreferencesPage(lang, *link, prefs.preferences(), "");
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
  if (link->claims.subject_id.empty() || link->expired) {
    return ReducedPreferences(lang, *link, 403);
  }
  const std::string action = req.FormValue("action");
  try {
    v1::GetPreferencesRequest g;
    g.set_subject_id(link->claims.subject_id);
    auto current = registry_.GetPreferences(kCaller, g);
    std::string status;
    if (action == "unsubscribe_all") {
      v1::OptOutRequest r;
      r.set_subject_id(link->claims.subject_id);
      r.set_scope(v1::ALL_MARKETING);
      *r.mutable_proof() = ProofFor(req, *link);
      registry_.OptOut(kCaller, r);
      status = t.all_unsubscribed;
      log::Info("link unsubscribe all");
    } else if (action == "save" || action.empty()) {
      // Only channels with consent are editable; the checkbox of each is either sent ("on")
      // or absent (off). Unknown fields are ignored.
      v1::SetPreferencesRequest s;
      s.set_subject_id(link->claims.subject_id);
      for (const auto& p : current.preferences()) {
        if (!p.channel_consent()) continue;
        const std::string name =
            std::string("pref:") + ChannelEnumName(p.channel()) + ":" + p.topic();
        const bool wanted = req.form.count(name) > 0;
        if (wanted == p.subscribed()) continue;
        auto* c = s.add_changes();
        c->set_topic(p.topic());
        c->set_channel(p.channel());
        c->set_subscribed(wanted);
      }
      if (s.changes_size() > 0) {
        *s.mutable_proof() = ProofFor(req, *link);
        registry_.SetPreferences(kCaller, s);
      }
      status = t.saved;
      log::Info("link preferences saved", {{"changes", s.changes_size()}});
    } else {
      return Refused(lang, t.bad_request_title, t.bad_request_text, 400);
    }
    auto after = registry_.GetPreferences(kCaller, g);
    return PreferencesPage(lang, *link, after.preferences(), status);
  } catch (const herald::Error& e) {
    return ErrorPage(lang, e);
  }
}

}  // namespace herald::web
