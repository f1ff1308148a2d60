#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/config/section.h"

namespace herald {

enum class Scope { kCrm, kScheduler, kPrivacy, kAdmin };
const char* ScopeName(Scope s);

struct ApiClient {
  std::string id;
  std::string key_sha256_hex;  // SHA-256 of the bearer key, lower-case hex
  std::set<Scope> scopes;
};

// The languages every text a recipient reads is written in: a configured topic carries its
// label and description in each of them (E9).
inline constexpr const char* kTextLanguages[] = {"az", "ru", "en"};

struct TopicConfig {
  std::string name;
  bool marketing = true;
  // By language code (every one of kTextLanguages): the topic's name as pages show it, and
  // a sentence saying what it sends.
  std::map<std::string, std::string> label;
  std::map<std::string, std::string> description;
};

// An outbound adapter instance (an SMTP relay, an SMS provider).
struct ProviderConfig {
  std::string name;
  std::string kind;            // smtp, twilio, json_sms
  std::string country;         // ISO 3166-1 alpha-2, upper case
  int priority = 100;          // lower goes first
  double rate_per_second = 0;  // 0: unlimited
  double burst = 10;
  int breaker_failures = 5;  // consecutive transport failures that take it out
  int breaker_open_s = 30;   // how long it stays out before one probe is let through
  std::map<std::string, std::string> settings;  // kind-specific, checked by the factory
  std::string secret;                           // from HERALD_PROVIDER_<NAME>_SECRET only
};

// The core section: what the whole process shares (its roles, the database, the keys, the
// gRPC and ops listeners, API clients, topics, and the providers every role may build).
// Each service's own options live in its section (docs/architecture.md, "Configuration").
struct CoreConfig {
  std::string database_url = "postgresql:///herald";
  int database_pool_size = 8;
  int database_acquire_timeout_ms = 2000;
  std::string grpc_listen = "127.0.0.1:50051";
  bool grpc_reflection = true;  // behind the API key check either way
  // The ops listener (/healthz, /readyz, /metrics) that every role starts (docs/security.md).
  std::string ops_listen = "127.0.0.1:9090";
  // A scrape serves the text computed at most this long ago (0: computed on every scrape).
  int ops_metrics_cache_ms = 5000;
  // Secret, environment only: bearer token /metrics requires; empty: none.
  std::string ops_metrics_token;
  std::set<std::string> roles = {"api", "web", "worker"};
  std::string default_phone_region = "RU";
  std::vector<std::string> home_jurisdictions = {"RU"};
  std::string public_base_url = "http://127.0.0.1:8080";
  std::string log_level = "info";
  std::vector<TopicConfig> topics;
  std::vector<ApiClient> clients;
  // Secret, environment only: "id:hexsecret,..." newest first.
  std::string suppression_keys;
  // Secret, environment only: keys of link tokens; defaults to the suppression keys (the
  // token MAC is domain-separated).
  std::string link_keys;
  // Files holding the rings instead (a mounted Secret); read at start and again whenever
  // they change.
  std::string suppression_keys_file;
  std::string link_keys_file;
  // How often mounted files (certificates, CAs, key rings) are checked for a change.
  int files_reload_interval_s = 10;
  std::vector<ProviderConfig> providers;
};

// The core section's options and blocks (topics, clients, providers).
const config::Section<CoreConfig>& CoreSection();

// The variable that carries a provider's secret: HERALD_PROVIDER_<NAME>_SECRET.
std::string ProviderSecretVariable(const std::string& provider_name);

}  // namespace herald
