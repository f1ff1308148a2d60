#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct ssl_st;
struct ssl_ctx_st;

namespace herald::testing {

// What a test client trusts and shows. The server certificate must verify against ca_pem
// and name `host`; TLS 1.2 or later.
struct TlsClientOptions {
  std::string ca_pem;    // trust anchors; the server certificate must verify against it
  std::string cert_pem;  // client certificate (mTLS); empty: none
  std::string key_pem;
  // Connect to; also the name verified (an IP subjectAltName for an IPv4/IPv6 literal, a DNS
  // one otherwise) and, for a DNS name, the SNI sent.
  std::string host = "127.0.0.1";
};

// One blocking TLS connection over a plain socket, for tests that must see the handshake
// itself: which certificate the server showed, and why it refused a client. Not for
// production: every wait is bounded by a deadline and errors become text, never exceptions.
class TlsConnection {
 public:
  // Connects and handshakes within 5 s. ok() tells whether it worked.
  TlsConnection(int port, const TlsClientOptions& options);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  // The handshake is done. Under TLS 1.3 a server that refuses the client certificate says
  // so only after the client's handshake completed: ok() can be true and the refusal arrive
  // on the first read (ReadResponse then reports it).
  bool ok() const { return ok_; }
  // Why not: OpenSSL's error text (e.g. "tlsv13 alert certificate required", "certificate
  // verify failed" with the verification result), or the socket's.
  const std::string& error() const { return error_; }
  // Subject common name of the certificate the server presented ("" before a handshake).
  std::string PeerCommonName() const;

  // Writes all of `bytes`; false on error (error() says why: the server's alert when it
  // refused the client after the handshake).
  bool Send(std::string_view bytes);

  // Reads one HTTP/1.1 response (head, then a Content-Length or chunked body, or the body up
  // to the server's close) within `timeout`. status 0 when the connection failed or closed
  // before a whole head arrived; error() says why (a TLS alert the server sent included).
  struct Response {
    int status = 0;
    std::string head;
    std::string body;
  };
  Response ReadResponse(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  enum class Wait { kRead, kWrite };
  // Waits for the socket until `deadline`; false on timeout.
  bool WaitFor(Wait what, std::chrono::steady_clock::time_point deadline);
  // Reads what is available (blocking until `deadline`) onto `buffer_`; false at the end
  // of the stream or on error, `eof_` telling which.
  bool ReadMore(std::chrono::steady_clock::time_point deadline);
  void SetError(const std::string& what, int ssl_error);
  // Reads what arrives until `deadline` (none: only what is there) onto `buffer_`; true when
  // it was a TLS alert, then in error(). Other errors are left for the next operation.
  bool TakeAlert(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  ssl_ctx_st* ctx_ = nullptr;
  ssl_st* ssl_ = nullptr;
  bool ok_ = false;
  bool eof_ = false;
  bool failed_ = false;  // a TLS protocol error: no further I/O on ssl_
  std::string error_;
  std::string buffer_;  // bytes read but not yet returned in a response
};

// One HTTPS request on a new connection ("Connection: close"); returns the status (0: could
// not connect, handshake refused, or closed before an answer — `error` says which).
// Host and Content-Length headers are added unless `headers` has them.
int HttpsRequest(int port, const TlsClientOptions& options, const std::string& method,
                 const std::string& path, const std::string& body,
                 const std::vector<std::pair<std::string, std::string>>& headers,
                 std::string* response_body = nullptr, std::string* error = nullptr,
                 std::string* server_common_name = nullptr);

}  // namespace herald::testing
