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
          .Add(&HeraldConfig::fair_sending, subscriptions::FairSendingSection())
          .Add(&HeraldConfig::sms, inbound::sms::InboundSmsSection())
          .Add(&HeraldConfig::erasure, privacy::ErasureSection())
          .Add(&HeraldConfig::privacy, PrivacySection())
          .Add(&HeraldConfig::capture, capture::CaptureSection())
          .Add(&HeraldConfig::crm, crm::CreatioSection())
          .Add(&HeraldConfig::tls, tls::TlsSection());
  return kSchema;
}

struct ListenerEntry {
  const char* name;  // as tls.* options name it
  const char* key;
  const std::string* address;
  bool used;
};

// The listeners the configured roles open.
std::vector<ListenerEntry> Listeners(const HeraldConfig& c) {
  const auto& roles = c.core.roles;
  bool web = roles.count("web") > 0;
  bool api = roles.count("api") > 0;
  return {{"grpc", "grpc.listen", &c.core.grpc_listen, api},
          {"json_api", "json_api.listen", &c.json_api.listen, api},
          {"http", "http.listen", &c.http.listen, web},
          {"mail", "inbound_mail.listen", &c.inbound_mail.listen,
           web && !c.inbound_mail.secret.empty()},
          {"ops", "ops.listen", &c.core.ops_listen, true}};
}

// Two listeners of one process on the same address would fail to bind at start-up with a
// vaguer message; port 0 is exempt (each gets its own free port).
void CheckListenersDistinct(const std::vector<ListenerEntry>& entries) {
  for (size_t i = 0; i < entries.size(); ++i) {
    for (size_t j = i + 1; j < entries.size(); ++j) {
      const auto &a = entries[i], &b = entries[j];
      if (!a.used || !b.used || *a.address != *b.address) continue;
      if (a.address->size() >= 2 && a.address->substr(a.address->size() - 2) == ":0") continue;
      throw ConfigError(std::string(a.key) + " and " + b.key + ": the same address " + *a.address +
                        "; each listener needs its own");
    }
  }
}

// Bearer keys and personal data never cross a network in clear: a listener other machines
// can reach speaks TLS, unless the configuration says a proxy in front terminates it.
void CheckListenersEncrypted(const std::vector<ListenerEntry>& entries, const HeraldConfig& c) {
  for (const auto& l : entries) {
    if (!l.used || c.tls.Enabled(l.name) || c.tls.BehindProxy(l.name)) continue;
    if (tls::IsLoopbackListen(*l.address)) continue;
    throw ConfigError(std::string(l.key) + ": " + *l.address +
                      " is reachable from other machines and the listener has no TLS; set "
                      "tls.cert_file and tls.key_file, or add " +
                      l.name + " to tls.plaintext_listeners when a proxy in front terminates TLS");
  }
}

}  // namespace

HeraldConfig LoadHeraldConfig(const std::string& path,
                              const std::map<std::string, std::string>& env) {
  HeraldConfig c = Schema().Load(path, env);
  auto listeners = Listeners(c);
  CheckListenersDistinct(listeners);
  CheckListenersEncrypted(listeners, c);
  return c;
}

std::string DescribeHeraldOptions() { return Schema().Describe(); }

std::vector<OptionInfo> HeraldOptionTable() { return Schema().Table(); }

std::string HeraldOptionValue(const HeraldConfig& config, const std::string& key_or_env) {
  return Schema().Value(config, key_or_env);
}

}  // namespace herald
