#include "services/crm/creatio_settings.h"

#include <algorithm>
#include <cctype>

#include "common/validation/uuid.h"

namespace herald::crm {
namespace {

std::string Lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string Trim(const std::string& text) {
  size_t begin = 0;
  size_t end = text.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
  return text.substr(begin, end - begin);
}

// Entity and property names go into OData URLs and bodies unescaped: an identifier only, so
// a typo cannot turn into a different request.
std::string Identifier(const std::string& name, const std::string& value) {
  bool ok = !value.empty() &&
            (std::isalpha(static_cast<unsigned char>(value[0])) != 0 || value[0] == '_');
  for (char c : value) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '_') ok = false;
  }
  if (!ok) throw ConfigError(name + ": expected an OData name (letters, digits, '_')");
  return value;
}

std::string Guid(const std::string& name, const std::string& value) {
  if (!validation::IsUuid(value)) throw ConfigError(name + ": expected a GUID");
  return Lower(value);
}

// A base URL is joined with paths that start with '/': no trailing slash.
std::string BaseUrl(const std::string& name, const std::string& value) {
  std::string url = config::HttpUrlOrEmpty(name, value);
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

std::string ODataPath(const std::string& name, const std::string& value) {
  std::string path = value;
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (path.empty() || path[0] != '/' || path.find_first_of(" ?#") != std::string::npos) {
    throw ConfigError(name + ": expected a path such as /0/odata or /odata");
  }
  return path;
}

// "topic=guid, topic=guid": each topic once, each GUID a GUID.
std::map<std::string, std::string> ParseTopicTypes(const std::string& name,
                                                   const std::string& text) {
  std::map<std::string, std::string> types;
  for (const auto& item : config::SplitList(text)) {
    auto eq = item.find('=');
    if (eq == std::string::npos) {
      throw ConfigError(name + ": expected topic=guid, got '" + item + "'");
    }
    std::string topic = Trim(item.substr(0, eq));
    std::string guid = Trim(item.substr(eq + 1));
    if (topic.empty()) throw ConfigError(name + ": a topic is missing before '='");
    if (!validation::IsUuid(guid)) {
      throw ConfigError(name + ": the BulkEmailType of topic '" + topic + "' is not a GUID");
    }
    if (!types.emplace(topic, Lower(guid)).second) {
      throw ConfigError(name + ": topic '" + topic + "' is mapped twice");
    }
  }
  return types;
}

std::string DescribeTopicTypes(const CreatioSettings& s) {
  std::string text;
  for (const auto& [topic, guid] : s.topic_types) {
    if (!text.empty()) text += ", ";
    text += topic + "=" + guid;
  }
  return text;
}

void Finish(CreatioSettings& s) {
  if (!s.enabled) return;
  if (s.base_url.empty()) throw ConfigError("crm.base_url: required when crm.enabled is true");
  if (s.auth == "cookie") {
    if (s.user_name.empty()) {
      throw ConfigError("crm.user_name: required when crm.auth is cookie");
    }
    if (s.password.empty()) {
      throw ConfigError("HERALD_CRM_PASSWORD: required when crm.auth is cookie");
    }
  } else {
    if (s.client_id.empty()) throw ConfigError("crm.client_id: required when crm.auth is oauth");
    if (s.client_secret.empty()) {
      throw ConfigError("HERALD_CRM_CLIENT_SECRET: required when crm.auth is oauth");
    }
  }
}

}  // namespace

