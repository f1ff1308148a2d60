#include "services/privacy/confirmation_mail.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "common/db/statement.h"
#include "common/error.h"
#include "common/validation/address.h"
#include "services/dispatch/ledger/message_ledger.h"

namespace herald::privacy {
namespace {

constexpr db::Statement kLocale{"privacy_confirmation.locale", R"sql(
  SELECT locale FROM subjects WHERE id = $1::uuid
)sql"};
struct Text {
  const char* subject;
  const char* intro;   // what arrived from this address
  const char* effect;  // what confirming does
  const char* action;  // open the link and press the button
  const char* ignore;  // not you: nothing changes
  const char* button;  // the HTML link's text
};

// [language][0 revoke, 1 rectify]
const Text kTexts[3][2] = {
    {{"Şəxsi məlumatların işlənməsinə razılığın ləğvini təsdiq edin",
      "Bu ünvandan şəxsi məlumatlarınızın işlənməsinə razılığın ləğvi barədə sorğu aldıq. "
      "Bu ünvana marketinq bildirişləri artıq dayandırılıb.",
      "Təsdiq etdikdən sonra şəxsi məlumatlarınızın işlənməsi dayandırılacaq və onlar qanunla "
      "müəyyən olunmuş müddətdə məhv ediləcək.",
      "Sorğunu siz göndərmisinizsə, linki açın və təsdiq düyməsini basın:",
      "Sorğunu siz göndərməmisinizsə, bu məktubu nəzərə almayın: başqa heç nə dəyişməyəcək.",
      "Sorğunu təsdiq edin"},
     {"Şəxsi məlumatların yenilənməsi sorğusunu təsdiq edin",
      "Bu ünvandan şəxsi məlumatlarınızın yenilənməsi barədə sorğu aldıq.",
      "Təsdiq etdikdən sonra məlumatlarınız düzəldilənə qədər işlənməyəcək.",
      "Sorğunu siz göndərmisinizsə, linki açın və təsdiq düyməsini basın:",
      "Sorğunu siz göndərməmisinizsə, bu məktubu nəzərə almayın: heç nə dəyişməyəcək.",
      "Sorğunu təsdiq edin"}},
    {{"Подтвердите отзыв согласия на обработку персональных данных",
      "С этого адреса пришёл запрос об отзыве согласия на обработку ваших персональных данных. "
      "Маркетинговые рассылки на этот адрес уже остановлены.",
      "После подтверждения обработка ваших персональных данных будет прекращена, а сами данные "
      "уничтожены в установленный законом срок.",
      "Если запрос отправили вы, откройте ссылку и нажмите кнопку подтверждения:",
      "Если вы его не отправляли, просто не обращайте внимания на это письмо: больше ничего "
      "не изменится.",
      "Подтвердить запрос"},
     {"Подтвердите запрос на актуализацию персональных данных",
      "С этого адреса пришёл запрос на актуализацию ваших персональных данных.",
      "После подтверждения ваши данные не будут обрабатываться, пока их не исправят.",
      "Если запрос отправили вы, откройте ссылку и нажмите кнопку подтверждения:",
      "Если вы его не отправляли, просто не обращайте внимания на это письмо: ничего не "
      "изменится.",
      "Подтвердить запрос"}},
    {{"Confirm the revocation of consent to the processing of personal data",
      "We received a request from this address to revoke consent to the processing of your "
      "personal data. Marketing to this address has already stopped.",
      "Once you confirm, we stop processing your personal data and destroy it within the "
      "legal deadline.",
      "If you sent it, open the link and press the confirm button:",
      "If you did not send it, ignore this message: nothing else changes.", "Confirm the request"},
     {"Confirm your request to update personal data",
      "We received a request from this address to update your personal data.",
      "Once you confirm, your data are not processed until they are corrected.",
      "If you sent it, open the link and press the confirm button:",
      "If you did not send it, ignore this message: nothing changes.", "Confirm the request"}},
};

int LanguageIndex(const std::string& locale) {
  std::string l = ConfirmationLanguage(locale);
  return l == "ru" ? 1 : l == "en" ? 2 : 0;
}

}  // namespace

const char* ConfirmationLanguage(const std::string& locale) {
  std::string primary;
  for (char c : locale) {
    if (c == '-' || c == '_') break;
    primary.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  if (primary == "ru") return "ru";
  if (primary == "en") return "en";
  return "az";
}

std::string ConfirmationMailer::LinkFor(const std::string& request_id, Timestamp now) const {
  return base_ + "/c/" + tokens_.Sign(request_id, now);
}

std::string ConfirmationMailer::Queue(db::Connection& conn, pqxx::transaction_base& txn,
                                      const std::string& request_id, RequestKind kind,
                                      const std::string& subject_id, const std::string& address,
                                      Timestamp now) const {
  auto res = validation::NormalizeAddress(address, "RU");
  auto* normalized = std::get_if<validation::NormalizedAddress>(&res);
  if (!normalized || normalized->kind != validation::AddressKind::kEmail) {
    throw InvalidArgument("address", "not an e-mail address");
  }
  auto rows = conn.Exec(txn, kLocale, subject_id);
  const Text& t = kTexts[LanguageIndex(rows.empty() ? std::string() : rows[0][0].as<std::string>())]
                        [kind == RequestKind::kRevoke ? 0 : 1];
  std::string text = std::string(t.intro) + "\n\n" + t.effect + "\n\n" + t.action +
                     "\n{{confirm_url}}\n\n" + t.ignore + "\n";
  std::string html = std::string("<p>") + t.intro + "</p>\n<p>" + t.effect + "</p>\n<p>" +
                     t.action + "</p>\n<p><a href=\"{{confirm_url}}\">" + t.button +
                     "</a></p>\n<p>" + t.ignore + "</p>\n";
  nlohmann::json variables = {{"confirm_url", LinkFor(request_id, now)}};
  dispatch::ledger::NewMessage m;
  m.client_id = kClientId;
  m.subject_id = subject_id;
  m.address = normalized->value;
  m.match_key = normalized->match_key;
  m.channel = 1;  // e-mail
  m.topic = "service";
  m.subject_template = t.subject;
  m.text_template = text;
  m.html_template = html;
  m.variables_json = variables.dump();
  m.note = "confirmation of a privacy request";
  std::string id = dispatch::ledger::Enqueue(conn, txn, m, now);
  return id;
}

}  // namespace herald::privacy
