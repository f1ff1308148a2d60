#include "services/heraldd/herald_config.h"

namespace herald {
namespace {

// The one list of sections; a key or variable declared by two of them stops here.
const config::Schema<HeraldConfig>& Schema() {
  static const config::Schema<HeraldConfig> kSchema =
      config::Schema<HeraldConfig>()
          .Add(&HeraldConfig::core, CoreSection())
          .Add(&HeraldConfig::http, web::HttpSection())
          .Add(&HeraldConfig::json_api, web::JsonApiSection())
          .Add(&HeraldConfig::inbound_mail, inbound::InboundMailSection())
          .Add(&HeraldConfig::dispatch, dispatch::DispatchSection())
          .Add(&HeraldConfig::gate, subscriptions::GateSection())
          .Add(&HeraldConfig::sms, inbound::sms::InboundSmsSection())
          .Add(&HeraldConfig::erasure, privacy::ErasureSection())
          .Add(&HeraldConfig::privacy, PrivacySection())
          .Add(&HeraldConfig::crm, crm::CreatioSection());
  return kSchema;
}

// Two listeners of one process on the same address would fail to bind at start-up with a
// vaguer message; port 0 is exempt (each gets its own free port).
void CheckListenersDistinct(const HeraldConfig& c) {
  struct Entry {
    const char* key;
    const std::string* address;
    bool used;
  };
  const auto& roles = c.core.roles;
  bool web = roles.count("web") > 0;
  bool api = roles.count("api") > 0;
  const Entry entries[] = {
      {"grpc.listen", &c.core.grpc_listen, api},
      {"json_api.listen", &c.json_api.listen, api},
      {"http.listen", &c.http.listen, web},
      {"inbound_mail.listen", &c.inbound_mail.listen, web && !c.inbound_mail.secret.empty()},
      {"ops.listen", &c.core.ops_listen, true}};
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

}  // namespace

HeraldConfig LoadHeraldConfig(const std::string& path,
                              const std::map<std::string, std::string>& env) {
  HeraldConfig c = Schema().Load(path, env);
  CheckListenersDistinct(c);
  return c;
}

std::string DescribeHeraldOptions() { return Schema().Describe(); }

std::vector<OptionInfo> HeraldOptionTable() { return Schema().Table(); }

std::string HeraldOptionValue(const HeraldConfig& config, const std::string& key_or_env) {
  return Schema().Value(config, key_or_env);
}

}  // namespace herald
