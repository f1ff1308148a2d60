#include "common/tls/tls_settings.h"

#include <arpa/inet.h>

#include <algorithm>

namespace herald::tls {
namespace {

bool Contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string ListenerName(const std::string& name, const std::string& value) {
  for (auto known : kListenerNames) {
    if (value == known) return value;
  }
  throw ConfigError(name + ": unknown listener '" + value +
                    "' (expected grpc, json_api, http, mail or ops)");
}

}  // namespace

bool TlsSettings::Enabled(std::string_view listener) const {
  return !cert_file.empty() && !Contains(plaintext_listeners, listener);
}

bool TlsSettings::RequiresClientCert(std::string_view listener) const {
  return Enabled(listener) && !client_ca_file.empty() && Contains(client_cert_listeners, listener);
}

bool TlsSettings::BehindProxy(std::string_view listener) const {
  return Contains(plaintext_listeners, listener);
}

bool IsLoopbackListen(std::string_view listen) {
  auto colon = listen.rfind(':');
  std::string host(listen.substr(0, colon == std::string_view::npos ? listen.size() : colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

const config::Section<TlsSettings>& TlsSection() {
  using T = TlsSettings;
  static const config::Section<TlsSettings> kSection{
      {
          config::Text("tls.cert_file", &T::cert_file,
                       "PEM certificate chain every listener presents (reloaded when the file "
                       "changes); empty: no TLS, and only loopback addresses may be listened on."),
          config::Text("tls.key_file", &T::key_file, "PEM private key of tls.cert_file."),
          config::Text("tls.client_ca_file", &T::client_ca_file,
                       "PEM CA certificates; the listeners of tls.client_cert_listeners refuse "
                       "a client without a certificate issued by one of them (mTLS)."),
          config::List("tls.client_cert_listeners", &T::client_cert_listeners,
                       "Listeners that require a client certificate when tls.client_ca_file is "
                       "set (grpc, json_api, http, mail, ops).",
                       ListenerName),
          config::List("tls.plaintext_listeners", &T::plaintext_listeners,
                       "Listeners a proxy in front terminates TLS for: they speak plain HTTP or "
                       "gRPC and may listen on a non-loopback address.",
                       ListenerName),
      },
      {},
      [](T& t) {
        if (t.cert_file.empty() != t.key_file.empty()) {
          throw ConfigError("tls.cert_file and tls.key_file: set both or neither");
        }
        if (!t.client_ca_file.empty() && t.cert_file.empty()) {
          throw ConfigError("tls.client_ca_file: client certificates need TLS; set tls.cert_file");
        }
        for (const auto& l : t.client_cert_listeners) {
          if (!t.client_ca_file.empty() && Contains(t.plaintext_listeners, l)) {
            throw ConfigError("tls.client_cert_listeners: " + l +
                              " is also in tls.plaintext_listeners; a plaintext listener cannot "
                              "check client certificates");
          }
        }
      }};
  return kSection;
}

}  // namespace herald::tls
