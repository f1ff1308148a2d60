#include "services/inbound/sms/webhook_parsing.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <nlohmann/json.hpp>
#include <set>

#include "common/crypto/hash.h"

namespace herald::inbound::sms {
namespace {

std::optional<std::string> UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = crypto::HexDigitValue(s[i + 1]), lo = crypto::HexDigitValue(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

constexpr size_t kMaxIdLength = 128;
constexpr size_t kMaxTextLength = 4096;

bool CheckId(const std::string& id, const char* field, ParseError* error) {
  if (id.empty()) {
    *error = {field, "required"};
    return false;
  }
  if (id.size() > kMaxIdLength) {
    *error = {field, "too long"};
    return false;
  }
  for (char c : id) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7E) {
      *error = {field, "must be printable ASCII"};
      return false;
    }
  }
  return true;
}

// A JSON object's string member; absent is "", any other type an error.
bool JsonString(const nlohmann::json& j, const char* name, std::string* out, ParseError* error) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) {
    out->clear();
    return true;
  }
  if (!it->is_string()) {
    *error = {name, "must be a string"};
    return false;
  }
  *out = it->get<std::string>();
  return true;
}

std::optional<nlohmann::json> ParseJsonObject(std::string_view body, ParseError* error) {
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    *error = {"body", "expected a JSON object"};
    return std::nullopt;
  }
  return j;
}

std::string FormValue(const std::multimap<std::string, std::string>& form, const char* name) {
  auto it = form.find(name);
  return it == form.end() ? std::string() : it->second;
}

}  // namespace

std::optional<std::multimap<std::string, std::string>> ParseForm(std::string_view body) {
  std::multimap<std::string, std::string> out;
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t amp = body.find('&', pos);
    if (amp == std::string_view::npos) amp = body.size();
    std::string_view pair = body.substr(pos, amp - pos);
    if (!pair.empty()) {
      size_t eq = pair.find('=');
      auto name = UrlDecode(pair.substr(0, eq));
      auto value =
          UrlDecode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
      if (!name || !value) return std::nullopt;
      out.emplace(*name, *value);
    }
    pos = amp + 1;
  }
  return out;
}

std::string TwilioSignature(std::string_view auth_token, std::string_view url,
                            const std::multimap<std::string, std::string>& params) {
  // Sorted by name; the values of a repeated name are sorted too.
  std::string data(url);
  std::map<std::string, std::multiset<std::string>> by_name;
  for (const auto& [k, v] : params) by_name[k].insert(v);
  for (const auto& [k, values] : by_name) {
    for (const auto& v : values) data += k + v;
  }
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha1(), auth_token.data(), static_cast<int>(auth_token.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, &mac_len);
  std::string b64(4 * ((mac_len + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), mac, static_cast<int>(mac_len));
  b64.resize(n);
  return b64;
}

std::string JsonSignature(std::string_view secret, std::string_view body) {
  return "sha256=" + crypto::ToHex(crypto::HmacSha256(secret, body));
}

bool SignatureMatches(std::string_view presented, std::string_view expected) {
  return !presented.empty() && crypto::ConstantTimeEquals(presented, expected);
}

std::optional<InboundSms> ParseInbound(Dialect d, std::string_view body, ParseError* error) {
  InboundSms m;
  const char* id_field = "MessageSid";
  const char* from_field = "From";
  if (d == Dialect::kTwilio) {
    auto form = ParseForm(body);
    if (!form) {
      *error = {"body", "malformed form encoding"};
      return std::nullopt;
    }
    m.provider_message_id = FormValue(*form, "MessageSid");
    if (m.provider_message_id.empty()) m.provider_message_id = FormValue(*form, "SmsSid");
    m.from = FormValue(*form, "From");
    m.text = FormValue(*form, "Body");
  } else {
    auto j = ParseJsonObject(body, error);
    if (!j) return std::nullopt;
    id_field = "message_id";
    from_field = "from";
    if (!JsonString(*j, "message_id", &m.provider_message_id, error) ||
        !JsonString(*j, "from", &m.from, error) || !JsonString(*j, "text", &m.text, error)) {
      return std::nullopt;
    }
  }
  if (!CheckId(m.provider_message_id, id_field, error)) return std::nullopt;
  if (m.from.empty()) {
    *error = {from_field, "required"};
    return std::nullopt;
  }
  if (m.text.size() > kMaxTextLength) {
    *error = {d == Dialect::kTwilio ? "Body" : "text", "too long"};
    return std::nullopt;
  }
  return m;
}

std::optional<DeliveryReceipt> ParseReceipt(Dialect d, std::string_view body, ParseError* error) {
  DeliveryReceipt r;
  const char* id_field = "MessageSid";
  const char* status_field = "MessageStatus";
  if (d == Dialect::kTwilio) {
    auto form = ParseForm(body);
    if (!form) {
      *error = {"body", "malformed form encoding"};
      return std::nullopt;
    }
    r.provider_message_id = FormValue(*form, "MessageSid");
    if (r.provider_message_id.empty()) r.provider_message_id = FormValue(*form, "SmsSid");
    r.status = FormValue(*form, "MessageStatus");
    if (r.status.empty()) r.status = FormValue(*form, "SmsStatus");
  } else {
    auto j = ParseJsonObject(body, error);
    if (!j) return std::nullopt;
    id_field = "message_id";
    status_field = "status";
    if (!JsonString(*j, "message_id", &r.provider_message_id, error) ||
        !JsonString(*j, "status", &r.status, error)) {
      return std::nullopt;
    }
  }
  if (!CheckId(r.provider_message_id, id_field, error)) return std::nullopt;
  if (r.status.empty()) {
    *error = {status_field, "required"};
    return std::nullopt;
  }
  if (r.status.size() > 32) {
    *error = {status_field, "too long"};
    return std::nullopt;
  }
  if (r.status == "delivered") {
    r.final = true;
  } else if (r.status == "undelivered" || r.status == "failed") {
    r.status = "undelivered";
    r.final = true;
  }
  return r;
}

}  // namespace herald::inbound::sms
