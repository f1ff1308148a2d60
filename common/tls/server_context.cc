#include "common/tls/server_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <stdexcept>

namespace herald::tls {
namespace {

std::string OpenSslReason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

[[noreturn]] void Fail(const std::string& what) {
  throw std::runtime_error(what + ": " + OpenSslReason());
}

std::shared_ptr<SSL_CTX> Build(const ServerFiles& f) {
  ERR_clear_error();
  std::shared_ptr<SSL_CTX> ctx(SSL_CTX_new(TLS_server_method()), SSL_CTX_free);
  if (!ctx) Fail("TLS context");
  SSL_CTX* c = ctx.get();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  // Renegotiation only serves attacks on a server like this one; a peer that vanishes
  // without close_notify is an ordinary close, not an error to log.
  SSL_CTX_set_options(
      c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF);
  // The connection front retries a write with the rest of its buffer, which may have moved.
  SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(c, f.cert_file.c_str()) != 1) {
    Fail("tls.cert_file " + f.cert_file);
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(BIO_new_file(f.key_file.c_str(), "r"),
                                                    BIO_free);
  if (!key_bio) Fail("tls.key_file " + f.key_file);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) Fail("tls.key_file " + f.key_file);
  // Said in words: the usual cause is half of a renewal written (a new key, the old chain).
  if (X509_check_private_key(SSL_CTX_get0_certificate(c), key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("tls.key_file " + f.key_file + " does not match tls.cert_file " +
                             f.cert_file);
  }
  if (SSL_CTX_use_PrivateKey(c, key.get()) != 1) Fail("tls.key_file " + f.key_file);
  if (!f.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(c, f.client_ca_file.c_str(), nullptr) != 1) {
      Fail("tls.client_ca_file " + f.client_ca_file);
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(f.client_ca_file.c_str());
    if (!names) Fail("tls.client_ca_file " + f.client_ca_file);
    SSL_CTX_set_client_CA_list(c, names);
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    // Resumed sessions must belong to this context, or a session made without a client
    // certificate could be resumed where one is required.
    static constexpr unsigned char kContext[] = "herald";
    SSL_CTX_set_session_id_context(c, kContext, sizeof kContext - 1);
  }
  return ctx;
}

}  // namespace

ServerContext::ServerContext(ServerFiles files) : files_(std::move(files)) {
  current_ = Build(files_);
}

std::shared_ptr<SSL_CTX> ServerContext::Current() const {
  std::lock_guard lock(mu_);
  return current_;
}

void ServerContext::Reload() {
  auto next = Build(files_);
  std::lock_guard lock(mu_);
  current_ = std::move(next);
}

}  // namespace herald::tls
