#include "services/web/tls_connection_io.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace herald::web {
namespace {

class TlsIo final : public ConnectionIo {
 public:
  TlsIo(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~TlsIo() override {
    SSL_free(ssl_);
    close(fd_);
  }

  Result Read(char* buffer, size_t size) override {
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    if (SSL_read_ex(ssl_, buffer, size, &n) == 1) {
      // As for plain TCP (connection_io.cc): ACK at once, or a client's body waits for a
      // delayed ACK of its head.
      int one = 1;
      setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
      return {Status::kOk, n};
    }
    return Failed(/*reading=*/true);
  }

  Result Write(const char* data, size_t size) override {
    ERR_clear_error();
    errno = 0;
    size_t n = 0;
    if (SSL_write_ex(ssl_, data, size, &n) == 1) return {Status::kOk, n};
    return Failed(/*reading=*/false);
  }

  void ShutdownWrite() override {
    // close_notify first, so the client knows the answer is whole; then the TCP half-close.
    if (SSL_is_init_finished(ssl_)) {
      ERR_clear_error();
      SSL_shutdown(ssl_);
    }
    shutdown(fd_, SHUT_WR);
  }

  bool WantsWritable() const override { return wants_writable_; }
  bool HasBuffered() const override { return SSL_pending(ssl_) > 0; }
  int fd() const override { return fd_; }

 private:
  // After SSL_read_ex or SSL_write_ex returned 0 (what SSL_get_error is then given).
  Result Failed(bool reading) {
    switch (SSL_get_error(ssl_, 0)) {
      case SSL_ERROR_WANT_READ:
        wants_writable_ = false;
        return {Status::kWouldBlock, 0};
      case SSL_ERROR_WANT_WRITE:
        wants_writable_ = true;
        return {Status::kWouldBlock, 0};
      case SSL_ERROR_ZERO_RETURN:
        return {reading ? Status::kClosed : Status::kError, 0};
      case SSL_ERROR_SYSCALL:
        if (reading && errno == 0) return {Status::kClosed, 0};
        return {Status::kError, 0};
      default:
        // A failed handshake (no client certificate, an unknown CA, plain HTTP sent to a
        // TLS port) or a broken record: the connection closes; the client saw the alert.
        ERR_clear_error();
        return {Status::kError, 0};
    }
  }

  const int fd_;
  SSL* const ssl_;
  bool wants_writable_ = false;
};

}  // namespace

ConnectionIoFactory TlsConnections(std::shared_ptr<const tls::ServerContext> context) {
  return [context = std::move(context)](int fd) -> std::unique_ptr<ConnectionIo> {
    auto ctx = context->Current();
    SSL* ssl = SSL_new(ctx.get());
    if (!ssl || SSL_set_fd(ssl, fd) != 1) {
      if (ssl) SSL_free(ssl);
      close(fd);
      ERR_clear_error();
      return nullptr;
    }
    SSL_set_accept_state(ssl);
    return std::make_unique<TlsIo>(fd, ssl);
  };
}

}  // namespace herald::web
