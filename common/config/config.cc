#include "common/config/config.h"

#include <yaml-cpp/yaml.h>

#include <functional>
#include <regex>
#include <sstream>

extern char** environ;

namespace herald {

const char* ScopeName(Scope s) {
  switch (s) {
    case Scope::kCrm:
      return "crm";
    case Scope::kScheduler:
      return "scheduler";
    case Scope::kPrivacy:
      return "privacy";
    case Scope::kAdmin:
      return "admin";
  }
  return "?";
}

namespace {

constexpr char kEnvPrefix[] = "HERALD_";

// One scalar option: where it lives in the file, which variable overrides it, and how a text
// value is applied.
struct Option {
  const char* file_key;  // dotted path in YAML; nullptr: environment only (a secret)
  const char* env;
  const char* default_text;
  const char* help;
  std::function<void(Config&, const std::string&)> apply;
};

int ParseInt(const std::string& key, const std::string& text, int min, int max) {
  try {
    size_t used = 0;
    int v = std::stoi(text, &used);
    if (used != text.size() || v < min || v > max) throw std::out_of_range("");
    return v;
  } catch (const std::exception&) {
    throw ConfigError(key + ": expected a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max));
  }
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(item.substr(b, e - b + 1));
  }
  return out;
}

std::set<std::string> ParseRoles(const std::string& key, const std::vector<std::string>& list) {
  std::set<std::string> roles;
  for (const auto& r : list) {
    if (r != "api" && r != "web" && r != "worker") {
      throw ConfigError(key + ": unknown role '" + r + "' (expected api, web, worker)");
    }
    roles.insert(r);
  }
  if (roles.empty()) throw ConfigError(key + ": at least one role is needed");
  return roles;
}

std::string UpperRegion(const std::string& key, std::string v) {
  if (v.size() != 2 || !isalpha(static_cast<unsigned char>(v[0])) ||
      !isalpha(static_cast<unsigned char>(v[1]))) {
    throw ConfigError(key + ": expected an ISO 3166-1 alpha-2 country code");
  }
  for (auto& c : v) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
  return v;
}

void RejectPasswordInUrl(const std::string& key, const std::string& url) {
  auto scheme = url.find("://");
  auto at = url.find('@');
  bool userinfo_password = scheme != std::string::npos && at != std::string::npos &&
                           url.substr(scheme + 3, at - scheme - 3).find(':') != std::string::npos;
  // libpq allows spaces around '=' in key=value strings and any case in the key.
  static const std::regex kPasswordKeyword(R"((^|\s)password\s*=)", std::regex::icase);
  if (userinfo_password || std::regex_search(url, kPasswordKeyword) ||
      url.find("password=") != std::string::npos) {
    throw ConfigError(key +
                      ": a password may not be written in the config file; set "
                      "HERALD_DATABASE_URL or PGPASSWORD in the environment");
  }
}

// host:port (IPv6 hosts in brackets); port 0 picks a free port.
std::string ListenAddress(const std::string& key, const std::string& v) {
  auto colon = v.rfind(':');
  bool ok = colon != std::string::npos && colon > 0 && colon + 1 < v.size();
  if (ok) {
    for (size_t i = colon + 1; i < v.size(); ++i)
      ok = ok && isdigit(static_cast<unsigned char>(v[i]));
  }
  if (ok) ok = v.size() - colon - 1 <= 5 && std::stoi(v.substr(colon + 1)) <= 65535;
  if (!ok) throw ConfigError(key + ": expected host:port (port 0-65535)");
  return v;
}

// Two listeners of one process on the same address would fail to bind at start-up with a
// vaguer message; port 0 is exempt (each gets its own free port).
void CheckListenersDistinct(const Config& c) {
  struct Entry {
    const char* key;
    const std::string* address;
    bool used;
  };
  bool web = c.roles.count("web") > 0;
  const Entry entries[] = {
      {"grpc.listen", &c.grpc_listen, c.roles.count("api") > 0},
      {"http.listen", &c.http_listen, web},
      {"inbound_mail.listen", &c.inbound_mail_listen, web && !c.inbound_mail_secret.empty()},
      {"ops.listen", &c.ops_listen, true}};
  for (size_t i = 0; i < std::size(entries); ++i) {
    for (size_t j = i + 1; j < std::size(entries); ++j) {
      const auto &a = entries[i], &b = entries[j];
      if (!a.used || !b.used || *a.address != *b.address) continue;
      if (a.address->size() >= 2 && a.address->substr(a.address->size() - 2) == ":0") continue;
      throw ConfigError(std::string(a.key) + " and " + b.key + ": the same address " + *a.address +
                        "; each listener needs its own");
    }
  }
}

// A reply text to an SMS keyword: plain text (it is sent as a template with no variables).
Option SmsReplyOption(const char* file_key, const char* env, std::string slot) {
  return {file_key, env, "(built in)",
          "Reply to an SMS keyword in one language (stop/start/help x az/ru/en).",
          [file_key, slot](Config& c, const std::string& v) {
            if (v.empty()) throw ConfigError(std::string(file_key) + ": must not be empty");
            if (v.find("{{") != std::string::npos) {
              throw ConfigError(std::string(file_key) + ": plain text only, no '{{'");
            }
            c.sms_replies[slot] = v;
          }};
}

const std::vector<Option>& Options() {
  static const std::vector<Option> kOptions = {
      {"database.url", "HERALD_DATABASE_URL", "postgresql:///herald",
       "libpq connection string of the PostgreSQL 15 primary (gate reads must see the primary).",
       [](Config& c, const std::string& v) { c.database_url = v; }},
      {"database.pool_size", "HERALD_DATABASE_POOL_SIZE", "8", "Connections in the pool (1-256).",
       [](Config& c, const std::string& v) {
         c.database_pool_size = ParseInt("database.pool_size", v, 1, 256);
       }},
      {"database.acquire_timeout_ms", "HERALD_DATABASE_ACQUIRE_TIMEOUT_MS", "2000",
       "How long a call waits for a free connection before failing UNAVAILABLE.",
       [](Config& c, const std::string& v) {
         c.database_acquire_timeout_ms = ParseInt("database.acquire_timeout_ms", v, 1, 600000);
       }},
      {"grpc.listen", "HERALD_GRPC_LISTEN", "127.0.0.1:50051", "gRPC listen address (api role).",
       [](Config& c, const std::string& v) { c.grpc_listen = ListenAddress("grpc.listen", v); }},
      {"grpc.reflection", "HERALD_GRPC_REFLECTION", "true",
       "Serve gRPC server reflection (the schema; any valid API key): true or false.",
       [](Config& c, const std::string& v) {
         if (v != "true" && v != "false") throw ConfigError("grpc.reflection: true or false");
         c.grpc_reflection = v == "true";
       }},
      {"http.listen", "HERALD_HTTP_LISTEN", "127.0.0.1:8080",
       "Public HTTP listen address (web role): recipient pages /u/, /p/ and SMS hooks "
       "/hooks/sms/.",
       [](Config& c, const std::string& v) { c.http_listen = ListenAddress("http.listen", v); }},
      {"inbound_mail.listen", "HERALD_INBOUND_MAIL_LISTEN", "127.0.0.1:8081",
       "Listen address of POST /hooks/email/inbound for the local MTA (web role, only when "
       "HERALD_INBOUND_MAIL_SECRET is set).",
       [](Config& c, const std::string& v) {
         c.inbound_mail_listen = ListenAddress("inbound_mail.listen", v);
       }},
      {"ops.listen", "HERALD_OPS_LISTEN", "127.0.0.1:9090",
       "Ops listen address, started by every role: /healthz (the process answers), /readyz "
       "(database reachable, migrations applied), /metrics.",
       [](Config& c, const std::string& v) { c.ops_listen = ListenAddress("ops.listen", v); }},
      {"ops.metrics_cache_ms", "HERALD_OPS_METRICS_CACHE_MS", "5000",
       "A /metrics scrape serves text computed at most this long ago (0-600000; 0: every "
       "scrape computes).",
       [](Config& c, const std::string& v) {
         c.ops_metrics_cache_ms = ParseInt("ops.metrics_cache_ms", v, 0, 600000);
       }},
      {nullptr, "HERALD_OPS_METRICS_TOKEN", "(empty: /metrics needs no token)",
       "Secret. Bearer token a scrape of /metrics must send (at least 16 characters).",
       [](Config& c, const std::string& v) {
         if (!v.empty() && v.size() < 16) {
           throw ConfigError("HERALD_OPS_METRICS_TOKEN: at least 16 characters");
         }
         c.ops_metrics_token = v;
       }},
      {"http.threads", "HERALD_HTTP_THREADS", "32", "HTTP worker threads (1-256).",
       [](Config& c, const std::string& v) {
         c.http_threads = ParseInt("http.threads", v, 1, 256);
       }},
      {"roles", "HERALD_ROLES", "api,web,worker", "Roles this process runs: api, web, worker.",
       [](Config& c, const std::string& v) { c.roles = ParseRoles("roles", SplitList(v)); }},
      {"addresses.default_phone_region", "HERALD_DEFAULT_PHONE_REGION", "RU",
       "Region for phone numbers written without a country code (RU, AZ, ...).",
       [](Config& c, const std::string& v) {
         c.default_phone_region = UpperRegion("addresses.default_phone_region", v);
       }},
      {"home_jurisdictions", "HERALD_HOME_JURISDICTIONS", "RU",
       "Countries whose providers need no cross-border consent (152-FZ art. 12).",
       [](Config& c, const std::string& v) {
         c.home_jurisdictions.clear();
         for (auto& r : SplitList(v)) {
           c.home_jurisdictions.push_back(UpperRegion("home_jurisdictions", r));
         }
       }},
      {"public_base_url", "HERALD_PUBLIC_BASE_URL", "http://127.0.0.1:8080",
       "Base of every link and webhook URL the service builds.",
       [](Config& c, const std::string& v) { c.public_base_url = v; }},
      {"log_level", "HERALD_LOG_LEVEL", "info", "debug, info, warn or error.",
       [](Config& c, const std::string& v) {
         if (v != "debug" && v != "info" && v != "warn" && v != "error") {
           throw ConfigError("log_level: expected debug, info, warn or error");
         }
         c.log_level = v;
       }},
      {"email.from_address", "HERALD_EMAIL_FROM_ADDRESS", "no-reply@herald.invalid",
       "Envelope and From address of e-mail.",
       [](Config& c, const std::string& v) { c.email_from_address = v; }},
      {"email.from_name", "HERALD_EMAIL_FROM_NAME", "", "Display name in From (UTF-8).",
       [](Config& c, const std::string& v) { c.email_from_name = v; }},
      {"dispatch.workers", "HERALD_DISPATCH_WORKERS", "2",
       "Outbox worker threads of the worker role (1-64).",
       [](Config& c, const std::string& v) {
         c.dispatch_workers = ParseInt("dispatch.workers", v, 1, 64);
       }},
      {"dispatch.batch_size", "HERALD_DISPATCH_BATCH_SIZE", "100",
       "Messages one claim takes (1-10000).",
       [](Config& c, const std::string& v) {
         c.dispatch_batch_size = ParseInt("dispatch.batch_size", v, 1, 10000);
       }},
      {"dispatch.lease_s", "HERALD_DISPATCH_LEASE_S", "120",
       "Seconds a claim is held before another worker may reclaim it (5-3600).",
       [](Config& c, const std::string& v) {
         c.dispatch_lease_s = ParseInt("dispatch.lease_s", v, 5, 3600);
       }},
      {"email.unsubscribe_mailto", "HERALD_EMAIL_UNSUBSCRIBE_MAILTO", "",
       "Mailbox of the mailto: List-Unsubscribe fallback (its subject is the policy's "
       "refusal marker); empty: no mailto fallback.",
       [](Config& c, const std::string& v) { c.unsubscribe_mailto = v; }},
      {"sms.footer_az", "HERALD_SMS_FOOTER_AZ", "",
       "Opt-out footer of marketing SMS for Azerbaijani (the default language), e.g. "
       "'DAYAN -> 1234'.",
       [](Config& c, const std::string& v) { c.sms_footers["az"] = v; }},
      {"sms.footer_ru", "HERALD_SMS_FOOTER_RU", "", "The same footer in Russian.",
       [](Config& c, const std::string& v) { c.sms_footers["ru"] = v; }},
      {"sms.footer_en", "HERALD_SMS_FOOTER_EN", "", "The same footer in English.",
       [](Config& c, const std::string& v) { c.sms_footers["en"] = v; }},
      {nullptr, "HERALD_LINK_KEYS", "(the suppression keys)",
       "Secret. Keys of unsubscribe and preference link tokens, 'id:hexsecret,...' newest "
       "first. Older keys keep verifying until removed.",
       [](Config& c, const std::string& v) { c.link_keys = v; }},
      {"dispatch.retry_base_s", "HERALD_DISPATCH_RETRY_BASE_S", "30",
       "First retry delay; each retry doubles it (with jitter) up to an hour (1-3600).",
       [](Config& c, const std::string& v) {
         c.dispatch_retry_base_s = ParseInt("dispatch.retry_base_s", v, 1, 3600);
       }},
      {"dispatch.max_attempts", "HERALD_DISPATCH_MAX_ATTEMPTS", "8",
       "Attempts before a message fails (1-100).",
       [](Config& c, const std::string& v) {
         c.dispatch_max_attempts = ParseInt("dispatch.max_attempts", v, 1, 100);
       }},
      {"dispatch.max_age_s", "HERALD_DISPATCH_MAX_AGE_S", "86400",
       "Age after which an unsent message fails instead of being retried (60-2592000).",
       [](Config& c, const std::string& v) {
         c.dispatch_max_age_s = ParseInt("dispatch.max_age_s", v, 60, 2592000);
       }},
      {"dispatch.send_concurrency", "HERALD_DISPATCH_SEND_CONCURRENCY", "4",
       "Messages of one claimed batch a worker thread sends at once, each over its own "
       "provider connection (1-64).",
       [](Config& c, const std::string& v) {
         c.dispatch_send_concurrency = ParseInt("dispatch.send_concurrency", v, 1, 64);
       }},
      {"gate.coalesce_max_batch", "HERALD_GATE_COALESCE_MAX_BATCH", "256",
       "Concurrent CheckEligibility calls answered by one gate statement run (1-10000; 1: "
       "each call alone).",
       [](Config& c, const std::string& v) {
         c.gate_coalesce_max_batch = ParseInt("gate.coalesce_max_batch", v, 1, 10000);
       }},
      {nullptr, "HERALD_SUPPRESSION_KEYS", "(required)",
       "Secret. Keys of the suppression hash, 'id:hexsecret,...' newest first, each secret "
       "at least 32 bytes. Retire a key only after re-hashing its rows.",
       [](Config& c, const std::string& v) { c.suppression_keys = v; }},
      // SMS keyword replies (inbound hooks).
      {"sms.stop_keywords", "HERALD_SMS_STOP_KEYWORDS",
       "STOP,STOPALL,UNSUBSCRIBE,CANCEL,END,QUIT,REVOKE,OPTOUT,OPT-OUT,REMOVE,СТОП,ОТПИСАТЬСЯ,"
       "DAYAN",
       "Inbound SMS keywords that opt the number out (a list; the message must be the keyword "
       "alone, case and surrounding space ignored).",
       [](Config& c, const std::string& v) { c.sms_stop_keywords = SplitList(v); }},
      {"sms.start_keywords", "HERALD_SMS_START_KEYWORDS", "START,YES,UNSTOP",
       "Inbound SMS keywords that opt back in after an SMS opt-out.",
       [](Config& c, const std::string& v) { c.sms_start_keywords = SplitList(v); }},
      {"sms.help_keywords", "HERALD_SMS_HELP_KEYWORDS", "HELP,INFO",
       "Inbound SMS keywords answered with the help text.",
       [](Config& c, const std::string& v) { c.sms_help_keywords = SplitList(v); }},
      {"sms.start_document_version", "HERALD_SMS_START_DOCUMENT_VERSION", "sms-start",
       "Consent document version recorded on the consent a START grants.",
       [](Config& c, const std::string& v) { c.sms_start_document_version = v; }},
      SmsReplyOption("sms.reply_stop_az", "HERALD_SMS_REPLY_STOP_AZ", "stop.az"),
      SmsReplyOption("sms.reply_stop_ru", "HERALD_SMS_REPLY_STOP_RU", "stop.ru"),
      SmsReplyOption("sms.reply_stop_en", "HERALD_SMS_REPLY_STOP_EN", "stop.en"),
      SmsReplyOption("sms.reply_start_az", "HERALD_SMS_REPLY_START_AZ", "start.az"),
      SmsReplyOption("sms.reply_start_ru", "HERALD_SMS_REPLY_START_RU", "start.ru"),
      SmsReplyOption("sms.reply_start_en", "HERALD_SMS_REPLY_START_EN", "start.en"),
      SmsReplyOption("sms.reply_help_az", "HERALD_SMS_REPLY_HELP_AZ", "help.az"),
      SmsReplyOption("sms.reply_help_ru", "HERALD_SMS_REPLY_HELP_RU", "help.ru"),
      SmsReplyOption("sms.reply_help_en", "HERALD_SMS_REPLY_HELP_EN", "help.en"),
      {"inbound_mail.trusted_authserv_ids", "HERALD_INBOUND_MAIL_TRUSTED_AUTHSERV_IDS", "",
       "authserv-ids of the operator's own MTA (a list): the topmost Authentication-Results of "
       "one of them saying dmarc=pass for the From: domain confirms a revocation or "
       "rectification marker at once; empty: every such marker waits for its e-mailed link.",
       [](Config& c, const std::string& v) {
         c.inbound_mail_trusted_authserv_ids.clear();
         for (auto& id : SplitList(v)) {
           if (id.find_first_of(" \t;()\"") != std::string::npos) {
             throw ConfigError("inbound_mail.trusted_authserv_ids: an authserv-id is one token");
           }
           c.inbound_mail_trusted_authserv_ids.push_back(id);
         }
       }},
      // Recipient pages and public-endpoint protection (web role).
      {"links.lifetime_days", "HERALD_LINKS_LIFETIME_DAYS", "365",
       "Days a link opens the full preference center; older genuine links still unsubscribe "
       "but get a reduced page (1-36500).",
       [](Config& c, const std::string& v) {
         c.links_lifetime_days = ParseInt("links.lifetime_days", v, 1, 36500);
       }},
      {"links.policy_url", "HERALD_LINKS_POLICY_URL", "",
       "The operator's privacy policy (http or https URL), linked from the preference center; "
       "empty: no link.",
       [](Config& c, const std::string& v) {
         if (!v.empty() && v.rfind("https://", 0) != 0 && v.rfind("http://", 0) != 0) {
           throw ConfigError("links.policy_url: expected an http or https URL");
         }
         c.links_policy_url = v;
       }},
      {"http.rate_limit_per_minute", "HERALD_HTTP_RATE_LIMIT_PER_MINUTE", "120",
       "Requests per minute per client IP on public paths (/u/, /p/, /hooks/); 0: no limit "
       "(0-600000).",
       [](Config& c, const std::string& v) {
         c.http_rate_limit_per_minute = ParseInt("http.rate_limit_per_minute", v, 0, 600000);
       }},
      {"http.rate_limit_burst", "HERALD_HTTP_RATE_LIMIT_BURST", "20",
       "Requests a client IP may make at once before the per-minute rate applies (1-100000).",
       [](Config& c, const std::string& v) {
         c.http_rate_limit_burst = ParseInt("http.rate_limit_burst", v, 1, 100000);
       }},
      {"http.trusted_proxies", "HERALD_HTTP_TRUSTED_PROXIES", "",
       "Reverse proxies (IPs or CIDRs) whose X-Forwarded-For names the client; from any other "
       "peer the header is ignored.",
       [](Config& c, const std::string& v) { c.http_trusted_proxies = SplitList(v); }},
      {"http.request_timeout_ms", "HERALD_HTTP_REQUEST_TIMEOUT_MS", "10000",
       "Time a client has to send a whole request, head and body, from its first byte (a new "
       "connection: from the accept); over it, 408 and close (100-600000).",
       [](Config& c, const std::string& v) {
         c.http_request_timeout_ms = ParseInt("http.request_timeout_ms", v, 100, 600000);
       }},
      {"http.max_connections", "HERALD_HTTP_MAX_CONNECTIONS", "1024",
       "Open connections per HTTP listener; at the cap a new one replaces the oldest idle or "
       "slow one, or is refused (16-100000).",
       [](Config& c, const std::string& v) {
         c.http_max_connections = ParseInt("http.max_connections", v, 16, 100000);
       }},
      {"http.max_connections_per_client", "HERALD_HTTP_MAX_CONNECTIONS_PER_CLIENT", "32",
       "Open connections per client address (IPv6: per /64); http.trusted_proxies are exempt "
       "(1-100000).",
       [](Config& c, const std::string& v) {
         c.http_max_connections_per_client =
             ParseInt("http.max_connections_per_client", v, 1, 100000);
       }},
      {"http.max_uri_bytes", "HERALD_HTTP_MAX_URI_BYTES", "8192",
       "Longest request line (method, URI, version); 414 beyond (256-8192).",
       [](Config& c, const std::string& v) {
         c.http_max_uri_bytes = ParseInt("http.max_uri_bytes", v, 256, 8192);
       }},
      {"http.max_header_bytes", "HERALD_HTTP_MAX_HEADER_BYTES", "16384",
       "Largest request head (request line and headers); 431 and close beyond (1024-1048576).",
       [](Config& c, const std::string& v) {
         c.http_max_header_bytes = ParseInt("http.max_header_bytes", v, 1024, 1048576);
       }},
      {"http.max_headers", "HERALD_HTTP_MAX_HEADERS", "100",
       "Most header fields in a request; 431 beyond (8-10000).",
       [](Config& c, const std::string& v) {
         c.http_max_headers = ParseInt("http.max_headers", v, 8, 10000);
       }},
      {"http.max_body_bytes", "HERALD_HTTP_MAX_BODY_BYTES", "65536",
       "Body limit of the public pages and SMS hooks (the mail hook has inbound_mail.max_bytes); "
       "413 naming the limit beyond (1024-16777216).",
       [](Config& c, const std::string& v) {
         c.http_max_body_bytes = ParseInt("http.max_body_bytes", v, 1024, 16777216);
       }},
      {"http.hooks_rate_limit_per_minute", "HERALD_HTTP_HOOKS_RATE_LIMIT_PER_MINUTE", "6000",
       "Requests per minute per client on the secret-authenticated hooks (/hooks/email/, "
       "/hooks/sms/), a bucket apart from the public pages'; 0: no limit (0-600000).",
       [](Config& c, const std::string& v) {
         c.http_hooks_rate_limit_per_minute =
             ParseInt("http.hooks_rate_limit_per_minute", v, 0, 600000);
       }},
      {"http.hooks_rate_limit_burst", "HERALD_HTTP_HOOKS_RATE_LIMIT_BURST", "200",
       "Requests a client may make at once on those hooks (1-100000).",
       [](Config& c, const std::string& v) {
         c.http_hooks_rate_limit_burst = ParseInt("http.hooks_rate_limit_burst", v, 1, 100000);
       }},
      {nullptr, "HERALD_INBOUND_MAIL_SECRET", "(empty: the inbound mail hook is off)",
       "Secret. Bearer secret of POST /hooks/email/inbound (at least 16 characters); the MTA "
       "pipe (heraldctl inbound-mail) sends it.",
       [](Config& c, const std::string& v) {
         if (!v.empty() && v.size() < 16) {
           throw ConfigError("HERALD_INBOUND_MAIL_SECRET: at least 16 characters");
         }
         c.inbound_mail_secret = v;
       }},
      {"inbound_mail.max_bytes", "HERALD_INBOUND_MAIL_MAX_BYTES", "1048576",
       "Largest inbound message accepted, in bytes (1024-26214400); larger ones get 413.",
       [](Config& c, const std::string& v) {
         c.inbound_mail_max_bytes = ParseInt("inbound_mail.max_bytes", v, 1024, 26214400);
       }},
      // Destruction acts and retention (issue 5, docs/privacy-destruction.md).
      {"operator.name", "HERALD_OPERATOR_NAME", "",
       "The personal-data operator's legal name, printed on destruction acts.",
       [](Config& c, const std::string& v) { c.operator_name = v; }},
      {"operator.address", "HERALD_OPERATOR_ADDRESS", "",
       "The operator's address, printed on destruction acts.",
       [](Config& c, const std::string& v) { c.operator_address = v; }},
      {"operator.information_system", "HERALD_OPERATOR_INFORMATION_SYSTEM", "Herald",
       "Name of the information system in destruction records and acts.",
       [](Config& c, const std::string& v) {
         if (v.empty()) throw ConfigError("operator.information_system: must not be empty");
         c.operator_information_system = v;
       }},
      {"retention.message_content_days", "HERALD_RETENTION_MESSAGE_CONTENT_DAYS", "90",
       "Days a settled message keeps its content and provider texts (1-3650).",
       [](Config& c, const std::string& v) {
         c.retention_message_content_days = ParseInt("retention.message_content_days", v, 1, 3650);
       }},
      {"retention.destruction_record_years", "HERALD_RETENTION_DESTRUCTION_RECORD_YEARS", "3",
       "Years destruction records and acts are kept before they are purged (1-100; "
       "Roskomnadzor order 179 asks for 3).",
       [](Config& c, const std::string& v) {
         c.retention_destruction_record_years =
             ParseInt("retention.destruction_record_years", v, 1, 100);
       }},
  };
  return kOptions;
}

// YAML keys that are structured (lists of maps) rather than scalar options.
void ApplyTopics(Config& c, const YAML::Node& node) {
  if (!node.IsSequence()) throw ConfigError("topics: expected a list");
  for (size_t i = 0; i < node.size(); ++i) {
    std::string where = "topics[" + std::to_string(i) + "]";
    const YAML::Node& t = node[i];
    if (!t.IsMap()) throw ConfigError(where + ": expected a map");
    TopicConfig topic;
    for (auto it = t.begin(); it != t.end(); ++it) {
      std::string k = it->first.as<std::string>();
      if (k == "name")
        topic.name = it->second.as<std::string>();
      else if (k == "marketing")
        topic.marketing = it->second.as<bool>();
      else if (k == "description")
        topic.description = it->second.as<std::string>();
      else
        throw ConfigError(where + "." + k + ": unknown key");
    }
    if (topic.name.empty()) throw ConfigError(where + ".name: required");
    for (char ch : topic.name) {
      if (!(islower(static_cast<unsigned char>(ch)) || isdigit(static_cast<unsigned char>(ch)) ||
            ch == '_')) {
        throw ConfigError(where + ".name: use lower-case letters, digits and '_'");
      }
    }
    c.topics.push_back(topic);
  }
}

Scope ParseScope(const std::string& where, const std::string& s) {
  if (s == "crm") return Scope::kCrm;
  if (s == "scheduler") return Scope::kScheduler;
  if (s == "privacy") return Scope::kPrivacy;
  if (s == "admin") return Scope::kAdmin;
  throw ConfigError(where + ": unknown scope '" + s + "' (crm, scheduler, privacy, admin)");
}

void ApplyClients(Config& c, const YAML::Node& node) {
  if (!node.IsSequence()) throw ConfigError("clients: expected a list");
  std::set<std::string> ids;
  for (size_t i = 0; i < node.size(); ++i) {
    std::string where = "clients[" + std::to_string(i) + "]";
    const YAML::Node& n = node[i];
    if (!n.IsMap()) throw ConfigError(where + ": expected a map");
    ApiClient client;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.as<std::string>();
      if (k == "id") {
        client.id = it->second.as<std::string>();
      } else if (k == "key_sha256") {
        client.key_sha256_hex = it->second.as<std::string>();
      } else if (k == "scopes") {
        if (!it->second.IsSequence()) throw ConfigError(where + ".scopes: expected a list");
        // Copy the node: `it->second` lives in a proxy that dies with this statement.
        YAML::Node scopes = it->second;
        for (const auto& s : scopes) {
          client.scopes.insert(ParseScope(where + ".scopes", s.as<std::string>()));
        }
      } else if (k == "key") {
        throw ConfigError(where + ".key: store only key_sha256 (the SHA-256 of the key)");
      } else {
        throw ConfigError(where + "." + k + ": unknown key");
      }
    }
    if (client.id.empty()) throw ConfigError(where + ".id: required");
    if (!ids.insert(client.id).second) throw ConfigError(where + ".id: repeated");
    bool hex = client.key_sha256_hex.size() == 64;
    for (auto& ch : client.key_sha256_hex) {
      ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
      hex = hex && isxdigit(static_cast<unsigned char>(ch));
    }
    if (!hex) throw ConfigError(where + ".key_sha256: expected 64 hex digits");
    if (client.scopes.empty()) throw ConfigError(where + ".scopes: at least one scope");
    c.clients.push_back(client);
  }
}

void ApplyProviders(Config& c, const YAML::Node& node) {
  if (!node.IsSequence()) throw ConfigError("providers: expected a list");
  std::set<std::string> names;
  for (size_t i = 0; i < node.size(); ++i) {
    std::string where = "providers[" + std::to_string(i) + "]";
    const YAML::Node& n = node[i];
    if (!n.IsMap()) throw ConfigError(where + ": expected a map");
    ProviderConfig p;
    for (auto it = n.begin(); it != n.end(); ++it) {
      std::string k = it->first.as<std::string>();
      YAML::Node v = it->second;
      if (k == "name") {
        p.name = v.as<std::string>();
      } else if (k == "kind") {
        p.kind = v.as<std::string>();
      } else if (k == "country") {
        p.country = UpperRegion(where + ".country", v.as<std::string>());
      } else if (k == "priority") {
        p.priority = ParseInt(where + ".priority", v.as<std::string>(), 0, 1000000);
      } else if (k == "rate_per_second") {
        p.rate_per_second = v.as<double>();
      } else if (k == "burst") {
        p.burst = v.as<double>();
      } else if (k == "breaker_failures") {
        p.breaker_failures = ParseInt(where + ".breaker_failures", v.as<std::string>(), 1, 1000);
      } else if (k == "breaker_open_s") {
        p.breaker_open_s = ParseInt(where + ".breaker_open_s", v.as<std::string>(), 1, 3600);
      } else if (k == "settings") {
        if (!v.IsMap()) throw ConfigError(where + ".settings: expected a map");
        for (auto s = v.begin(); s != v.end(); ++s) {
          std::string sk = s->first.as<std::string>();
          if (sk.find("password") != std::string::npos || sk.find("token") != std::string::npos ||
              sk.find("secret") != std::string::npos) {
            throw ConfigError(where + ".settings." + sk + ": a secret; set " +
                              ProviderSecretVariable(p.name.empty() ? "NAME" : p.name));
          }
          p.settings[sk] = s->second.as<std::string>();
        }
      } else {
        throw ConfigError(where + "." + k + ": unknown key");
      }
    }
    if (p.name.empty()) throw ConfigError(where + ".name: required");
    if (!names.insert(p.name).second) throw ConfigError(where + ".name: repeated");
    if (p.kind != "smtp" && p.kind != "twilio" && p.kind != "json_sms") {
      throw ConfigError(where + ".kind: expected smtp, twilio or json_sms");
    }
    if (p.country.empty()) throw ConfigError(where + ".country: required (152-FZ art. 12)");
    if (p.rate_per_second < 0 || p.burst < 1) {
      throw ConfigError(where + ": rate_per_second must be >= 0 and burst >= 1");
    }
    c.providers.push_back(p);
  }
}

std::string ScalarText(const std::string& key, const YAML::Node& node) {
  if (node.IsScalar()) return node.as<std::string>();
  if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) {
      if (!item.IsScalar()) throw ConfigError(key + ": expected a list of plain values");
      if (!joined.empty()) joined += ",";
      joined += item.as<std::string>();
    }
    return joined;
  }
  throw ConfigError(key + ": expected a value");
}

