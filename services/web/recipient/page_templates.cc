#include "services/web/recipient/page_templates.h"

#include <map>
#include <stdexcept>

#include "services/web/recipient/embedded_files.h"

namespace herald::web {
namespace {

namespace mst = kainjow::mustache;

// No script at all; styles only from our own stylesheet; forms post only to us; never framed.
constexpr char kCsp[] =
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'";

std::string_view Embedded(const std::string& name) {
  auto bytes = recipient_files::Find(name);
  if (!bytes) throw std::logic_error("recipient page: " + name + " is not embedded");
  return *bytes;
}

// A template file, compiled once. kainjow's render() is not const (it may record an error),
// so each render works on a copy and the shared one stays untouched.
class Template {
 public:
  explicit Template(std::string_view name)
      : name_(name), compiled_(std::string(Embedded("templates/" + name_ + ".mustache"))) {
    if (!compiled_.is_valid()) {
      throw std::logic_error("recipient page template " + name_ + ": " + compiled_.error_message());
    }
    // &#39; for the apostrophe (kainjow writes &apos;): the same escape everywhere.
    compiled_.set_custom_escape([](const std::string& s) { return EscapeHtml(s); });
  }

  std::string Render(const mst::data& data) const {
    mst::mustache copy = compiled_;
    std::string out = copy.render(data);
    if (!copy.is_valid()) {
      throw std::logic_error("recipient page template " + name_ + ": " + copy.error_message());
    }
    return out;
  }

 private:
  std::string name_;
  mst::mustache compiled_;
};

const Template& TemplateNamed(std::string_view name) {
  static const auto* const all = [] {
    auto* m = new std::map<std::string, Template, std::less<>>;
    for (const char* n : {"layout", "unsubscribe", "unsubscribed", "undone", "preferences",
                          "reduced_preferences", "refused", "privacy_confirmation", "capture"}) {
      m->emplace(n, Template(n));
    }
    return m;
  }();
  auto it = all->find(name);
  if (it == all->end()) {
    throw std::logic_error("recipient page template " + std::string(name) + " is not known");
  }
  return it->second;
}

// A partial's tag stands on its own line, which keeps its line break: the partial drops
// its file's last one.
mst::partial Partial(const std::string& name) {
  std::string text(Embedded("templates/" + name + ".mustache"));
  if (!text.empty() && text.back() == '\n') text.pop_back();
  return mst::partial([text] { return text; });
}

}  // namespace

HttpResponse RenderPage(Language lang, int status, const std::string& title, std::string_view name,
                        const PageData& data) {
  PageData page = data;
  page.set("details", Partial("details"));
  PageData shell;
  shell.set("lang", LanguageCode(lang));
  shell.set("title", title);
  shell.set("main", TemplateNamed(name).Render(page));

  HttpResponse r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.body = TemplateNamed("layout").Render(shell);
  r.headers["Content-Security-Policy"] = kCsp;
  r.headers["Cache-Control"] = "no-store";
  r.headers["Referrer-Policy"] = "no-referrer";
  r.headers["X-Content-Type-Options"] = "nosniff";
  r.headers["X-Frame-Options"] = "DENY";
  return r;
}

std::string_view RecipientStylesheet() { return Embedded("assets/recipient.css"); }

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

}  // namespace herald::web
