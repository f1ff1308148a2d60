#include "common/config/config.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <string_view>

#include "common/config/adapter_kinds.h"
#include "common/crypto/key_ring.h"

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

// A libpq key=value "password" keyword: any case, at the start or after white space, white
// space allowed before its '='. Scanned by hand, not with std::regex, whose matcher recurses
// once per character: a long run of white space overflowed the stack.
bool HasPasswordKeyword(std::string_view url) {
  auto space = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
  };
  constexpr std::string_view kKeyword = "password";
  for (size_t at = 0; at + kKeyword.size() <= url.size(); ++at) {
    if (at > 0 && !space(url[at - 1])) continue;
    bool same = true;
    for (size_t k = 0; k < kKeyword.size() && same; ++k) {
      same = std::tolower(static_cast<unsigned char>(url[at + k])) == kKeyword[k];
    }
    if (!same) continue;
    size_t i = at + kKeyword.size();
    while (i < url.size() && space(url[i])) ++i;
    if (i < url.size() && url[i] == '=') return true;
  }
  return false;
}

std::string RejectPasswordInUrl(const std::string& key, const std::string& url) {
  auto scheme = url.find("://");
  auto at = url.find('@');
  bool userinfo_password = scheme != std::string::npos && at != std::string::npos &&
                           url.substr(scheme + 3, at - scheme - 3).find(':') != std::string::npos;
  if (userinfo_password || HasPasswordKeyword(url) || url.find("password=") != std::string::npos) {
    throw ConfigError(key +
                      ": a password may not be written in the config file; set "
                      "HERALD_DATABASE_URL or PGPASSWORD in the environment");
  }
  return url;
}

// A topic's texts by language: a map of az, ru and en, each a non-empty string.
std::map<std::string, std::string> ParseTexts(const std::string& where, const YAML::Node& node) {
  if (!node.IsMap()) {
    throw ConfigError(where + ": expected a map of texts by language: {az: ..., ru: ..., en: ...}");
  }
  std::map<std::string, std::string> texts;
  for (auto it = node.begin(); it != node.end(); ++it) {
    std::string language = it->first.as<std::string>();
    bool known = false;
    for (const char* l : kTextLanguages) known = known || language == l;
    if (!known) throw ConfigError(where + "." + language + ": unknown language (az, ru, en)");
    if (!it->second.IsScalar() || it->second.as<std::string>().empty()) {
      throw ConfigError(where + "." + language + ": expected a non-empty text");
    }
    texts[language] = it->second.as<std::string>();
  }
  return texts;
}

