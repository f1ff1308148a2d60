#include "tests/support/tls_client.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <memory>

#include "tests/support/test_ca.h"

namespace herald::testing {
namespace {

using Clock = std::chrono::steady_clock;

// OpenSSL writes to the socket with write(): a peer that already closed would raise SIGPIPE
// and end the whole test binary. Blocked for the duration of one operation on this thread,
// and a SIGPIPE raised meanwhile is taken off the pending set before unblocking.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, &old_);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
  }
  ~SigpipeBlocked() {
    sigset_t pending;
    sigpending(&pending);
    if (!was_pending_ && sigismember(&pending, SIGPIPE) == 1) {
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      timespec zero{0, 0};
      sigtimedwait(&pipe, nullptr, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t old_;
  bool was_pending_ = false;
};

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The value of header `name` (lower case) in a response head, "" when absent.
std::string HeaderValue(const std::string& head, const std::string& name) {
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    std::string line = head.substr(start, end == std::string::npos ? end : end - start);
    auto colon = line.find(':');
    if (colon != std::string::npos && Lower(line.substr(0, colon)) == name) {
      auto value = line.substr(colon + 1);
      auto first = value.find_first_not_of(" \t");
      auto last = value.find_last_not_of(" \t");
      return first == std::string::npos ? "" : value.substr(first, last - first + 1);
    }
    pos = end;
  }
  return "";
}

}  // namespace

TlsConnection::TlsConnection(int port, const TlsClientOptions& options) {
  SigpipeBlocked no_sigpipe;
  ERR_clear_error();
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (!ctx_) {
    SetError("SSL_CTX_new", SSL_ERROR_SSL);
    return;
  }
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);

  // Only the given anchors: never the system store, so a test proves its own CA is used.
  {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(options.ca_pem.data(), static_cast<int>(options.ca_pem.size())), &BIO_free);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx_);
    while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, cert);
      X509_free(cert);
    }
    ERR_clear_error();  // the end of the PEM text reads as an error
  }
  if (!options.cert_pem.empty()) {
    std::unique_ptr<BIO, decltype(&BIO_free)> cert_bio(
        BIO_new_mem_buf(options.cert_pem.data(), static_cast<int>(options.cert_pem.size())),
        &BIO_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> key_bio(
        BIO_new_mem_buf(options.key_pem.data(), static_cast<int>(options.key_pem.size())),
        &BIO_free);
    X509* cert = PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr);
    bool loaded = cert && key && SSL_CTX_use_certificate(ctx_, cert) == 1 &&
                  SSL_CTX_use_PrivateKey(ctx_, key) == 1 && SSL_CTX_check_private_key(ctx_) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!loaded) {
      SetError("client certificate or key", SSL_ERROR_SSL);
      return;
    }
  }

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(options.host.c_str(), std::to_string(port).c_str(), &hints, &found)) {
    error_ = "resolving " + options.host + ": " + gai_strerror(rc);
    return;
  }
  std::string connect_error;
  for (addrinfo* a = found; a && fd_ < 0; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    fd_ = fd;
    int rc = connect(fd, a->ai_addr, a->ai_addrlen);
    int err = rc == 0 ? 0 : errno;
    if (err == EINPROGRESS) {
      if (!WaitFor(Wait::kWrite, deadline)) {
        err = ETIMEDOUT;
      } else {
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    if (err != 0) {
      connect_error = std::strerror(err);
      close(fd);
      fd_ = -1;
    }
  }
  freeaddrinfo(found);
  if (fd_ < 0) {
    error_ = "connecting to " + options.host + ":" + std::to_string(port) + ": " + connect_error;
    return;
  }

  ssl_ = SSL_new(ctx_);
  if (!ssl_ || SSL_set_fd(ssl_, fd_) != 1) {
    SetError("SSL_new", SSL_ERROR_SSL);
    return;
  }
  if (IsIpLiteral(options.host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), options.host.c_str());
  } else {
    SSL_set1_host(ssl_, options.host.c_str());
    SSL_set_tlsext_host_name(ssl_, options.host.c_str());
  }
  for (;;) {
    int rc = SSL_connect(ssl_);
    if (rc == 1) break;
    int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (WaitFor(err == SSL_ERROR_WANT_READ ? Wait::kRead : Wait::kWrite, deadline)) continue;
      error_ = "handshake: timed out";
      return;
    }
    SetError("handshake", err);
    return;
  }
  ok_ = true;
}

