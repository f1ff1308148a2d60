#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/tls/tls_settings.h"
#include "services/capture/capture_config.h"
#include "services/crm/creatio_settings.h"
#include "services/dispatch/dispatch_settings.h"
#include "services/inbound/mail/inbound_mail_settings.h"
#include "services/inbound/sms/inbound_sms_config.h"
#include "services/privacy/erasure_settings.h"
#include "services/privacy/privacy_config.h"
#include "services/subscriptions/gate/fair_sending.h"
#include "services/subscriptions/gate/gate_settings.h"
#include "services/web/http_settings.h"
#include "services/web/json_api/json_api_settings.h"

namespace herald {

// heraldd's configuration: one member per section, each owned by the service that reads it
// (docs/architecture.md, "Configuration"). heraldd hands each service its own section.
struct HeraldConfig {
  CoreConfig core;
  subscriptions::GateSettings gate;
  subscriptions::FairSendingSettings fair_sending;
  web::HttpSettings http;
  web::JsonApiSettings json_api;
  inbound::InboundMailSettings inbound_mail;
  inbound::sms::InboundSmsSettings sms;
  dispatch::DispatchSettings dispatch;
  privacy::ErasureSettings erasure;
  PrivacyConfig privacy;
  capture::CaptureSettings capture;
  crm::CreatioSettings crm;
  tls::TlsSettings tls;
};

// Reads the YAML file (empty path: defaults only), then applies HERALD_* variables from
// `env`. Unknown keys and unknown HERALD_* variables are errors naming the key; secrets
// are accepted from the environment only. Every listener the roles open needs TLS, or a
// loopback address, or to be named in tls.plaintext_listeners. Throws ConfigError.
HeraldConfig LoadHeraldConfig(const std::string& path,
                              const std::map<std::string, std::string>& env);

// Every option of every section with its file key, variable, default and meaning, for --help.
std::string DescribeHeraldOptions();

// The scalar options of every section.
std::vector<OptionInfo> HeraldOptionTable();

// The value of the option named by its file key or variable, as text (lists
// comma-separated). Throws ConfigError for a name no option has.
std::string HeraldOptionValue(const HeraldConfig& config, const std::string& key_or_env);

}  // namespace herald