void ApplyFile(Config& c, const YAML::Node& root, const std::string& prefix) {
  if (!root.IsMap()) {
    throw ConfigError((prefix.empty() ? std::string("config file") : prefix) + ": expected a map");
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string key = prefix + it->first.as<std::string>();
    if (prefix.empty() && key == "topics") {
      ApplyTopics(c, it->second);
      continue;
    }
    if (prefix.empty() && key == "clients") {
      ApplyClients(c, it->second);
      continue;
    }
    if (prefix.empty() && key == "privacy") {
      ApplyPrivacyConfig(c.privacy, it->second);
      continue;
    }
    if (prefix.empty() && key == "providers") {
      ApplyProviders(c, it->second);
      continue;
    }
    if (key == "suppression_keys") {
      throw ConfigError("suppression_keys: a secret; set HERALD_SUPPRESSION_KEYS instead");
    }
    const Option* match = nullptr;
    bool is_section = false;
    for (const auto& o : Options()) {
      if (o.file_key == nullptr) continue;
      if (key == o.file_key) match = &o;
      if (std::string(o.file_key).rfind(key + ".", 0) == 0) is_section = true;
    }
    if (match) {
      std::string text = ScalarText(key, it->second);
      if (key == "database.url") RejectPasswordInUrl(key, text);
      match->apply(c, text);
    } else if (is_section && it->second.IsMap()) {
      ApplyFile(c, it->second, key + ".");
    } else {
      throw ConfigError(key + ": unknown key");
    }
  }
}

}  // namespace