TlsConnection::~TlsConnection() {
  SigpipeBlocked no_sigpipe;
  if (ssl_) {
    // A close_notify, not waited for: the connection is ours to drop.
    if (ok_ && !failed_) SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  if (fd_ >= 0) close(fd_);
  if (ctx_) SSL_CTX_free(ctx_);
  ERR_clear_error();
}

std::string TlsConnection::PeerCommonName() const {
  if (!ssl_) return "";
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (!cert) return "";
  std::string cn;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (PEM_write_bio_X509(bio.get(), cert) == 1) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    cn = CommonNameOf(std::string(data, static_cast<size_t>(len)));
  }
  X509_free(cert);
  return cn;
}

bool TlsConnection::WaitFor(Wait what, Clock::time_point deadline) {
  for (;;) {
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left < 0) left = 0;  // still look once: a past deadline asks "is it there now?"
    pollfd p{fd_, static_cast<short>(what == Wait::kRead ? POLLIN : POLLOUT), 0};
    int rc = poll(&p, 1, static_cast<int>(left));
    if (rc > 0) return true;  // readable, writable, or an error the next call reports
    if (rc == 0) return false;
    if (errno != EINTR) return true;
  }
}

void TlsConnection::SetError(const std::string& what, int ssl_error) {
  int saved_errno = errno;
  std::string text = OpenSslErrors();
  if (ssl_error == SSL_ERROR_SYSCALL && text.empty()) {
    text = saved_errno ? std::strerror(saved_errno) : "connection closed by the peer";
  }
  // After a protocol error OpenSSL allows no further I/O; after a socket error a read may
  // still find the alert the server sent before it closed.
  if (ssl_error == SSL_ERROR_SSL) failed_ = true;
  if (ssl_) {
    long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      text += std::string(text.empty() ? "" : "; ") +
              "server certificate: " + X509_verify_cert_error_string(verify);
    }
  }
  error_ = what + ": " + (text.empty() ? "failed" : text);
}

bool TlsConnection::ReadMore(Clock::time_point deadline) {
  if (!ok_ || failed_ || eof_) return false;
  SigpipeBlocked no_sigpipe;
  char buf[16384];
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      return true;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (WaitFor(err == SSL_ERROR_WANT_READ ? Wait::kRead : Wait::kWrite, deadline)) continue;
      error_ = "read: timed out";
      return false;
    }
    if (err == SSL_ERROR_ZERO_RETURN) {
      eof_ = true;
      return false;
    }
    unsigned long first = ERR_peek_error();
    if (err == SSL_ERROR_SSL && ERR_GET_REASON(first) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
      // Closed without close_notify: many servers do; the bytes read so far still count.
      eof_ = true;
      SetError("read", err);
      return false;
    }
    SetError("read", err);
    return false;
  }
}

bool TlsConnection::TakeAlert(Clock::time_point deadline) {
  std::string before = error_;
  while (WaitFor(Wait::kRead, deadline)) {
    ERR_clear_error();
    char buf[16384];
    int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      buffer_.append(buf, static_cast<size_t>(n));
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;
    if (err == SSL_ERROR_SSL) {
      SetError("read", err);
      return true;
    }
    break;
  }
  error_ = before;
  return false;
}

bool TlsConnection::Send(std::string_view bytes) {
  if (!ok_ || failed_) {
    if (error_.empty()) error_ = "send: no connection";
    return false;
  }
  SigpipeBlocked no_sigpipe;
  // A refusal that already arrived (TLS 1.3 sends it after the client's handshake) is the
  // reason, not the write that would fail on the closed socket.
  if (TakeAlert(Clock::now())) return false;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  size_t done = 0;
  while (done < bytes.size()) {
    ERR_clear_error();
    size_t chunk = std::min<size_t>(bytes.size() - done, 1 << 20);
    int n = SSL_write(ssl_, bytes.data() + done, static_cast<int>(chunk));
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (WaitFor(err == SSL_ERROR_WANT_READ ? Wait::kRead : Wait::kWrite, deadline)) continue;
      error_ = "send: timed out";
      return false;
    }
    SetError("send", err);
    // The socket was closed under the write: the server's alert may still be unread.
    if (err == SSL_ERROR_SYSCALL) {
      std::string send_error = error_;
      if (TakeAlert(Clock::now() + std::chrono::seconds(1))) error_ += " (" + send_error + ")";
    }
    return false;
  }
  return true;
}

