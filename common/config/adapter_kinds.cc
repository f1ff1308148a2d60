#include "common/config/adapter_kinds.h"

#include <algorithm>
#include <sstream>

#include "common/config/config.h"
#include "common/strict_int.h"

namespace herald {
namespace {

using Type = AdapterSetting::Type;

AdapterSetting Text(const char* key, const char* def = "") { return {key, Type::kText, def}; }
AdapterSetting Int(const char* key, const char* def, int min, int max) {
  return {key, Type::kInt, def, min, max};
}
AdapterSetting Bool(const char* key, const char* def) { return {key, Type::kBool, def}; }
AdapterSetting Choice(const char* key, const char* def, std::vector<std::string> choices) {
  return {key, Type::kChoice, def, 0, 0, std::move(choices)};
}

std::string Joined(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

}  // namespace

const std::vector<AdapterKind>& AdapterKinds() {
  static const std::vector<AdapterKind> kKinds = {
      {"smtp",
       AdapterKindId::kSmtp,
       AdapterChannel::kEmail,
       SmsHookDialect::kNone,
       "the relay password (with settings.username)",
       {Text("url"), Choice("starttls", "opportunistic", {"required", "opportunistic", "none"}),
        Text("username"), Text("ca_file"), Bool("verify_peer", "true"),
        Text("message_id_domain", "herald.invalid"), Text("helo_name"),
        Int("timeout_s", "30", 1, 600), Int("max_connections", "4", 1, 256), Text("return_path")}},
      {"twilio",
       AdapterKindId::kTwilio,
       AdapterChannel::kSms,
       SmsHookDialect::kTwilio,
       "the auth token (sends, and the signature of its webhooks)",
       {Text("base_url", "https://api.twilio.com"), Text("account_sid"), Text("from"),
        Text("status_callback_url"), Int("timeout_s", "15", 1, 300)}},
      {"json_sms",
       AdapterKindId::kJsonSms,
       AdapterChannel::kSms,
       SmsHookDialect::kJson,
       "the value of settings.auth_header, and the HMAC key of its webhooks",
       {Text("url"), Text("auth_header"), Text("body_template"), Text("from"),
        Text("message_id_pointer", "/id"), Text("unsubscribed_error_pointer"),
        Text("unsubscribed_error_value"), Text("error_code_pointer"), Text("error_message_pointer"),
        Int("timeout_s", "15", 1, 300)}},
  };
  return kKinds;
}

const AdapterKind* FindAdapterKind(const std::string& name) {
  for (const auto& k : AdapterKinds()) {
    if (name == k.name) return &k;
  }
  return nullptr;
}

AdapterSettings AdapterSettings::Check(const ProviderConfig& provider, const std::string& where) {
  AdapterSettings out;
  out.kind_ = FindAdapterKind(provider.kind);
  if (!out.kind_) {
    std::vector<std::string> names;
    for (const auto& k : AdapterKinds()) names.emplace_back(k.name);
    throw ConfigError(where + ".kind: expected " + Joined(names, ", "));
  }
  for (const auto& [key, value] : provider.settings) {
    const auto& known = out.kind_->settings;
    if (std::none_of(known.begin(), known.end(),
                     [&key = key](const auto& s) { return key == s.key; })) {
      throw ConfigError(where + ".settings." + key + ": unknown key for kind " + provider.kind);
    }
  }
  for (const auto& s : out.kind_->settings) {
    const std::string key = where + ".settings." + s.key;
    auto given = provider.settings.find(s.key);
    const std::string value = given == provider.settings.end() ? s.default_value : given->second;
    switch (s.type) {
      case Type::kText:
        break;
      case Type::kInt: {
        auto n = ParseStrictInt<int>(value);
        if (!n || *n < s.min || *n > s.max) {
          throw ConfigError(key + ": expected a whole number from " + std::to_string(s.min) +
                            " to " + std::to_string(s.max));
        }
        out.ints_[s.key] = *n;
        break;
      }
      case Type::kBool:
        if (value != "true" && value != "false") throw ConfigError(key + ": true or false");
        break;
      case Type::kChoice:
        if (std::find(s.choices.begin(), s.choices.end(), value) == s.choices.end()) {
          throw ConfigError(key + ": expected " + Joined(s.choices, ", "));
        }
        break;
    }
    out.text_[s.key] = value;
  }
  return out;
}

const std::string& AdapterSettings::Text(const std::string& key) const { return text_.at(key); }
int AdapterSettings::Int(const std::string& key) const { return ints_.at(key); }
bool AdapterSettings::Bool(const std::string& key) const { return text_.at(key) == "true"; }

std::string DescribeAdapterKinds() {
  std::ostringstream out;
  for (const auto& k : AdapterKinds()) {
    out << "      kind " << k.name << " ("
        << (k.channel == AdapterChannel::kEmail ? "e-mail" : "SMS") << "); secret: " << k.secret
        << "; settings:\n       ";
    size_t column = 7;
    for (const auto& s : k.settings) {
      std::string item = std::string(" ") + s.key;
      if (s.type == Type::kInt) {
        item += "=" + std::string(s.default_value) + " (" + std::to_string(s.min) + "-" +
                std::to_string(s.max) + ")";
      } else if (s.type == Type::kChoice) {
        item += "=" + Joined(s.choices, "|");
      } else if (*s.default_value) {
        item += "=" + std::string(s.default_value);
      }
      if (column + item.size() > 90) {
        out << "\n       ";
        column = 7;
      }
      out << item;
      column += item.size();
    }
    out << "\n";
  }
  return out.str();
}

}  // namespace herald