const config::Section<CreatioSettings>& CreatioSection() {
  using S = CreatioSettings;
  static const config::Section<S> kSection{
      {
          config::Bool("crm.enabled", &S::enabled,
                       "Keep Creatio's do-not-use flags in step with Herald: the write-back "
                       "worker runs and heraldctl crm import/check may reach Creatio."),
          config::Text("crm.base_url", &S::base_url,
                       "Creatio's address, e.g. https://crm.example.com (no trailing slash; "
                       "the login lives at /ServiceModel/AuthService.svc/Login below it).",
                       BaseUrl),
          config::Text("crm.odata_path", &S::odata_path,
                       "Path of the OData 4 service below crm.base_url: /0/odata on .NET "
                       "Framework hosts, /odata on .NET Core hosts.",
                       ODataPath),
          config::Choice("crm.auth", &S::auth, {"cookie", "oauth"},
                         "How Herald logs in: cookie (AuthService.svc/Login with crm.user_name "
                         "and HERALD_CRM_PASSWORD) or oauth (client credentials from the "
                         "Identity Service with crm.client_id and HERALD_CRM_CLIENT_SECRET)."),
          config::Text("crm.user_name", &S::user_name,
                       "Creatio user of the cookie login; a dedicated integration user, so "
                       "Creatio processes can tell Herald's writes apart."),
          config::Secret("HERALD_CRM_PASSWORD", &S::password, 1, "(required with crm.auth cookie)",
                         "Password of crm.user_name for the cookie login."),
          config::Text("crm.identity_url", &S::identity_url,
                       "OAuth: base URL of the Identity Service that answers /connect/token; "
                       "empty: crm.base_url.",
                       BaseUrl),
          config::Text("crm.client_id", &S::client_id,
                       "OAuth: client id of Herald's client-credentials app."),
          config::Secret("HERALD_CRM_CLIENT_SECRET", &S::client_secret, 1,
                         "(required with crm.auth oauth)",
                         "OAuth: client secret of crm.client_id."),
          config::Int("crm.timeout_ms", &S::timeout_ms, 100, 600000,
                      "Longest one HTTP exchange with Creatio may take, connecting included; "
                      "past it the exchange counts as failed and is retried later."),
          config::Int("crm.login_refused_hold_ms", &S::login_refused_hold_ms, 0, 3600000,
                      "After Creatio refuses the login (bad password, unknown OAuth client), "
                      "no new login is tried for this long; the rows meanwhile fail as auth "
                      "failures. Creatio locks a user out after a few bad passwords."),
          config::Text("crm.contact_entity", &S::contact_entity,
                       "OData entity of contacts (forks may rename it).", Identifier),
          config::Text("crm.fields.do_not_use_email", &S::do_not_use_email_field,
                       "Contact property Herald sets true when no marketing e-mail may go to "
                       "the contact.",
                       Identifier),
          config::Text("crm.fields.do_not_use_sms", &S::do_not_use_sms_field,
                       "Contact property Herald sets true when no marketing SMS may go to the "
                       "contact.",
                       Identifier),
          config::Text("crm.fields.do_not_use_call", &S::do_not_use_call_field,
                       "Contact property Herald sets true when no marketing call may go to the "
                       "contact.",
                       Identifier),
          config::Text("crm.fields.email", &S::email_field,
                       "Contact property holding the e-mail address (read by the import).",
                       Identifier),
          config::Text("crm.fields.mobile_phone", &S::mobile_phone_field,
                       "Contact property holding the mobile number (read by the import).",
                       Identifier),
          config::Text("crm.fields.time_zone", &S::time_zone_field,
                       "Contact property holding an IANA time zone for quiet hours (read by the "
                       "import; a custom column such as UsrTimeZone); empty: not read.",
                       [](const std::string& name, const std::string& value) {
                         return value.empty() ? value : Identifier(name, value);
                       }),
          config::Text("crm.fields.name", &S::name_field,
                       "Contact property holding the display name (read by the import).",
                       Identifier),
          config::Text("crm.subscription_entity", &S::subscription_entity,
                       "OData entity of per-type e-mail subscriptions (ContactId, "
                       "BulkEmailTypeId, BulkEmailSubsStatusId).",
                       Identifier),
          config::Text("crm.subscribed_status_id", &S::subscribed_status_id,
                       "GUID of the BulkEmailSubsStatus meaning Subscribed.", Guid),
          config::Text("crm.unsubscribed_status_id", &S::unsubscribed_status_id,
                       "GUID of the BulkEmailSubsStatus meaning Unsubscribed.", Guid),
          config::MakeLine<S>(
              "crm.topic_types", OptionInfo::Kind::kText,
              "Herald topic -> Creatio BulkEmailType GUID, 'topic=guid, topic=guid': an opt-out "
              "of a mapped topic sets that type's subscription to Unsubscribed; an unmapped "
              "topic has no subscription row.",
              [](S& s, const std::string& name, const std::string& text) {
                s.topic_types = ParseTopicTypes(name, text);
              },
              DescribeTopicTypes),
          config::Int("crm.batch_size", &S::batch_size, 1, 100,
                      "Writes per $batch request (Creatio accepts at most 100)."),
          config::Int("crm.workers", &S::workers, 1, 64,
                      "Write-back workers sending $batch requests concurrently."),
          config::Int("crm.backoff_initial_ms", &S::backoff_initial_ms, 1, 3600000,
                      "First delay after a 429, 5xx, timeout or refused connection; it doubles "
                      "on each further failure (with jitter) and a Retry-After is honoured."),
          config::Int("crm.backoff_max_ms", &S::backoff_max_ms, 1, 86400000,
                      "Cap of the doubling retry delay; Herald never gives up on a write."),
          config::Int("crm.purge_after_days", &S::purge_after_days, 1, 3650,
                      "Parked and dead-lettered write-back rows are deleted after this many "
                      "days."),
          config::Int("crm.import_page_size", &S::import_page_size, 1, 10000,
                      "Contacts read per OData page by heraldctl crm import."),
      },
      {},
      Finish};
  return kSection;
}

}  // namespace herald::crm