TlsConnection::Response TlsConnection::ReadResponse(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Response response;
  auto closed_early = [&](const char* when) {
    std::string why = error_.empty() ? "" : " (" + error_ + ")";
    error_ = std::string("connection closed ") + when + why;
  };
  size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
    if (!ReadMore(deadline)) {
      if (eof_) closed_early("before a response");
      return response;
    }
  }
  response.head = buffer_.substr(0, end);
  buffer_.erase(0, end + 4);
  int status = 0;
  if (std::sscanf(response.head.c_str(), "HTTP/1.%*d %d", &status) != 1 || status < 100) {
    error_ = "not an HTTP response: " + response.head.substr(0, response.head.find("\r\n"));
    return response;
  }
  // An interim response (100 Continue) precedes the real one.
  if (status < 200 && status != 101) return ReadResponse(timeout);
  response.status = status;
  if (status == 204 || status == 304) return response;

  std::string length = HeaderValue(response.head, "content-length");
  if (Lower(HeaderValue(response.head, "transfer-encoding")).find("chunked") != std::string::npos) {
    for (;;) {
      size_t line_end;
      while ((line_end = buffer_.find("\r\n")) == std::string::npos) {
        if (!ReadMore(deadline)) {
          closed_early("inside a chunked body");
          return response;
        }
      }
      size_t size = std::strtoul(buffer_.c_str(), nullptr, 16);
      if (size == 0) {
        // The last chunk; trailers, if any, end with an empty line.
        size_t trailer_end;
        while ((trailer_end = buffer_.find("\r\n\r\n", line_end)) == std::string::npos) {
          if (!ReadMore(deadline)) {
            closed_early("inside a chunked body");
            return response;
          }
        }
        buffer_.erase(0, trailer_end + 4);
        return response;
      }
      while (buffer_.size() < line_end + 2 + size + 2) {
        if (!ReadMore(deadline)) {
          closed_early("inside a chunked body");
          return response;
        }
      }
      response.body.append(buffer_, line_end + 2, size);
      buffer_.erase(0, line_end + 2 + size + 2);
    }
  }
  if (!length.empty()) {
    size_t want = std::strtoul(length.c_str(), nullptr, 10);
    while (buffer_.size() < want) {
      if (!ReadMore(deadline)) {
        closed_early("inside the body");
        response.body = buffer_;
        buffer_.clear();
        return response;
      }
    }
    response.body = buffer_.substr(0, want);
    buffer_.erase(0, want);
    return response;
  }
  // No length: the body runs to the server's close.
  while (ReadMore(deadline)) {
  }
  response.body = std::move(buffer_);
  buffer_.clear();
  return response;
}

int HttpsRequest(int port, const TlsClientOptions& options, const std::string& method,
                 const std::string& path, const std::string& body,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 std::string* response_body, std::string* error, std::string* server_common_name) {
  TlsConnection connection(port, options);
  auto fail = [&] {
    if (error) *error = connection.error();
    return 0;
  };
  if (!connection.ok()) return fail();
  if (server_common_name) *server_common_name = connection.PeerCommonName();
  bool has_host = false, has_length = false;
  std::string request = method + " " + path + " HTTP/1.1\r\n";
  for (const auto& [name, value] : headers) {
    has_host = has_host || Lower(name) == "host";
    has_length = has_length || Lower(name) == "content-length";
    request += name + ": " + value + "\r\n";
  }
  if (!has_host) {
    bool v6 = options.host.find(':') != std::string::npos;
    request += "Host: " + (v6 ? "[" + options.host + "]" : options.host) + ":" +
               std::to_string(port) + "\r\n";
  }
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")) {
    request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "Connection: close\r\n\r\n" + body;
  // Under TLS 1.3 a refused client certificate shows only now: the send reports an alert
  // that already arrived, the response read one that comes later.
  if (!connection.Send(request)) return fail();
  auto response = connection.ReadResponse();
  if (response.status == 0) return fail();
  if (response_body) *response_body = std::move(response.body);
  return response.status;
}

}  // namespace herald::testing
