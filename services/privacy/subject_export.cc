#include "services/privacy/subject_export.h"

#include <array>
#include <map>
#include <sstream>
#include <string_view>

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/domain/enums.h"
#include "common/error.h"
#include "common/translations.h"
#include "common/validation/input_checks.h"
#include "herald/v1/subscriptions.pb.h"
#include "services/privacy/confirmation_mail.h"
#include "services/privacy/deadlines.h"

namespace herald::privacy {
namespace {

// Each section is built by PostgreSQL as one JSON array, so a column added to a table is one
// edit here. Kind numbers are bound from their enums (see Export).
constexpr db::Statement kSubject{"export.subject", R"sql(
  SELECT json_build_object('id', id, 'external_id', external_id, 'surname', surname,
    'given_name', given_name, 'patronymic', patronymic, 'locale', locale, 'state', state,
    'blocked', blocked, 'revoked', revoked, 'processing_consent', processing_consent,
    'marketing_channels', marketing_channels, 'cross_border_consent', cross_border_consent,
    'created_at', created_at, 'updated_at', updated_at)::text
  FROM subjects
  WHERE id = $1::uuid
)sql"};
// The kind's name is added in C++ from AddressKind.
constexpr db::Statement kAddresses{"export.addresses", R"sql(
  SELECT kind, match_key,
    json_build_object('value', value, 'added_at', added_at)::text
  FROM addresses
  WHERE subject_id = $1::uuid
  ORDER BY id
)sql"};
// $2 and $3: the numbers of ConsentKind PROCESSING and MARKETING.
constexpr db::Statement kConsents{"export.consents", R"sql(
  SELECT coalesce(json_agg(json_build_object('id', c.id,
      'kind', CASE c.kind WHEN $2 THEN 'processing' WHEN $3 THEN 'marketing'
                ELSE 'cross_border' END,
      'channel', c.channel, 'granted', c.granted, 'source', c.source, 'form_id', c.form_id,
      'document_version', c.document_version, 'recording_reference', c.recording_reference,
      'occurred_at', c.occurred_at,
      'recorded_at', c.recorded_at, 'actor', c.actor, 'event_id', c.event_id,
      'proof', coalesce(p.data, '{}'::jsonb))
    ORDER BY c.occurred_at, c.id), '[]')::text
  FROM consents c
  LEFT JOIN event_personal p ON p.event_id = c.event_id
  WHERE c.subject_id = $1::uuid
)sql"};
constexpr db::Statement kPreferences{"export.preferences", R"sql(
  SELECT coalesce(json_agg(json_build_object('channel', channel, 'topic', topic,
      'subscribed', subscribed, 'updated_at', updated_at)
    ORDER BY channel, topic), '[]')::text
  FROM preferences
  WHERE subject_id = $1::uuid
)sql"};
constexpr db::Statement kSuppressions{"export.suppressions", R"sql(
  SELECT coalesce(json_agg(json_build_object('id', id, 'channel', channel, 'topic', topic,
      'reason', reason, 'source', source, 'created_at', created_at, 'lifted_at', lifted_at)
    ORDER BY id), '[]')::text
  FROM suppressions
  WHERE address_key IN (SELECT decode(k, 'hex') FROM unnest($1::text[]) AS k)
)sql"};
constexpr db::Statement kEvents{"export.events", R"sql(
  SELECT coalesce(json_agg(json_build_object('id', e.id, 'type', e.type, 'actor', e.actor,
      'source', e.source, 'occurred_at', e.occurred_at, 'recorded_at', e.recorded_at,
      'details', e.details, 'personal', coalesce(p.data, '{}'::jsonb))
    ORDER BY e.id), '[]')::text
  FROM events e
  LEFT JOIN event_personal p ON p.event_id = e.id
  WHERE e.subject_id = $1::uuid
    OR e.address_key IN (SELECT decode(k, 'hex') FROM unnest($2::text[]) AS k)
)sql"};
constexpr db::Statement kRequests{"export.privacy_requests", R"sql(
  SELECT coalesce(json_agg(row_to_json(r)), '[]')::text
  FROM privacy_requests r
  WHERE r.subject_id = $1::uuid
)sql"};
// The subject's messages and those to its addresses ($2 address kinds, $3 match keys) under
// no or another subject id. A message's address is an e-mail address when its channel is
// $4 (Channel EMAIL), else a phone number: then the kind is $5 (AddressKind EMAIL) or not.
constexpr db::Statement kMessages{"export.messages", R"sql(
  SELECT coalesce(json_agg(json_build_object('id', m.id, 'campaign_id', m.campaign_id,
      'channel', m.channel, 'topic', m.topic, 'address', m.address, 'status', m.status,
      'deny_reason', m.deny_reason, 'provider', m.provider, 'attempts', m.attempts,
      'created_at', m.created_at, 'updated_at', m.updated_at,
      'content', json_build_object(
        'subject', coalesce(m.subject_template, c.subject_template),
        'text', coalesce(m.text_template, c.text_template),
        'html', coalesce(m.html_template, c.html_template),
        'variables', m.variables),
      'attempt_log', (
        SELECT coalesce(json_agg(json_build_object('number', a.number,
            'provider', a.provider, 'started_at', a.started_at, 'ended_at', a.ended_at,
            'outcome', a.outcome, 'code', a.code, 'enhanced_status', a.enhanced_status,
            'provider_code', a.provider_code, 'detail', a.detail)
          ORDER BY a.number, a.id), '[]')
        FROM message_attempts a
        WHERE a.message_id = m.id),
      'history', (
        SELECT coalesce(json_agg(json_build_object('status', h.status,
            'deny_reason', h.deny_reason, 'note', h.note, 'at', h.at)
          ORDER BY h.seq), '[]')
        FROM message_transitions h
        WHERE h.message_id = m.id))
    ORDER BY m.created_at, m.id), '[]')::text
  FROM messages m
  LEFT JOIN campaigns c ON c.id = m.campaign_id
  WHERE m.subject_id = $1::uuid
    OR (m.match_key IS NOT NULL AND EXISTS (
      SELECT 1 FROM unnest($2::smallint[], $3::text[]) AS a(kind, match_key)
      WHERE a.match_key = m.match_key AND (a.kind = $5) = (m.channel = $4)))
)sql"};

// The document's words in the subject's language (L10), as the recipient pages and the
// confirmation mail speak it: az, ru, en (az when the locale is none of them).
struct DocumentText {
  const char* title;
  const char* prepared_at;
  const char* none;
  const char* subject;
  const char* addresses;
  const char* consents;
  const char* preferences;
  const char* suppressions;
  const char* events;
  const char* privacy_requests;
  const char* messages;
};

// [az, ru, en]
constexpr DocumentText kDocumentTexts[3] = {
    {"SUBYEKT HAQQINDA SAXLANILAN ŞƏXSİ MƏLUMATLAR (152-FZ maddə 14)", "Hazırlanma vaxtı",
     "(yoxdur)", "Şəxsi məlumatlar", "Ünvanlar", "Razılıqlar və onların sübutu", "Abunə seçimləri",
     "Ünvanlarınızın bloklanması", "Hadisələr jurnalı", "Şəxsi məlumatlarınızla bağlı sorğularınız",
     "Sizə göndərilən və ya hazırlanan mesajlar"},
    {"ПЕРСОНАЛЬНЫЕ ДАННЫЕ СУБЪЕКТА, КОТОРЫЕ У НАС ХРАНЯТСЯ (152-ФЗ ст. 14)", "Подготовлено",
     "(нет)", "Персональные данные", "Адреса", "Согласия и их подтверждение", "Настройки подписки",
     "Блокировки ваших адресов", "Журнал событий", "Ваши запросы о персональных данных",
     "Сообщения, отправленные или подготовленные для вас"},
    {"PERSONAL DATA HELD ABOUT A DATA SUBJECT (152-FZ art. 14)", "Prepared at", "(none)",
     "Personal data", "Addresses", "Consents and their proof", "Subscription preferences",
     "Suppressions of your addresses", "Event log", "Your requests about your personal data",
     "Messages sent or prepared for you"},
};

// Field labels the person reads; a key not listed here is shown as it is named in the JSON.
// [az, ru, en]
const std::map<std::string, std::array<const char*, 3>>& FieldLabels() {
  static const std::map<std::string, std::array<const char*, 3>> k = {
      {"surname", {"Soyad", "Фамилия", "Surname"}},
      {"given_name", {"Ad", "Имя", "Given name"}},
      {"patronymic", {"Ata adı", "Отчество", "Patronymic"}},
      {"locale", {"Dil", "Язык", "Language"}},
      {"state", {"Vəziyyət", "Состояние", "State"}},
      {"blocked", {"Bloklanıb", "Заблокирован", "Blocked"}},
      {"revoked", {"Razılıq geri götürülüb", "Согласие отозвано", "Consent revoked"}},
      {"external_id", {"CRM identifikatoru", "Идентификатор в CRM", "CRM identifier"}},
      {"value", {"Dəyər", "Значение", "Value"}},
      {"kind", {"Növ", "Вид", "Kind"}},
      {"added_at", {"Əlavə olunub", "Добавлен", "Added at"}},
      {"created_at", {"Yaradılıb", "Создано", "Created at"}},
      {"updated_at", {"Yenilənib", "Изменено", "Updated at"}},
      {"granted", {"Verilib", "Дано", "Granted"}},
      {"channel", {"Kanal", "Канал", "Channel"}},
      {"topic", {"Mövzu", "Тема", "Topic"}},
      {"subscribed", {"Abunədir", "Подписан", "Subscribed"}},
      {"source", {"Mənbə", "Источник", "Source"}},
      {"reason", {"Səbəb", "Причина", "Reason"}},
      {"status", {"Status", "Статус", "Status"}},
      {"received_at", {"Daxil olub", "Получен", "Received at"}},
      {"due_at", {"Son icra tarixi", "Срок исполнения", "Due at"}},
      {"legal_basis", {"Hüquqi əsas", "Правовое основание", "Legal basis"}},
      {"handled_at", {"İcra olunub", "Исполнен", "Handled at"}},
      {"address", {"Ünvan", "Адрес", "Address"}},
      {"occurred_at", {"Baş verib", "Произошло", "Occurred at"}},
      {"type", {"Tip", "Тип", "Type"}},
  };
  return k;
}

int LanguageIndexOf(const nlohmann::json& d) {
  std::string locale;
  if (d.contains("subject") && d["subject"].is_object() && d["subject"].contains("locale") &&
      d["subject"]["locale"].is_string()) {
    locale = d["subject"]["locale"].get<std::string>();
  }
  std::string language = ConfirmationLanguage(locale);
  return language == "ru" ? 1 : language == "en" ? 2 : 0;
}

const char* const kLanguageCodes[3] = {"az", "ru", "en"};

nlohmann::json Json(const pqxx::result& r) { return nlohmann::json::parse(r[0][0].c_str()); }

std::string Scalar(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "-";
  return v.dump();
}

void RenderValue(std::ostringstream& out, const std::string& indent, const std::string& key,
                 const nlohmann::json& v, int lang) {
  std::string label = key;
  if (auto it = FieldLabels().find(key); it != FieldLabels().end()) label = it->second[lang];
  if (v.is_object()) {
    if (v.empty()) return;
    out << indent << label << ":\n";
    for (auto it = v.begin(); it != v.end(); ++it) {
      RenderValue(out, indent + "  ", it.key(), it.value(), lang);
    }
  } else if (v.is_array()) {
    if (v.empty()) return;
    out << indent << label << ":\n";
    int n = 0;
    for (const auto& item : v) {
      RenderValue(out, indent + "  ", "#" + std::to_string(++n), item, lang);
    }
  } else {
    out << indent << label << ": " << Scalar(v) << "\n";
  }
}

}  // namespace

SubjectExport::SubjectExport(db::Pool& pool, const Clock& clock,
                             const crypto::SuppressionHasher& hasher)
    : pool_(pool), clock_(clock), hasher_(hasher) {
  RequireCompleteTranslations(kDocumentTexts, "subject export");
}

SubjectExportData SubjectExport::Export(const std::string& subject_id_in) {
  std::string subject_id = validation::RequireUuid("subject_id", subject_id_in);
  auto conn = pool_.Acquire();
  // One snapshot: every section describes the same moment.
  pqxx::transaction<pqxx::repeatable_read, pqxx::read_only> txn(conn->raw());
  auto subject = conn->Exec(txn, kSubject, subject_id);
  if (subject.empty()) throw NotFound("subject_id: subject");

  SubjectExportData out;
  // To the microsecond, as the document states it.
  out.generated_at = FromUnixMicros(ToUnixMicros(clock_.Now()));
  nlohmann::json& d = out.data;
  d["generated_at"] = ToIso8601(out.generated_at);
  d["subject"] = Json(subject);
  d["addresses"] = nlohmann::json::array();
  std::vector<std::string> kinds, keys, hashes;
  for (const auto& row : conn->Exec(txn, kAddresses, subject_id)) {
    auto kind = static_cast<AddressKind>(row[0].as<int>());
    kinds.push_back(std::to_string(static_cast<int>(kind)));
    keys.push_back(row[1].as<std::string>());
    for (const auto& h : hasher_.All(KindName(kind), keys.back())) {
      hashes.push_back(crypto::ToHex(h.hash));
    }
    nlohmann::json address = nlohmann::json::parse(row[2].c_str());
    address["kind"] = KindName(kind);
    d["addresses"].push_back(std::move(address));
  }
  std::string hashes_lit = db::ToArrayLiteral(hashes);
  d["consents"] = Json(conn->Exec(txn, kConsents, subject_id, static_cast<int>(v1::PROCESSING),
                                  static_cast<int>(v1::MARKETING)));
  d["preferences"] = Json(conn->Exec(txn, kPreferences, subject_id));
  d["suppressions"] = Json(conn->Exec(txn, kSuppressions, hashes_lit));
  d["events"] = Json(conn->Exec(txn, kEvents, subject_id, hashes_lit));
  d["privacy_requests"] = Json(conn->Exec(txn, kRequests, subject_id));
  // Each request with the provision it is made under, beside its due date (L9).
  for (auto& request : d["privacy_requests"]) {
    auto kind = KindFromName(request.value("kind", ""));
    request["legal_basis"] = kind ? LegalBasis(*kind) : "";
  }
  d["messages"] = Json(conn->Exec(txn, kMessages, subject_id, db::ToArrayLiteral(kinds),
                                  db::ToArrayLiteral(keys), static_cast<int>(Channel::kEmail),
                                  static_cast<int>(AddressKind::kEmail)));
  txn.commit();
  out.document = RenderDocument(d);
  return out;
}

std::string SubjectExport::RenderDocument(const nlohmann::json& d) {
  const int lang = LanguageIndexOf(d);
  const DocumentText& t = kDocumentTexts[lang];
  const std::pair<const char*, const char*> sections[] = {
      {"subject", t.subject},
      {"addresses", t.addresses},
      {"consents", t.consents},
      {"preferences", t.preferences},
      {"suppressions", t.suppressions},
      {"events", t.events},
      {"privacy_requests", t.privacy_requests},
      {"messages", t.messages},
  };
  std::ostringstream out;
  out << t.title << "\n";
  if (d.contains("generated_at")) out << t.prepared_at << ": " << Scalar(d["generated_at"]) << "\n";
  for (const auto& [key, title] : sections) {
    out << "\n== " << title << " ==\n";
    if (!d.contains(key) || d[key].empty()) {
      out << "  " << t.none << "\n";
      continue;
    }
    nlohmann::json v = d[key];
    if (std::string_view(key) == "privacy_requests" && v.is_array()) {
      // The provision of law in the reader's language too.
      for (auto& request : v) {
        auto kind = KindFromName(request.value("kind", ""));
        if (kind) request["legal_basis"] = LegalBasis(*kind, kLanguageCodes[lang]);
      }
    }
    if (v.is_array()) {
      int n = 0;
      for (const auto& item : v) RenderValue(out, "  ", "#" + std::to_string(++n), item, lang);
    } else {
      for (auto it = v.begin(); it != v.end(); ++it) {
        RenderValue(out, "  ", it.key(), it.value(), lang);
      }
    }
  }
  return out.str();
}

}  // namespace herald::privacy
