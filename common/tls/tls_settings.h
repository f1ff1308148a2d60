#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/config/section.h"

namespace herald::tls {

// The names tls.* options give heraldd's listeners (docs/security.md, "Listeners").
inline constexpr std::string_view kListenerNames[] = {"grpc", "json_api", "http", "mail", "ops"};

// The `tls.*` section: one certificate for every listener of the process (the pod's name,
// with every address callers use as a subjectAltName), an optional CA whose client
// certificates some listeners require, and the listeners a proxy terminates TLS for.
struct TlsSettings {
  std::string cert_file;  // PEM certificate chain; empty: no listener speaks TLS
  std::string key_file;   // PEM private key of cert_file
  // PEM CA(s) a client certificate must chain to, on the listeners named below.
  std::string client_ca_file;
  std::vector<std::string> client_cert_listeners = {"grpc", "json_api"};
  // Listeners that stay plaintext although a certificate is set, because a proxy in front
  // of them terminates TLS; they may then listen on a non-loopback address.
  std::vector<std::string> plaintext_listeners;

  // Whether `listener` speaks TLS.
  bool Enabled(std::string_view listener) const;
  // Whether `listener` speaks TLS and refuses clients without a certificate from the CA.
  bool RequiresClientCert(std::string_view listener) const;
  // Whether a proxy in front terminates TLS for `listener`.
  bool BehindProxy(std::string_view listener) const;
};

const config::Section<TlsSettings>& TlsSection();

// Whether a listen address (host:port) only accepts connections from this machine:
// 127.0.0.0/8, [::1] or localhost.
bool IsLoopbackListen(std::string_view listen);

}  // namespace herald::tls
