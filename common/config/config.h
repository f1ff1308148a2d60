#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

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

struct Config {
  std::string database_url = "postgresql:///herald";
  int database_pool_size = 8;
  int database_acquire_timeout_ms = 2000;
  std::string grpc_listen = "127.0.0.1:50051";
  std::string http_listen = "127.0.0.1:8080";
  int http_threads = 8;
  std::set<std::string> roles = {"api", "web", "worker"};
  std::string default_phone_region = "RU";
  std::vector<std::string> home_jurisdictions = {"RU"};
  std::string public_base_url = "http://127.0.0.1:8080";
  std::string log_level = "info";
  std::vector<TopicConfig> topics;
  std::vector<ApiClient> clients;
  // Secret, environment only: "id:hexsecret,..." newest first.
  std::string suppression_keys;
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

// Every option with its file key, variable, default and meaning, for --help.
std::string DescribeOptions();

}  // namespace herald
