#pragma once

#include <memory>
#include <mutex>
#include <string>

struct ssl_ctx_st;

namespace herald::tls {

struct ServerFiles {
  std::string cert_file;       // PEM chain, leaf first
  std::string key_file;        // PEM private key of the leaf
  std::string client_ca_file;  // empty: no client certificate asked for
};

// The OpenSSL context an HTTP listener's new connections take, swapped whole when the
// files change: a connection keeps the context it was accepted with until it closes, so a
// call in flight finishes under the certificate it started with. TLS 1.2 at least; with a
// client CA, a client without a certificate issued by it is refused in the handshake.
class ServerContext {
 public:
  // Loads the files; throws std::runtime_error naming the file and OpenSSL's reason.
  explicit ServerContext(ServerFiles files);

  // The context for a connection accepted now.
  std::shared_ptr<ssl_ctx_st> Current() const;
  // Loads the files again and swaps the context in; on any failure (a key that does not
  // match the certificate, half of a renewal written) throws and keeps the current one.
  void Reload();
  const ServerFiles& files() const { return files_; }

 private:
  const ServerFiles files_;
  mutable std::mutex mu_;
  std::shared_ptr<ssl_ctx_st> current_;
};

}  // namespace herald::tls