Config LoadConfig(const std::string& path, const std::map<std::string, std::string>& env) {
  Config c;
  if (!path.empty()) {
    YAML::Node root;
    try {
      root = YAML::LoadFile(path);
    } catch (const YAML::Exception& e) {
      throw ConfigError("config file " + path + ": " + e.what());
    }
    try {
      if (!root.IsNull()) ApplyFile(c, root, "");
    } catch (const YAML::Exception& e) {
      throw ConfigError("config file " + path + ": " + e.what());
    }
  }
  for (const auto& [name, value] : env) {
    if (name.rfind(kEnvPrefix, 0) != 0) continue;
    if (name == "HERALD_CONFIG") continue;
    bool provider_secret = false;
    for (auto& p : c.providers) {
      if (name == ProviderSecretVariable(p.name)) {
        p.secret = value;
        provider_secret = true;
      }
    }
    if (provider_secret) continue;
    const Option* match = nullptr;
    for (const auto& o : Options()) {
      if (name == o.env) match = &o;
    }
    if (!match) throw ConfigError(name + ": unknown environment variable");
    match->apply(c, value);
  }
  if (c.suppression_keys.empty()) {
    throw ConfigError("HERALD_SUPPRESSION_KEYS: required (a secret, environment only)");
  }
  if (c.link_keys.empty()) c.link_keys = c.suppression_keys;
  CheckListenersDistinct(c);
  return c;
}

