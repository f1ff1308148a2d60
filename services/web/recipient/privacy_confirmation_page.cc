#include "services/web/recipient/privacy_confirmation_page.h"

#include "common/error.h"
#include "common/log/log.h"
#include "services/web/recipient/language.h"
#include "services/web/recipient/page_templates.h"

namespace herald::web {
namespace {

struct ConfirmText {
  const char* title;
  const char* revoke;   // what confirming a revocation does
  const char* rectify;  // what confirming a rectification does
  const char* button;
  const char* confirmed_title;
  const char* confirmed;
  const char* closed;
  const char* invalid_title;
  const char* invalid;
  const char* forbidden_title;
  const char* forbidden;
  const char* unavailable_title;
  const char* unavailable;
};

const ConfirmText kText[3] = {
    {"Sorğunuzu təsdiq edin",
     "Şəxsi məlumatlarınızın işlənməsinə razılığınızı ləğv etdiyinizi təsdiq edin. Bundan "
     "sonra məlumatlarınızın işlənməsi dayandırılacaq və onlar qanunla müəyyən olunmuş "
     "müddətdə məhv ediləcək.",
     "Şəxsi məlumatlarınızın yenilənməli olduğunu təsdiq edin. Düzəldilənə qədər onlar "
     "işlənməyəcək.",
     "Təsdiq edirəm", "Sorğu təsdiq edildi", "Təşəkkür edirik: sorğunuz təsdiq edildi.",
     "Bu sorğu artıq bağlanıb.", "Link etibarsızdır",
     "Bu link etibarlı deyil və ya vaxtı keçib. Heç nə dəyişmədi.", "Sorğu qəbul edilmədi",
     "Bu formanı yalnız linkin açdığı səhifədən göndərmək olar. Heç nə dəyişmədi.",
     "Hazırda mümkün deyil",
     "Sorğunu indi icra etmək mümkün olmadı. Bir az sonra yenidən cəhd edin."},
    {"Подтвердите запрос",
     "Подтвердите, что вы отзываете согласие на обработку персональных данных. После этого "
     "обработка будет прекращена, а данные уничтожены в установленный законом срок.",
     "Подтвердите, что ваши персональные данные нужно актуализировать. Пока их не исправят, "
     "они не будут обрабатываться.",
     "Подтверждаю", "Запрос подтверждён", "Спасибо: ваш запрос подтверждён.",
     "Этот запрос уже закрыт.", "Ссылка недействительна",
     "Эта ссылка недействительна или устарела. Ничего не изменилось.", "Запрос не принят",
     "Эту форму можно отправить только со страницы, открытой по ссылке. Ничего не изменилось.",
     "Сейчас недоступно", "Не удалось выполнить запрос. Попробуйте немного позже."},
    {"Confirm your request",
     "Confirm that you revoke your consent to the processing of your personal data. We then "
     "stop processing them and destroy them within the legal deadline.",
     "Confirm that your personal data are inaccurate and must be updated. Until they are "
     "corrected, they are not processed.",
     "Confirm", "Request confirmed", "Thank you: your request is confirmed.",
     "This request is already closed.", "This link is not valid",
     "This link is not valid or has expired. Nothing was changed.", "Request refused",
     "This form can only be sent from the page the link opens. Nothing was changed.",
     "Not available right now", "The request could not be carried out. Please try again later."},
};

const ConfirmText& TextOf(Language l) {
  return kText[l == Language::kRu ? 1 : l == Language::kEn ? 2 : 0];
}

// The title is the page's heading; `paragraph_id` names the paragraph for tests and
// assistive technology.
HttpResponse Page(Language lang, int status, const std::string& title,
                  const std::string& paragraph_id, const std::string& paragraph,
                  PageData data = {}) {
  data.set("title", title);
  data.set("paragraph_id", paragraph_id);
  data.set("paragraph", paragraph);
  return RenderPage(lang, status, title, "privacy_confirmation", data);
}

std::string Token(const HttpRequest& req) {
  return req.path_params.empty() ? std::string() : req.path_params[0];
}

}  // namespace

PrivacyConfirmationPage::PrivacyConfirmationPage(privacy::RequestConfirmation& confirmation,
                                                 const CsrfGuard& csrf,
                                                 const std::string& public_base_url)
    : confirmation_(confirmation), csrf_(csrf), public_origin_(OriginOf(public_base_url)) {}

void PrivacyConfirmationPage::AddRoutes(HttpServer& server) {
  server.Get(R"(/c/(.*))", [this](const HttpRequest& r) { return Get(r); });
  server.Post(R"(/c/(.*))", [this](const HttpRequest& r) { return Post(r); });
}

HttpResponse PrivacyConfirmationPage::Get(const HttpRequest& req) {
  const std::string token = Token(req);
  std::optional<privacy::RequestConfirmation::View> view;
  try {
    view = confirmation_.Look(token);
  } catch (const herald::Error&) {
    Language lang = NegotiateLanguage("", req.Header("Accept-Language"));
    HttpResponse r =
        Page(lang, 503, TextOf(lang).unavailable_title, "error", TextOf(lang).unavailable);
    r.headers["Retry-After"] = "30";
    return r;
  }
  if (!view) {
    Language lang = NegotiateLanguage("", req.Header("Accept-Language"));
    return Page(lang, 404, TextOf(lang).invalid_title, "error", TextOf(lang).invalid);
  }
  Language lang = NegotiateLanguage(view->locale, req.Header("Accept-Language"));
  const ConfirmText& t = TextOf(lang);
  if (!view->open) return Page(lang, 200, t.title, "closed", t.closed);
  if (!view->pending) return Page(lang, 200, t.confirmed_title, "confirmed", t.confirmed);
  // Nothing is written here: scanners fetch links.
  PageData form;
  form.set("csrf", csrf_.Token(token));
  form.set("button", t.button);
  return Page(lang, 200, t.title, "what",
              view->kind == privacy::RequestKind::kRevoke ? t.revoke : t.rectify, form);
}

HttpResponse PrivacyConfirmationPage::Post(const HttpRequest& req) {
  const std::string token = Token(req);
  Language lang = NegotiateLanguage("", req.Header("Accept-Language"));
  try {
    auto view = confirmation_.Look(token);
    if (!view) {
      return Page(lang, 404, TextOf(lang).invalid_title, "error", TextOf(lang).invalid);
    }
    lang = NegotiateLanguage(view->locale, req.Header("Accept-Language"));
    const ConfirmText& t = TextOf(lang);
    if (!SameOriginPost(req, public_origin_) || !csrf_.Verify(token, req.FormValue("csrf"))) {
      return Page(lang, 403, t.forbidden_title, "error", t.forbidden);
    }
    if (!view->open) return Page(lang, 409, t.title, "closed", t.closed);
    confirmation_.Confirm(token);
    return Page(lang, 200, t.confirmed_title, "confirmed", t.confirmed);
  } catch (const herald::Error& e) {
    const ConfirmText& t = TextOf(lang);
    // Domain messages name fields, never values.
    log::Info("confirmation page refused",
              {{"code", static_cast<int>(e.code())}, {"error", e.what()}});
    if (e.code() == ErrorCode::kNotFound) {
      return Page(lang, 404, t.invalid_title, "error", t.invalid);
    }
    if (e.code() == ErrorCode::kFailedPrecondition) {
      return Page(lang, 409, t.title, "closed", t.closed);
    }
    HttpResponse r = Page(lang, 503, t.unavailable_title, "error", t.unavailable);
    r.headers["Retry-After"] = "30";
    return r;
  }
}

}  // namespace herald::web
