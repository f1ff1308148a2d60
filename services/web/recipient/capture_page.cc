#include "services/web/recipient/capture_page.h"

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log/log.h"
#include "common/proto_time.h"
#include "common/translations.h"
#include "services/web/client_ip.h"
#include "services/web/recipient/language.h"
#include "services/web/recipient/page_templates.h"
#include "services/web/recipient/page_text.h"

namespace herald::web {
namespace {

struct CaptureText {
  const char* form_title;
  const char* given_name;
  const char* surname;
  const char* patronymic;
  const char* email;
  const char* phone;
  const char* topics;
  const char* processing;
  const char* marketing;
  const char* document;
  const char* submit;
  const char* sent_title;
  const char* sent;
  const char* bad_title;
  const char* bad_email;
  const char* bad_phone;
  const char* bad_given_name;
  const char* bad_names;
  const char* bad_processing;
  const char* bad_marketing;
  const char* bad_topics;
  const char* bad_other;
  const char* no_form_title;
  const char* no_form;
  const char* forbidden_title;
  const char* forbidden;
  const char* confirm_title;
  const char* confirm;
  const char* button;
  const char* confirmed_title;
  const char* confirmed;
  const char* invalid_title;
  const char* invalid;
  const char* unavailable_title;
  const char* unavailable;
  const char* code_sent;
  const char* code_label;
  const char* code_button;
  const char* wrong_code;
  const char* too_many;
};

const CaptureText kText[3] = {
    {"Xəbərlərimizə abunə olun",
     "Ad",
     "Soyad",
     "Ata adı",
     "E-poçt",
     "Telefon",
     "Mövzular",
     "Şəxsi məlumatlarımın işlənməsinə razıyam",
     "Marketinq məktubları almağa razıyam",
     "sənəd",
     "Göndər",
     "Poçtunuzu yoxlayın",
     "Ünvan düzgündürsə, ona təsdiq linki olan məktub göndərdik. Razılıq yalnız təsdiqdən sonra "
     "qüvvəyə minir.",
     "Formada səhv var",
     "E-poçt ünvanı düzgün deyil.",
     "Telefon nömrəsi düzgün deyil.",
     "Adınızı yazın.",
     "Soyad və ya ata adı çox uzundur və ya yolverilməz simvollar var.",
     "Şəxsi məlumatların işlənməsinə razılıq mütləqdir.",
     "Mövzuları seçmək üçün marketinq məktublarına razılığı qeyd edin.",
     "Bu forma belə mövzu təklif etmir.",
     "Formanı yoxlayın.",
     "Forma tapılmadı",
     "Belə forma yoxdur.",
     "Forma qəbul edilmədi",
     "Bu formanı yalnız saytımızın səhifəsindən göndərmək olar. Heç nə dəyişmədi.",
     "Ünvanınızı təsdiq edin",
     "Razılığınızı təsdiq etmək üçün düyməni basın.",
     "Təsdiq edirəm",
     "Təsdiq edildi",
     "Təşəkkür edirik: razılığınız qeydə alındı.",
     "Link etibarsızdır",
     "Bu link etibarlı deyil və ya vaxtı keçib. Heç nə dəyişmədi.",
     "Hazırda mümkün deyil",
     "Sorğunu indi icra etmək mümkün olmadı. Bir az sonra yenidən cəhd edin.",
     "Nömrə düzgündürsə, ona SMS ilə təsdiq kodu göndərdik. Kodu buraya yazın.",
     "SMS kodu",
     "Kodu təsdiq edin",
     "Kod düzgün deyil. Yenidən cəhd edin.",
     "Çox səhv cəhd oldu: bu sorğu bağlandı. Heç nə dəyişmədi."},
    {"Подписка на новости",
     "Имя",
     "Фамилия",
     "Отчество",
     "Электронная почта",
     "Телефон",
     "Темы",
     "Я согласен(на) на обработку моих персональных данных",
     "Я согласен(на) получать рекламные письма",
     "документ",
     "Отправить",
     "Проверьте почту",
     "Если адрес указан верно, мы отправили на него письмо со ссылкой для подтверждения. "
     "Согласие вступит в силу только после подтверждения.",
     "В форме ошибка",
     "Адрес электронной почты указан неверно.",
     "Номер телефона указан неверно.",
     "Укажите имя.",
     "Фамилия или отчество слишком длинные или содержат недопустимые символы.",
     "Согласие на обработку персональных данных обязательно.",
     "Чтобы выбрать темы, отметьте согласие на рекламные письма.",
     "Эта форма не предлагает такую тему.",
     "Проверьте форму.",
     "Форма не найдена",
     "Такой формы нет.",
     "Форма не принята",
     "Эту форму можно отправить только со страницы нашего сайта. Ничего не изменилось.",
     "Подтвердите адрес",
     "Нажмите кнопку, чтобы подтвердить согласие.",
     "Подтверждаю",
     "Адрес подтверждён",
     "Спасибо: ваше согласие записано.",
     "Ссылка недействительна",
     "Эта ссылка недействительна или устарела. Ничего не изменилось.",
     "Сейчас недоступно",
     "Не удалось выполнить запрос. Попробуйте немного позже.",
     "Если номер указан верно, мы отправили на него код подтверждения в SMS. Введите его здесь.",
     "Код из SMS",
     "Подтвердить код",
     "Код неверный. Попробуйте ещё раз.",
     "Слишком много неверных попыток: запрос закрыт. Ничего не изменилось."},
    {"Subscribe to our news",
     "Given name",
     "Surname",
     "Patronymic",
     "E-mail",
     "Phone",
     "Topics",
     "I consent to the processing of my personal data",
     "I agree to receive marketing e-mails",
     "document",
     "Send",
     "Check your inbox",
     "If the address is right, we have sent it a message with a confirmation link. Your consent "
     "counts only once you confirm.",
     "The form has an error",
     "The e-mail address is not valid.",
     "The phone number is not valid.",
     "Please give your name.",
     "The surname or patronymic is too long or has characters that are not allowed.",
     "The consent to the processing of personal data is required.",
     "To choose topics, tick the consent to marketing e-mails.",
     "This form does not offer that topic.",
     "Please check the form.",
     "Form not found",
     "There is no such form.",
     "Form refused",
     "This form can only be sent from a page of our site. Nothing was changed.",
     "Confirm your address",
     "Press the button to confirm your consent.",
     "Confirm",
     "Address confirmed",
     "Thank you: your consent is recorded.",
     "This link is not valid",
     "This link is not valid or has expired. Nothing was changed.",
     "Not available right now",
     "The request could not be carried out. Please try again later.",
     "If the number is right, we have sent it a confirmation code by SMS. Enter it here.",
     "Code from the SMS",
     "Confirm the code",
     "The code is not right. Please try again.",
     "Too many wrong codes: this request is closed. Nothing was changed."},
};

const CaptureText& TextOf(Language l) {
  return kText[l == Language::kRu ? 1 : l == Language::kEn ? 2 : 0];
}

std::optional<Language> ParseLanguage(const std::string& code) {
  if (code == "az") return Language::kAz;
  if (code == "ru") return Language::kRu;
  if (code == "en") return Language::kEn;
  return std::nullopt;
}

std::string Param(const HttpRequest& req, size_t i) {
  return i < req.path_params.size() ? req.path_params[i] : std::string();
}

HttpResponse Page(Language lang, int status, const std::string& title,
                  const std::string& paragraph_id, const std::string& paragraph,
                  PageData data = PageData()) {
  data.set("title", title);
  data.set("paragraph_id", paragraph_id);
  if (!paragraph.empty()) data.set("paragraph", paragraph);
  return RenderPage(lang, status, title, "capture", data);
}

// A page with the SMS code form under its paragraph.
HttpResponse CodePage(Language lang, int status, const std::string& title,
                      const std::string& paragraph_id, const std::string& paragraph,
                      const std::string& token, const std::string& csrf) {
  const CaptureText& t = TextOf(lang);
  PageData data;
  data.set("code_token", token);
  data.set("code_csrf", csrf);
  data.set("code_lang", LanguageCode(lang));
  data.set("code_label", t.code_label);
  data.set("code_button", t.code_button);
  if (status >= 400) data.set("error", true);
  return Page(lang, status, title, paragraph_id, paragraph, data);
}

// The field a domain error names ("email: not valid" -> "email").
std::string FieldOf(const herald::Error& e) {
  std::string m = e.what();
  auto colon = m.find(':');
  return colon == std::string::npos ? std::string() : m.substr(0, colon);
}

const char* FieldMessage(const CaptureText& t, const std::string& field) {
  if (field == "email") return t.bad_email;
  if (field == "phone") return t.bad_phone;
  if (field == "given_name") return t.bad_given_name;
  if (field == "surname" || field == "patronymic") return t.bad_names;
  if (field == "consent_processing") return t.bad_processing;
  if (field == "consent_marketing") return t.bad_marketing;
  if (field == "topics") return t.bad_topics;
  return t.bad_other;
}

bool Ticked(const HttpRequest& req, const std::string& name) {
  std::string v = req.FormValue(name);
  return v == "on" || v == "true" || v == "1" || v == "yes";
}

bool WantsJson(const HttpRequest& req) {
  return req.Header("Accept").find("application/json") != std::string::npos;
}

constexpr int64_t kHour = 3600;

}  // namespace

CapturePage::CapturePage(capture::CaptureService& capture, const CsrfGuard& csrf,
                         const Clock& clock, const std::string& public_base_url)
    : capture_(capture), csrf_(csrf), clock_(clock), public_origin_(OriginOf(public_base_url)) {
  RequireCompleteTranslations(kText, "capture page texts");
}

void CapturePage::AddRoutes(HttpServer& server) {
  server.Get(R"(/f/([A-Za-z0-9_-]{1,64})(?:/(az|ru|en))?)",
             [this](const HttpRequest& r) { return Form(r); });
  server.Post(R"(/f/([A-Za-z0-9_-]{1,64}))", [this](const HttpRequest& r) { return Submit(r); });
  server.Get(R"(/fc/([A-Za-z0-9_-]{1,256}))", [this](const HttpRequest& r) { return Link(r); });
  server.Post(R"(/fc/([A-Za-z0-9_-]{1,256}))", [this](const HttpRequest& r) { return Confirm(r); });
  server.Post("/fcode", [this](const HttpRequest& r) { return Code(r); });
}

// The hosted form's csrf value: bound to the form and the hour it was served, so a page
// stays usable for one to two hours and a value copied elsewhere stops working.
std::string CapturePage::FormCsrf(const std::string& form_id, int64_t hour) const {
  return csrf_.Token("capture-form:" + form_id + ":" + std::to_string(hour));
}

bool CapturePage::FormCsrfValid(const std::string& form_id, const std::string& csrf) const {
  int64_t hour = ToUnixMicros(clock_.Now()) / 1000000 / kHour;
  for (int64_t h : {hour, hour - 1}) {
    if (csrf_.Verify("capture-form:" + form_id + ":" + std::to_string(h), csrf)) return true;
  }
  return false;
}

HttpResponse CapturePage::Form(const HttpRequest& req) {
  const std::string form_id = Param(req, 0);
  Language lang =
      ParseLanguage(Param(req, 1)).value_or(NegotiateLanguage("", req.Header("Accept-Language")));
  const CaptureText& t = TextOf(lang);
  const capture::CaptureForm* form = capture_.settings().Find(form_id);
  if (!form) return Page(lang, 404, t.no_form_title, "error", t.no_form);
  PageData data;
  PageData text;
  text.set("given_name", t.given_name);
  text.set("surname", t.surname);
  text.set("patronymic", t.patronymic);
  text.set("email", t.email);
  text.set("phone", t.phone);
  text.set("topics", t.topics);
  text.set("processing", t.processing);
  text.set("marketing", t.marketing);
  text.set("document", t.document);
  text.set("submit", t.submit);
  data.set("t", text);
  data.set("form", true);
  data.set("action", "/f/" + form->id);
  data.set("lang", LanguageCode(lang));
  data.set("csrf", FormCsrf(form->id, ToUnixMicros(clock_.Now()) / 1000000 / kHour));
  data.set("processing_document", form->processing_document);
  data.set("marketing_document", form->marketing_document);
  PageData topics{PageData::type::list};
  for (const auto& name : form->topics) {
    PageData topic;
    topic.set("name", name);
    topic.set("label", TopicLabel(lang, capture_.topics(), name));
    topics.push_back(topic);
  }
  data.set("topics", topics);
  return Page(lang, 200, t.form_title, "intro", "", data);
}

HttpResponse CapturePage::Submit(const HttpRequest& req) {
  const std::string form_id = Param(req, 0);
  Language lang = ParseLanguage(req.FormValue("lang"))
                      .value_or(NegotiateLanguage("", req.Header("Accept-Language")));
  const CaptureText& t = TextOf(lang);
  const bool json = WantsJson(req);
  const capture::CaptureForm* form = capture_.settings().Find(form_id);
  if (!form) {
    return json ? JsonResponse(404, {{"error", {{"field", "form"}, {"message", t.no_form}}}})
                : Page(lang, 404, t.no_form_title, "error", t.no_form);
  }
  // The operator's own pages post from an origin the form lists; the hosted page posts from
  // ours with its csrf field.
  const std::string origin = req.Header("Origin");
  bool listed = !origin.empty() && std::find(form->origins.begin(), form->origins.end(), origin) !=
                                       form->origins.end();
  bool hosted =
      SameOriginPost(req, public_origin_) && FormCsrfValid(form->id, req.FormValue("csrf"));
  if (!listed && !hosted) {
    log::Info("capture form refused", {{"form", form->id}, {"why", "origin or csrf"}});
    return json ? JsonResponse(403, {{"error", {{"field", "csrf"}, {"message", t.forbidden}}}})
                : Page(lang, 403, t.forbidden_title, "error", t.forbidden);
  }
  HttpResponse sent = json ? JsonResponse(200, {{"status", "received"}, {"message", t.sent}})
                           : Page(lang, 200, t.sent_title, "sent", t.sent);
  if (listed) sent.headers["Access-Control-Allow-Origin"] = origin;
  if (!req.FormValue("website").empty()) {
    // A bot filled the field people never see: the same answer, nothing recorded.
    log::Info("capture honeypot filled", {{"form", form->id}});
    return sent;
  }
  capture::Submission s;
  s.form_id = form->id;
  s.language = LanguageCode(lang);
  s.email = req.FormValue("email");
  s.phone = req.FormValue("phone");
  s.given_name = req.FormValue("given_name");
  s.surname = req.FormValue("surname");
  s.patronymic = req.FormValue("patronymic");
  auto range = req.form.equal_range("topic");
  for (auto it = range.first; it != range.second; ++it) s.topics.push_back(it->second);
  s.processing = Ticked(req, "consent_processing");
  s.marketing = Ticked(req, "consent_marketing");
  s.ip = ParseIp(req.client_ip) ? req.client_ip : std::string();
  s.user_agent = req.Header("User-Agent").substr(0, 512);
  try {
    auto submitted = capture_.Submit(s);
    if (submitted.code_token.empty()) return sent;
    // A phone was given: the answer carries the form its code is entered in.
    std::string csrf = csrf_.Token(submitted.code_token);
    if (json) {
      HttpResponse r = JsonResponse(200, {{"status", "received"},
                                          {"message", std::string(t.sent) + " " + t.code_sent},
                                          {"code_token", submitted.code_token},
                                          {"csrf", csrf}});
      if (listed) r.headers["Access-Control-Allow-Origin"] = origin;
      return r;
    }
    return CodePage(lang, 200, t.sent_title, "sent",
                    s.email.empty() ? t.code_sent : std::string(t.sent) + " " + t.code_sent,
                    submitted.code_token, csrf);
  } catch (const herald::Error& e) {
    log::Info("capture form refused", {{"form", form->id}, {"error", e.what()}});
    if (e.code() == ErrorCode::kInvalidArgument) {
      std::string field = FieldOf(e);
      const char* message = FieldMessage(t, field);
      HttpResponse r =
          json ? JsonResponse(400, {{"error", {{"field", field}, {"message", message}}}})
               : Page(lang, 400, t.bad_title, "error-" + field, message, [] {
                   PageData d;
                   d.set("error", true);
                   return d;
                 }());
      if (listed) r.headers["Access-Control-Allow-Origin"] = origin;
      return r;
    }
    HttpResponse r = Page(lang, 503, t.unavailable_title, "error", t.unavailable);
    r.headers["Retry-After"] = "30";
    return r;
  }
}

HttpResponse CapturePage::Link(const HttpRequest& req) {
  const std::string token = Param(req, 0);
  Language lang = NegotiateLanguage("", req.Header("Accept-Language"));
  std::optional<capture::CaptureService::View> view;
  try {
    view = capture_.Look(token);
  } catch (const std::exception&) {
    HttpResponse r =
        Page(lang, 503, TextOf(lang).unavailable_title, "error", TextOf(lang).unavailable);
    r.headers["Retry-After"] = "30";
    return r;
  }
  if (!view) return Page(lang, 404, TextOf(lang).invalid_title, "error", TextOf(lang).invalid);
  lang = ParseLanguage(view->language).value_or(lang);
  const CaptureText& t = TextOf(lang);
  if (view->status != "pending")
    return Page(lang, 200, t.confirmed_title, "confirmed", t.confirmed);
  // Nothing is written here: scanners fetch links.
  PageData form;
  form.set("csrf_confirm", csrf_.Token(token));
  form.set("button", t.button);
  return Page(lang, 200, t.confirm_title, "what", t.confirm, form);
}

HttpResponse CapturePage::Confirm(const HttpRequest& req) {
  const std::string token = Param(req, 0);
  Language lang = NegotiateLanguage("", req.Header("Accept-Language"));
  try {
    auto view = capture_.Look(token);
    if (!view) return Page(lang, 404, TextOf(lang).invalid_title, "error", TextOf(lang).invalid);
    lang = ParseLanguage(view->language).value_or(lang);
    const CaptureText& t = TextOf(lang);
    if (!SameOriginPost(req, public_origin_) || !csrf_.Verify(token, req.FormValue("csrf"))) {
      return Page(lang, 403, t.forbidden_title, "error", t.forbidden);
    }
    std::string ip = ParseIp(req.client_ip) ? req.client_ip : std::string();
    auto outcome = capture_.Confirm(token, ip, req.Header("User-Agent").substr(0, 512));
    if (outcome == capture::CaptureService::Outcome::kInvalid) {
      return Page(lang, 404, t.invalid_title, "error", t.invalid);
    }
    return Page(lang, 200, t.confirmed_title, "confirmed", t.confirmed);
  } catch (const std::exception&) {
    // A database error's text may quote values: not logged here (the pool logs SQLSTATEs).
    log::Warn("capture confirmation failed", {{"form", "link"}});
    HttpResponse r =
        Page(lang, 503, TextOf(lang).unavailable_title, "error", TextOf(lang).unavailable);
    r.headers["Retry-After"] = "30";
    return r;
  }
}

HttpResponse CapturePage::Code(const HttpRequest& req) {
  const std::string token = req.FormValue("token");
  Language lang = ParseLanguage(req.FormValue("lang"))
                      .value_or(NegotiateLanguage("", req.Header("Accept-Language")));
  const CaptureText& t = TextOf(lang);
  const bool json = WantsJson(req);
  if (!csrf_.Verify(token, req.FormValue("csrf"))) {
    return json ? JsonResponse(403, {{"error", {{"field", "csrf"}, {"message", t.forbidden}}}})
                : Page(lang, 403, t.forbidden_title, "error", t.forbidden);
  }
  try {
    std::string ip = ParseIp(req.client_ip) ? req.client_ip : std::string();
    auto outcome = capture_.ConfirmCode(token, req.FormValue("code"), ip,
                                        req.Header("User-Agent").substr(0, 512));
    using Outcome = capture::CaptureService::Outcome;
    switch (outcome) {
      case Outcome::kConfirmed:
      case Outcome::kAlreadyConfirmed:
        return json ? JsonResponse(200, {{"status", "confirmed"}, {"message", t.confirmed}})
                    : Page(lang, 200, t.confirmed_title, "confirmed", t.confirmed);
      case Outcome::kWrongCode:
        return json ? JsonResponse(400, {{"error", {{"field", "code"}, {"message", t.wrong_code}}}})
                    : CodePage(lang, 400, t.bad_title, "error-code", t.wrong_code, token,
                               req.FormValue("csrf"));
      case Outcome::kTooManyTries:
      case Outcome::kInvalid:
        break;
    }
    const char* why = outcome == Outcome::kTooManyTries ? t.too_many : t.invalid;
    return json ? JsonResponse(404, {{"error", {{"field", "code"}, {"message", why}}}})
                : Page(lang, 404, t.invalid_title, "error", why);
  } catch (const std::exception&) {
    // A database error's text may quote values: not logged here.
    log::Warn("capture code failed", {{"form", "code"}});
    HttpResponse r = Page(lang, 503, t.unavailable_title, "error", t.unavailable);
    r.headers["Retry-After"] = "30";
    return r;
  }
}

}  // namespace herald::web