std::string ProviderSecretVariable(const std::string& provider_name) {
  std::string v = "HERALD_PROVIDER_";
  for (char ch : provider_name) {
    v.push_back(isalnum(static_cast<unsigned char>(ch))
                    ? static_cast<char>(toupper(static_cast<unsigned char>(ch)))
                    : '_');
  }
  return v + "_SECRET";
}

std::map<std::string, std::string> ProcessEnvironment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    std::string name = entry.substr(0, eq);
    if (name.rfind(kEnvPrefix, 0) == 0) env[name] = entry.substr(eq + 1);
  }
  return env;
}

std::string DescribeOptions() {
  std::ostringstream out;
  out << "Configuration: a YAML file (--config FILE or HERALD_CONFIG) and HERALD_* variables,\n"
         "which override the file. Unknown keys and variables stop start-up.\n\n";
  for (const auto& o : Options()) {
    out << "  " << (o.file_key ? o.file_key : "(environment only)") << "  /  " << o.env
        << "\n      " << o.help << "\n      default: " << o.default_text << "\n";
  }
  out << "  topics  (file only)\n"
         "      Extra topics: list of {name, marketing (default true), description}. Built in:\n"
         "      product_news, special_offers, events (marketing) and service.\n"
         "  clients  (file only)\n"
         "      API clients: list of {id, key_sha256, scopes: [crm|scheduler|privacy|admin]}.\n"
         "      key_sha256 is the SHA-256 hex of the bearer key; the key itself is never stored.\n"
         "  providers  (file only)\n"
         "      Outbound adapters: list of {name, kind: smtp|twilio|json_sms, country,\n"
         "      priority, rate_per_second, burst, settings: {...}}. The password, token or\n"
         "      auth value comes from HERALD_PROVIDER_<NAME>_SECRET only.\n";
  out << DescribePrivacyConfig();
  return out.str();
}

}  // namespace herald
