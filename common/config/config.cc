#include "common/config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <regex>
#include <sstream>

#include "common/config/adapter_kinds.h"
#include "common/strict_int.h"

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

int ParseInt(const std::string& key, const std::string& text, int min, int max) {
  auto v = ParseStrictInt<int>(text);
  if (!v || *v < min || *v > max) {
    throw ConfigError(key + ": expected a whole number from " + std::to_string(min) + " to " +
                      std::to_string(max));
  }
  return *v;
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

template <typename Items>
std::string JoinList(const Items& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
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

std::string RejectPasswordInUrl(const std::string& key, const std::string& url) {
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
  return url;
}

// host:port (IPv6 hosts in brackets); port 0 picks a free port.
std::string ListenAddress(const std::string& key, const std::string& v) {
  auto colon = v.rfind(':');
  auto port = colon == std::string::npos || colon == 0
                  ? std::nullopt
                  : ParseStrictInt<int>(std::string_view(v).substr(colon + 1));
  if (!port || *port < 0 || *port > 65535) {
    throw ConfigError(key + ": expected host:port (port 0-65535)");
  }
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

// A value check: returns the value to store (normalised) or throws ConfigError naming `name`.
using Check = std::function<std::string(const std::string& name, const std::string& value)>;

// One scalar option of the table. Everything about it comes from its one line: the file key,
// the variable (derived from the key unless the line names another), the default (read from
// a default-constructed Config through the member), the bounds, the help. Loading, the
// environment overrides, the unknown-key check and --help all read this table.
struct Option {
  const char* key = nullptr;  // dotted path in YAML; nullptr: environment only (a secret)
  std::string env;
  std::string help;
  OptionInfo::Kind kind = OptionInfo::Kind::kText;
  int min = 0, max = 0;              // kInt
  std::vector<std::string> choices;  // kChoice
  // Stores `text`; `name` is what an error names (the key, and the variable it came from).
  std::function<void(Config&, const std::string& name, const std::string& text)> apply;
  std::function<std::string(const Config&)> get;  // the value as text
  std::string shown_default;                      // --help's default when get's is not apt
  Check file_only_check;                          // applied to file values only

  Option& Env(const char* name) {
    env = name;
    return *this;
  }
  Option& Shown(std::string text) {
    shown_default = std::move(text);
    return *this;
  }
  Option& FileCheck(Check check) {
    file_only_check = std::move(check);
    return *this;
  }
};

std::string EnvName(const char* key) {
  std::string env = kEnvPrefix;
  for (const char* p = key; *p; ++p) {
    env.push_back(*p == '.' ? '_' : static_cast<char>(toupper(static_cast<unsigned char>(*p))));
  }
  return env;
}

Option Make(const char* key, OptionInfo::Kind kind, std::string help,
            std::function<void(Config&, const std::string&, const std::string&)> apply,
            std::function<std::string(const Config&)> get) {
  Option o;
  o.key = key;
  o.env = EnvName(key);
  o.kind = kind;
  o.help = std::move(help);
  o.apply = std::move(apply);
  o.get = std::move(get);
  return o;
}

Option Int(const char* key, int Config::*member, int min, int max, const std::string& help) {
  Option o = Make(
      key, OptionInfo::Kind::kInt,
      help + " (" + std::to_string(min) + "-" + std::to_string(max) + ")",
      [member, min, max](Config& c, const std::string& name, const std::string& v) {
        c.*member = ParseInt(name, v, min, max);
      },
      [member](const Config& c) { return std::to_string(c.*member); });
  o.min = min;
  o.max = max;
  return o;
}

Option Text(const char* key, std::string Config::*member, std::string help, Check check = {}) {
  return Make(
      key, OptionInfo::Kind::kText, std::move(help),
      [member, check](Config& c, const std::string& name, const std::string& v) {
        c.*member = check ? check(name, v) : v;
      },
      [member](const Config& c) { return c.*member; });
}

Option Bool(const char* key, bool Config::*member, std::string help) {
  return Make(
      key, OptionInfo::Kind::kBool, help + " (true or false)",
      [member](Config& c, const std::string& name, const std::string& v) {
        if (v != "true" && v != "false") throw ConfigError(name + ": true or false");
        c.*member = v == "true";
      },
      [member](const Config& c) { return std::string(c.*member ? "true" : "false"); });
}

Option Choice(const char* key, std::string Config::*member, std::vector<std::string> choices,
              std::string help) {
  std::string expected = JoinList(choices);
  Option o = Text(key, member, help + " (" + expected + ")",
                  [choices, expected](const std::string& name, const std::string& v) {
                    if (std::find(choices.begin(), choices.end(), v) == choices.end()) {
                      throw ConfigError(name + ": expected one of " + expected);
                    }
                    return v;
                  });
  o.kind = OptionInfo::Kind::kChoice;
  o.choices = std::move(choices);
  return o;
}

// A comma-separated list in the environment, a YAML list or one value in the file.
Option List(const char* key, std::vector<std::string> Config::*member, std::string help,
            Check item_check = {}) {
  return Make(
      key, OptionInfo::Kind::kList, std::move(help),
      [member, item_check](Config& c, const std::string& name, const std::string& v) {
        std::vector<std::string> items;
        for (auto& item : SplitList(v)) items.push_back(item_check ? item_check(name, item) : item);
        c.*member = std::move(items);
      },
      [member](const Config& c) { return JoinList(c.*member); });
}

// One entry of a map-valued member (an SMS footer or reply per language).
Option Slot(const char* key, std::map<std::string, std::string> Config::*member, std::string slot,
            std::string help, Check check = {}) {
  return Make(
      key, OptionInfo::Kind::kText, std::move(help),
      [member, slot, check](Config& c, const std::string& name, const std::string& v) {
        (c.*member)[slot] = check ? check(name, v) : v;
      },
      [member, slot](const Config& c) {
        auto it = (c.*member).find(slot);
        return it == (c.*member).end() ? std::string() : it->second;
      });
}

// Environment only: never in the file, never printed.
Option Secret(const char* env, std::string Config::*member, size_t min_size, std::string shown,
              std::string help) {
  Option o;
  o.env = env;
  o.kind = OptionInfo::Kind::kSecret;
  o.help = "Secret. " + help;
  o.get = [member](const Config& c) { return c.*member; };
  o.apply = [member, min_size](Config& c, const std::string& name, const std::string& v) {
    if (!v.empty() && v.size() < min_size) {
      throw ConfigError(name + ": at least " + std::to_string(min_size) + " characters");
    }
    c.*member = v;
  };
  o.Shown(std::move(shown));
  return o;
}

std::string NotEmpty(const std::string& name, const std::string& v) {
  if (v.empty()) throw ConfigError(name + ": must not be empty");
  return v;
}

// A reply text to an SMS keyword: plain text (it is sent as a template with no variables).
std::string PlainReply(const std::string& name, const std::string& v) {
  if (v.find("{{") != std::string::npos) throw ConfigError(name + ": plain text only, no '{{'");
  return NotEmpty(name, v);
}

std::string AuthservId(const std::string& name, const std::string& id) {
  if (id.find_first_of(" \t;()\"") != std::string::npos) {
    throw ConfigError(name + ": an authserv-id is one token");
  }
  return id;
}

std::string HttpUrlOrEmpty(const std::string& name, const std::string& v) {
  if (!v.empty() && v.rfind("https://", 0) != 0 && v.rfind("http://", 0) != 0) {
    throw ConfigError(name + ": expected an http or https URL");
  }
  return v;
}

Option Reply(const char* key, const char* slot, const char* what) {
  return Slot(key, &Config::sms_replies, slot,
              std::string("Reply to ") + what + " (plain text; unset: the built-in one).",
              PlainReply)
      .Shown("(built in)");
}

// The table, one section after another; each section's keys share their first segment.
const std::vector<Option>& Options() {
  using C = Config;
  static const std::vector<Option> kOptions = {
      // Process.
      Make(
          "roles", OptionInfo::Kind::kList, "Roles this process runs: api, web, worker.",
          [](C& c, const std::string& name, const std::string& v) {
            c.roles = ParseRoles(name, SplitList(v));
          },
          [](const C& c) { return JoinList(c.roles); }),
      Choice("log_level", &C::log_level, {"debug", "info", "warn", "error"}, "Log level."),
      Text("public_base_url", &C::public_base_url,
           "Base of every link and webhook URL the service builds."),
      Text("addresses.default_phone_region", &C::default_phone_region,
           "Region for phone numbers written without a country code (RU, AZ, ...).", UpperRegion)
          .Env("HERALD_DEFAULT_PHONE_REGION"),
      List("home_jurisdictions", &C::home_jurisdictions,
           "Countries whose providers need no cross-border consent (152-FZ art. 12).", UpperRegion),
      // Database.
      Text("database.url", &C::database_url,
           "libpq connection string of the PostgreSQL 15 primary (gate reads must see the "
           "primary).")
          .FileCheck(RejectPasswordInUrl),
      Int("database.pool_size", &C::database_pool_size, 1, 256, "Connections in the pool."),
      Int("database.acquire_timeout_ms", &C::database_acquire_timeout_ms, 1, 600000,
          "How long a call waits for a free connection before failing UNAVAILABLE."),
      // Suppression hashes and link tokens.
      Secret("HERALD_SUPPRESSION_KEYS", &C::suppression_keys, 0, "(required)",
             "Keys of the suppression hash, 'id:hexsecret,...' newest first, each secret at "
             "least 32 bytes. Retire a key only after re-hashing its rows."),
      Secret("HERALD_LINK_KEYS", &C::link_keys, 0, "(the suppression keys)",
             "Keys of unsubscribe and preference link tokens, 'id:hexsecret,...' newest first. "
             "Older keys keep verifying until removed."),
      // gRPC API (api role).
      Text("grpc.listen", &C::grpc_listen, "gRPC listen address (api role).", ListenAddress),
      Bool("grpc.reflection", &C::grpc_reflection,
           "Serve gRPC server reflection (the schema; any valid API key)."),
      // Ops listener (every role).
      Text("ops.listen", &C::ops_listen,
           "Ops listen address, started by every role: /healthz (the process answers), /readyz "
           "(database reachable, migrations applied), /metrics.",
           ListenAddress),
      Int("ops.metrics_cache_ms", &C::ops_metrics_cache_ms, 0, 600000,
          "A /metrics scrape serves text computed at most this long ago; 0: every scrape "
          "computes."),
      Secret("HERALD_OPS_METRICS_TOKEN", &C::ops_metrics_token, 16,
             "(empty: /metrics needs no token)",
             "Bearer token a scrape of /metrics must send (at least 16 characters)."),
      // Public HTTP listener (web role).
      Text("http.listen", &C::http_listen,
           "Public HTTP listen address (web role): recipient pages /u/, /p/ and SMS hooks "
           "/hooks/sms/.",
           ListenAddress),
      Int("http.threads", &C::http_threads, 1, 256, "HTTP worker threads."),
      Int("http.rate_limit_per_minute", &C::http_rate_limit_per_minute, 0, 600000,
          "Requests per minute per client IP on public paths (/u/, /p/, /hooks/); 0: no "
          "limit."),
      Int("http.rate_limit_burst", &C::http_rate_limit_burst, 1, 100000,
          "Requests a client IP may make at once before the per-minute rate applies."),
      List("http.trusted_proxies", &C::http_trusted_proxies,
           "Reverse proxies (IPs or CIDRs) whose X-Forwarded-For names the client; from any "
           "other peer the header is ignored."),
      Int("http.request_timeout_ms", &C::http_request_timeout_ms, 100, 600000,
          "Time a client has to send a whole request, head and body, from its first byte (a "
          "new connection: from the accept); over it, 408 and close."),
      Int("http.max_connections", &C::http_max_connections, 16, 100000,
          "Open connections per HTTP listener; at the cap a new one replaces the oldest idle "
          "or slow one, or is refused."),
      Int("http.max_connections_per_client", &C::http_max_connections_per_client, 1, 100000,
          "Open connections per client address (IPv6: per /64); http.trusted_proxies are "
          "exempt."),
      Int("http.max_uri_bytes", &C::http_max_uri_bytes, 256, 8192,
          "Longest request line (method, URI, version); 414 beyond."),
      Int("http.max_header_bytes", &C::http_max_header_bytes, 1024, 1048576,
          "Largest request head (request line and headers); 431 and close beyond."),
      Int("http.max_headers", &C::http_max_headers, 8, 10000,
          "Most header fields in a request; 431 beyond."),
      Int("http.max_body_bytes", &C::http_max_body_bytes, 1024, 16777216,
          "Body limit of the public pages and SMS hooks (the mail hook has "
          "inbound_mail.max_bytes); 413 naming the limit beyond."),
      Int("http.hooks_rate_limit_per_minute", &C::http_hooks_rate_limit_per_minute, 0, 600000,
          "Requests per minute per client on the secret-authenticated hooks (/hooks/email/, "
          "/hooks/sms/), a bucket apart from the public pages'; 0: no limit."),
      Int("http.hooks_rate_limit_burst", &C::http_hooks_rate_limit_burst, 1, 100000,
          "Requests a client may make at once on those hooks."),
      // Recipient pages (web role).
      Int("links.lifetime_days", &C::links_lifetime_days, 1, 36500,
          "Days a link opens the full preference center; older genuine links still "
          "unsubscribe but get a reduced page."),
      Text("links.policy_url", &C::links_policy_url,
           "The operator's privacy policy (http or https URL), linked from the preference "
           "center; empty: no link.",
           HttpUrlOrEmpty),
      // Inbound e-mail hook (web role).
      Text("inbound_mail.listen", &C::inbound_mail_listen,
           "Listen address of POST /hooks/email/inbound for the local MTA (web role, only when "
           "HERALD_INBOUND_MAIL_SECRET is set).",
           ListenAddress),
      Secret("HERALD_INBOUND_MAIL_SECRET", &C::inbound_mail_secret, 16,
             "(empty: the inbound mail hook is off)",
             "Bearer secret of POST /hooks/email/inbound (at least 16 characters); the MTA "
             "pipe (heraldctl inbound-mail) sends it."),
      Int("inbound_mail.max_bytes", &C::inbound_mail_max_bytes, 1024, 26214400,
          "Largest inbound message accepted, in bytes; larger ones get 413."),
      List("inbound_mail.trusted_authserv_ids", &C::inbound_mail_trusted_authserv_ids,
           "authserv-ids of the operator's own MTA (a list): the topmost "
           "Authentication-Results of one of them saying dmarc=pass for the From: domain "
           "confirms a revocation or rectification marker at once; empty: every such marker "
           "waits for its e-mailed link.",
           AuthservId),
      // Outgoing e-mail.
      Text("email.from_address", &C::email_from_address, "Envelope and From address of e-mail."),
      Text("email.from_name", &C::email_from_name, "Display name in From (UTF-8)."),
      Text("email.unsubscribe_mailto", &C::unsubscribe_mailto,
           "Mailbox of the mailto: List-Unsubscribe fallback (its subject is the policy's "
           "refusal marker); empty: no mailto fallback."),
      // Outbox (worker role).
      Int("dispatch.workers", &C::dispatch_workers, 1, 64,
          "Outbox worker threads of the worker role."),
      Int("dispatch.batch_size", &C::dispatch_batch_size, 1, 10000, "Messages one claim takes."),
      Int("dispatch.lease_s", &C::dispatch_lease_s, 5, 3600,
          "Seconds a claim is held before another worker may reclaim it."),
      Int("dispatch.retry_base_s", &C::dispatch_retry_base_s, 1, 3600,
          "First retry delay; each retry doubles it (with jitter) up to an hour."),
      Int("dispatch.max_attempts", &C::dispatch_max_attempts, 1, 100,
          "Attempts before a message fails."),
      Int("dispatch.max_age_s", &C::dispatch_max_age_s, 60, 2592000,
          "Age after which an unsent message fails instead of being retried."),
      Int("dispatch.send_concurrency", &C::dispatch_send_concurrency, 1, 64,
          "Messages of one claimed batch a worker thread sends at once, each over its own "
          "provider connection."),
      // Eligibility gate.
      Int("gate.coalesce_max_batch", &C::gate_coalesce_max_batch, 1, 10000,
          "Concurrent CheckEligibility calls answered by one gate statement run; 1: each call "
          "alone."),
      // SMS: footers of outgoing marketing, keywords and replies of inbound.
      Slot("sms.footer_az", &C::sms_footers, "az",
           "Opt-out footer of marketing SMS for Azerbaijani (the default language), e.g. "
           "'DAYAN -> 1234'."),
      Slot("sms.footer_ru", &C::sms_footers, "ru", "The same footer in Russian."),
      Slot("sms.footer_en", &C::sms_footers, "en", "The same footer in English."),
      List("sms.stop_keywords", &C::sms_stop_keywords,
           "Inbound SMS keywords that opt the number out (a list; the message must be the "
           "keyword alone, case and surrounding space ignored).")
          .Shown("(built in: STANDARDS S1)"),
      List("sms.start_keywords", &C::sms_start_keywords,
           "Inbound SMS keywords that opt back in after an SMS opt-out.")
          .Shown("(built in: STANDARDS S2)"),
      List("sms.help_keywords", &C::sms_help_keywords,
           "Inbound SMS keywords answered with the help text.")
          .Shown("(built in: STANDARDS S2)"),
      Text("sms.start_document_version", &C::sms_start_document_version,
           "Consent document version recorded on the consent a START grants."),
      Reply("sms.reply_stop_az", "stop.az", "STOP in Azerbaijani"),
      Reply("sms.reply_stop_ru", "stop.ru", "STOP in Russian"),
      Reply("sms.reply_stop_en", "stop.en", "STOP in English"),
      Reply("sms.reply_start_az", "start.az", "START in Azerbaijani"),
      Reply("sms.reply_start_ru", "start.ru", "START in Russian"),
      Reply("sms.reply_start_en", "start.en", "START in English"),
      Reply("sms.reply_help_az", "help.az", "HELP in Azerbaijani"),
      Reply("sms.reply_help_ru", "help.ru", "HELP in Russian"),
      Reply("sms.reply_help_en", "help.en", "HELP in English"),
      // Destruction acts and retention (docs/privacy-destruction.md).
      Text("operator.name", &C::operator_name,
           "The personal-data operator's legal name, printed on destruction acts."),
      Text("operator.address", &C::operator_address,
           "The operator's address, printed on destruction acts."),
      Text("operator.information_system", &C::operator_information_system,
           "Name of the information system in destruction records and acts.", NotEmpty),
      Int("retention.message_content_days", &C::retention_message_content_days, 1, 3650,
          "Days a settled message keeps its content and provider texts."),
      Int("retention.destruction_record_years", &C::retention_destruction_record_years, 1, 100,
          "Years destruction records and acts are kept before they are purged (Roskomnadzor "
          "order 179 asks for 3)."),
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
    // The kind's registration checks the kind and every setting (types, bounds, unknown keys).
    AdapterSettings::Check(p, where);
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

void ApplyPrivacy(Config& c, const YAML::Node& node) { ApplyPrivacyConfig(c.privacy, node); }

std::string DescribeTopics() {
  return "  topics  (file only)\n"
         "      Extra topics: list of {name, marketing (default true), description}. Built in:\n"
         "      product_news, special_offers, events (marketing) and service.\n";
}

std::string DescribeClients() {
  return "  clients  (file only)\n"
         "      API clients: list of {id, key_sha256, scopes: [crm|scheduler|privacy|admin]}.\n"
         "      key_sha256 is the SHA-256 hex of the bearer key; the key itself is never stored.\n";
}

std::string DescribeProviders() {
  std::string kinds;
  for (const auto& k : AdapterKinds()) kinds += (kinds.empty() ? "" : "|") + std::string(k.name);
  return "  providers  (file only)\n"
         "      Outbound adapters: list of {name, kind: " +
         kinds +
         ", country,\n"
         "      priority, rate_per_second, burst, breaker_failures, breaker_open_s,\n"
         "      settings: {...}}. The secret comes from HERALD_PROVIDER_<NAME>_SECRET only.\n" +
         DescribeAdapterKinds();
}

// Top-level keys whose value is a structure (lists of maps, the privacy section) rather than
// a scalar option; each parses and describes itself.
struct Block {
  const char* key;
  void (*apply)(Config&, const YAML::Node&);
  std::string (*describe)();
};

const Block kBlocks[] = {
    {"topics", ApplyTopics, DescribeTopics},
    {"clients", ApplyClients, DescribeClients},
    {"providers", ApplyProviders, DescribeProviders},
    {"privacy", ApplyPrivacy, DescribePrivacyConfig},
};

// An environment-only option written in the file under its variable's name (lower case,
// without HERALD_): refused naming the variable, and never echoing the value.
const Option* SecretNamed(const std::string& key) {
  for (const auto& o : Options()) {
    if (o.key != nullptr) continue;
    std::string as_key = o.env.substr(std::size(kEnvPrefix) - 1);
    for (auto& ch : as_key) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    if (key == as_key) return &o;
  }
  return nullptr;
}

void ApplyFile(Config& c, const YAML::Node& root, const std::string& prefix) {
  if (!root.IsMap()) {
    throw ConfigError((prefix.empty() ? std::string("config file") : prefix) + ": expected a map");
  }
  for (auto it = root.begin(); it != root.end(); ++it) {
    std::string key = prefix + it->first.as<std::string>();
    if (prefix.empty()) {
      auto block = std::find_if(std::begin(kBlocks), std::end(kBlocks),
                                [&](const Block& b) { return key == b.key; });
      if (block != std::end(kBlocks)) {
        block->apply(c, it->second);
        continue;
      }
    }
    if (const Option* secret = SecretNamed(key)) {
      throw ConfigError(key + ": a secret; set " + secret->env + " instead");
    }
    const Option* match = nullptr;
    bool is_section = false;
    for (const auto& o : Options()) {
      if (o.key == nullptr) continue;
      if (key == o.key) match = &o;
      if (std::string(o.key).rfind(key + ".", 0) == 0) is_section = true;
    }
    if (match) {
      std::string text = ScalarText(key, it->second);
      if (match->file_only_check) text = match->file_only_check(key, text);
      match->apply(c, key, text);
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
    if (!match->key) {
      match->apply(c, name, value);
      continue;
    }
    // Errors start "key: ..." wherever the value came from; the variable is named after.
    try {
      match->apply(c, match->key, value);
    } catch (const std::exception& e) {
      throw ConfigError(std::string(e.what()) + " (set by " + name + ")");
    }
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
         "which override the file. Unknown keys and variables stop start-up; whole numbers\n"
         "are digits only (no units), within the bounds shown.\n\n";
  const Config defaults;
  for (const auto& o : Options()) {
    std::string shown = o.shown_default.empty() ? o.get(defaults) : o.shown_default;
    out << "  " << (o.key ? o.key : "(environment only)") << "  /  " << o.env << "\n      "
        << o.help << "\n      default: " << (shown.empty() ? "(empty)" : shown) << "\n";
  }
  for (const auto& b : kBlocks) out << b.describe();
  return out.str();
}

std::vector<OptionInfo> OptionTable() {
  std::vector<OptionInfo> out;
  for (const auto& o : Options()) {
    out.push_back({o.key ? o.key : "", o.env, o.kind, o.min, o.max, o.choices, o.help});
  }
  return out;
}

std::string OptionValue(const Config& config, const std::string& key_or_env) {
  for (const auto& o : Options()) {
    if ((o.key && key_or_env == o.key) || key_or_env == o.env) return o.get(config);
  }
  throw ConfigError(key_or_env + ": unknown key");
}

}  // namespace herald
