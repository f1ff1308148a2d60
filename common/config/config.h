#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/config/privacy_config.h"

namespace herald {

enum class Scope { kCrm, kScheduler, kPrivacy, kAdmin };
const char* ScopeName(Scope s);

struct ApiClient {
  std::string id;
  std::string key_sha256_hex;  // SHA-256 of the bearer key, lower-case hex
  std::set<Scope> scopes;
};

struct TopicConfig {
  std::string name;
  bool marketing = true;
  std::string description;
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

struct Config {
  std::string database_url = "postgresql:///herald";
  int database_pool_size = 8;
  int database_acquire_timeout_ms = 2000;
  std::string grpc_listen = "127.0.0.1:50051";
  bool grpc_reflection = true;  // behind the API key check either way
  // The listener table (docs/security.md): public pages and SMS hooks (web role), the
  // inbound-mail hook for the local MTA (web role, only with a secret), the gRPC API (api
  // role) and the ops listener (/healthz, /readyz, /metrics) that every role starts.
  std::string http_listen = "127.0.0.1:8080";
  std::string inbound_mail_listen = "127.0.0.1:8081";
  std::string ops_listen = "127.0.0.1:9090";
  // A scrape serves the text computed at most this long ago (0: computed on every scrape).
  int ops_metrics_cache_ms = 5000;
  // Secret, environment only: bearer token /metrics requires; empty: none.
  std::string ops_metrics_token;
  int http_threads = 32;  // each idle keep-alive connection holds one for up to 2 s
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
  std::string unsubscribe_mailto;
  // Appended to marketing SMS in the subject's language (az, ru, en); empty: no footer.
  std::map<std::string, std::string> sms_footers;
  std::vector<ProviderConfig> providers;
  std::string email_from_address = "no-reply@herald.invalid";
  std::string email_from_name;
  // The operator named on destruction acts (Roskomnadzor order 179), and retention of
  // rendered message content and of destruction records.
  std::string operator_name;
  std::string operator_address;
  std::string operator_information_system = "Herald";
  int retention_message_content_days = 90;
  int retention_destruction_record_years = 3;
  int dispatch_workers = 2;
  int dispatch_batch_size = 100;
  int dispatch_lease_s = 120;
  int dispatch_retry_base_s = 30;
  int dispatch_max_attempts = 8;
  int dispatch_max_age_s = 86400;
  // Data-subject requests: deadlines, holidays, the privacy job.
  PrivacyConfig privacy;
  // SMS keyword replies (inbound hooks). Empty lists: the STANDARDS S1-S2 defaults.
  std::vector<std::string> sms_stop_keywords, sms_start_keywords, sms_help_keywords;
  // Reply texts by "class.language" (stop.az, help.en, ...); unset ones keep the built-ins.
  std::map<std::string, std::string> sms_replies;
  // Consent document version recorded when START grants SMS marketing consent again.
  std::string sms_start_document_version = "sms-start";
  // Recipient pages (web role): /u/{token}, /p/{token}, and the public-endpoint limits.
  int links_lifetime_days = 365;         // older genuine tokens only unsubscribe (reduced page)
  std::string links_policy_url;          // the operator's privacy policy, linked from /p/
  int http_rate_limit_per_minute = 120;  // per client IP on /u/, /p/, /hooks/; 0: off
  int http_rate_limit_burst = 20;
  std::vector<std::string> http_trusted_proxies;  // CIDRs whose X-Forwarded-For we believe
  // The HTTP connection front (every HTTP listener): see docs/configuration.md.
  int http_request_timeout_ms = 10000;  // head and body of one request, whatever the pace
  int http_max_connections = 1024;
  int http_max_connections_per_client = 32;  // trusted proxies exempt
  int http_max_uri_bytes = 8192;             // request line; 414 over it
  int http_max_header_bytes = 16384;         // request head; 431 over it
  int http_max_headers = 100;                // header fields; 431 over it
  int http_max_body_bytes = 65536;           // routes without a limit of their own; 413
  // Secret-authenticated hooks (/hooks/email/, /hooks/sms/): their own per-client bucket.
  int http_hooks_rate_limit_per_minute = 6000;
  int http_hooks_rate_limit_burst = 200;
  // Inbound e-mail hook, POST /hooks/email/inbound (web role). Secret, environment only:
  // the bearer secret MTAs and heraldctl send; empty: the hook is off.
  std::string inbound_mail_secret;
  int inbound_mail_max_bytes = 1048576;
  // authserv-ids of the operator's own MTA whose Authentication-Results dmarc=pass confirms
  // an e-mail marker's sender (STANDARDS §2b); empty: markers wait for their link.
  std::vector<std::string> inbound_mail_trusted_authserv_ids;
  // Messages of one claimed batch sent at once by a worker thread.
  int dispatch_send_concurrency = 4;
  // Concurrent CheckEligibility calls answered by one gate run (1: each alone).
  int gate_coalesce_max_batch = 256;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads the YAML file (empty path: defaults only), then applies HERALD_* variables from
// `env`. Unknown keys and unknown HERALD_* variables are errors naming the key; secrets
// are accepted from the environment only. Throws ConfigError.
Config LoadConfig(const std::string& path, const std::map<std::string, std::string>& env);

// The HERALD_* variables of this process.
std::map<std::string, std::string> ProcessEnvironment();

// The variable that carries a provider's secret: HERALD_PROVIDER_<NAME>_SECRET.
std::string ProviderSecretVariable(const std::string& provider_name);

// Every option with its file key, variable, default and meaning, for --help.
std::string DescribeOptions();

// One scalar option of the table (common/config/config.cc) as --help and tests see it.
struct OptionInfo {
  enum class Kind { kInt, kText, kBool, kChoice, kList, kSecret };
  std::string key;  // dotted file key; empty for a secret (environment only)
  std::string env;  // the HERALD_* variable that overrides it
  Kind kind;
  int min, max;                      // kInt: the bounds, inclusive
  std::vector<std::string> choices;  // kChoice
  std::string help;
};
std::vector<OptionInfo> OptionTable();

// The value of the option named by its file key or variable in `config`, as text (lists
// comma-separated). Throws ConfigError for a name no option has.
std::string OptionValue(const Config& config, const std::string& key_or_env);

}  // namespace herald