// Top-level keys whose value is a list of maps rather than a scalar option.
void ApplyTopics(CoreConfig& c, const YAML::Node& node) {
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
      else if (k == "label")
        topic.label = ParseTexts(where + ".label", it->second);
      else if (k == "description")
        topic.description = ParseTexts(where + ".description", it->second);
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
    // E9: a page never mixes languages, so a topic without a text in one of them would show
    // that language's readers another's; refused here, naming the topic and the language.
    for (const auto& [field, texts] :
         {std::pair<const char*, const std::map<std::string, std::string>*>{"label", &topic.label},
          {"description", &topic.description}}) {
      for (const char* language : kTextLanguages) {
        if (!texts->count(language)) {
          throw ConfigError(where + "." + field + "." + language + ": topic '" + topic.name +
                            "' has no " + field + " in language '" + language +
                            "' (every topic needs az, ru and en)");
        }
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

void ApplyClients(CoreConfig& c, const YAML::Node& node) {
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

void ApplyProviders(CoreConfig& c, const YAML::Node& node) {
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
        p.country = config::UpperRegion(where + ".country", v.as<std::string>());
      } else if (k == "priority") {
        p.priority = config::ParseInt(where + ".priority", v.as<std::string>(), 0, 1000000);
      } else if (k == "rate_per_second") {
        p.rate_per_second = v.as<double>();
      } else if (k == "burst") {
        p.burst = v.as<double>();
      } else if (k == "breaker_failures") {
        p.breaker_failures =
            config::ParseInt(where + ".breaker_failures", v.as<std::string>(), 1, 1000);
      } else if (k == "breaker_open_s") {
        p.breaker_open_s =
            config::ParseInt(where + ".breaker_open_s", v.as<std::string>(), 1, 3600);
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

std::string DescribeTopics() {
  return "  topics  (file only)\n"
         "      Extra topics: list of {name, marketing (default true), label, description};\n"
         "      label and description are maps {az, ru, en}, every language required. Built in:\n"
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

// A ring given as a file: its text becomes the ring, as if it came from the variable.
void ReadRingFile(const std::string& variable, const std::string& path, std::string* ring) {
  if (path.empty()) return;
  if (!ring->empty()) {
    throw ConfigError(variable + " and " + variable + "_FILE: set one of them, not both");
  }
  try {
    *ring = crypto::ReadKeyRingFile(path);
  } catch (const std::invalid_argument& e) {
    throw ConfigError(variable + "_FILE: " + e.what());
  }
}

}  // namespace

const config::Section<CoreConfig>& CoreSection() {
  using C = CoreConfig;
  static const config::Section<CoreConfig> kSection{
      {
          // Process.
          config::MakeLine<C>(
              "roles", OptionInfo::Kind::kList, "Roles this process runs: api, web, worker.",
              [](C& c, const std::string& name, const std::string& v) {
                c.roles = ParseRoles(name, config::SplitList(v));
              },
              [](const C& c) {
                return config::JoinList({c.roles.begin(), c.roles.end()});
              }),
          config::Choice("log_level", &C::log_level, {"debug", "info", "warn", "error"},
                         "Log level."),
          config::Text("public_base_url", &C::public_base_url,
                       "Base of every link and webhook URL the service builds."),
          config::Text("addresses.default_phone_region", &C::default_phone_region,
                       "Region for phone numbers written without a country code (RU, AZ, ...).",
                       config::UpperRegion)
              .Env("HERALD_DEFAULT_PHONE_REGION"),
          config::List("home_jurisdictions", &C::home_jurisdictions,
                       "Countries whose providers need no cross-border consent (152-FZ art. 12).",
                       config::UpperRegion),
          // Database.
          config::Text(
              "database.url", &C::database_url,
              "libpq connection string of the PostgreSQL 15 primary (gate reads must see the "
              "primary).")
              .FileCheck(RejectPasswordInUrl),
          config::Int("database.pool_size", &C::database_pool_size, 1, 256,
                      "Connections in the pool."),
          config::Int("database.acquire_timeout_ms", &C::database_acquire_timeout_ms, 1, 600000,
                      "How long a call waits for a free connection before failing UNAVAILABLE."),
          // Suppression hashes and link tokens.
          config::Secret(
              "HERALD_SUPPRESSION_KEYS", &C::suppression_keys, 0, "(required)",
              "Keys of the suppression hash, 'id:hexsecret,...' newest first, each secret at "
              "least 32 bytes. Retire a key only after re-hashing its rows."),
          config::Secret(
              "HERALD_LINK_KEYS", &C::link_keys, 0, "(the suppression keys)",
              "Keys of unsubscribe and preference link tokens, 'id:hexsecret,...' newest first. "
              "Older keys keep verifying until removed."),
          config::Text("suppression_keys_file", &C::suppression_keys_file,
                       "File holding the suppression keys instead of HERALD_SUPPRESSION_KEYS (a "
                       "mounted Secret); re-read when it changes."),
          config::Text("link_keys_file", &C::link_keys_file,
                       "File holding the link keys instead of HERALD_LINK_KEYS; re-read when it "
                       "changes (default: the suppression keys' file)."),
          config::Int("files.reload_interval_s", &C::files_reload_interval_s, 1, 3600,
                      "How often certificate, CA and key ring files are checked for a change."),
          // gRPC API (api role).
          config::Text("grpc.listen", &C::grpc_listen, "gRPC listen address (api role).",
                       config::ListenAddress),
          config::Bool("grpc.reflection", &C::grpc_reflection,
                       "Serve gRPC server reflection (the schema; any valid API key)."),
          // Ops listener (every role).
          config::Text(
              "ops.listen", &C::ops_listen,
              "Ops listen address, started by every role: /healthz (the process answers), /readyz "
              "(database reachable, migrations applied), /metrics.",
              config::ListenAddress),
          config::Int(
              "ops.metrics_cache_ms", &C::ops_metrics_cache_ms, 0, 600000,
              "A /metrics scrape serves text computed at most this long ago; 0: every scrape "
              "computes."),
          config::Secret("HERALD_OPS_METRICS_TOKEN", &C::ops_metrics_token, 16,
                         "(empty: /metrics needs no token)",
                         "Bearer token a scrape of /metrics must send (at least 16 characters)."),
      },
      {
          {"topics", ApplyTopics, DescribeTopics},
          {"clients", ApplyClients, DescribeClients},
          {"providers", ApplyProviders, DescribeProviders,
           [](C& c, const std::string& name, const std::string& value) {
             bool claimed = false;
             for (auto& p : c.providers) {
               if (name == ProviderSecretVariable(p.name)) {
                 p.secret = value;
                 claimed = true;
               }
             }
             return claimed;
           }},
      },
      [](C& c) {
        ReadRingFile("HERALD_SUPPRESSION_KEYS", c.suppression_keys_file, &c.suppression_keys);
        ReadRingFile("HERALD_LINK_KEYS", c.link_keys_file, &c.link_keys);
        if (c.suppression_keys.empty()) {
          throw ConfigError("HERALD_SUPPRESSION_KEYS: required (a secret, environment only)");
        }
        if (c.link_keys.empty()) {
          // The link ring is the suppression ring, and follows its file when it has one.
          c.link_keys = c.suppression_keys;
          c.link_keys_file = c.suppression_keys_file;
        }
      }};
  return kSection;
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

}  // namespace herald
