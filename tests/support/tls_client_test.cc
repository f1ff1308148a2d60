// The TLS test toolkit against a small OpenSSL server on loopback: the client trusts only the
// CA it is given, checks the name, shows a client certificate, and reports a refusal that
// TLS 1.3 delivers only after the client's handshake completed.
#include "tests/support/tls_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/test_ca.h"

namespace herald::testing {
namespace {

using ::testing::HasSubstr;

// Answers every request on 127.0.0.1:<port 0> with "ok" (or a chunked "chunked body" for
// /chunked) over TLS, one connection at a time; with a client CA, refuses clients without a
// certificate it signed.
class TlsTestServer {
 public:
  TlsTestServer(const KeyPair& server, const std::string& client_ca_pem = "") {
    ctx_ = SSL_CTX_new(TLS_server_method());
    BIO* cert_bio =
        BIO_new_mem_buf(server.cert_pem.data(), static_cast<int>(server.cert_pem.size()));
    BIO* key_bio = BIO_new_mem_buf(server.key_pem.data(), static_cast<int>(server.key_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    bool loaded = cert && key && SSL_CTX_use_certificate(ctx_, cert) == 1 &&
                  SSL_CTX_use_PrivateKey(ctx_, key) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    if (!loaded) throw std::runtime_error("TlsTestServer: server certificate");
    if (!client_ca_pem.empty()) {
      BIO* ca_bio = BIO_new_mem_buf(client_ca_pem.data(), static_cast<int>(client_ca_pem.size()));
      X509* ca = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx_), ca);
      X509_free(ca);
      BIO_free(ca_bio);
      SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("TlsTestServer: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~TlsTestServer() {
    stopping_ = true;
    shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(listen_fd_);
    SSL_CTX_free(ctx_);
  }
  int port() const { return port_; }
  // Handshakes the server refused (e.g. no client certificate).
  int refused() const { return refused_; }

 private:
  void Serve() {
    // A client that hangs up mid-answer must not end the test binary.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    while (!stopping_) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      timeval five{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five, sizeof five);
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &five, sizeof five);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) == 1) {
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          request.append(buf, static_cast<size_t>(n));
        }
        if (request.find("\r\n\r\n") != std::string::npos) {
          std::string answer =
              request.rfind("GET /chunked ", 0) == 0
                  ? "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                    "7\r\nchunked\r\n5\r\n body\r\n0\r\n\r\n"
                  : "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
          SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
        }
        SSL_shutdown(ssl);
      } else {
        ++refused_;
      }
      ERR_clear_error();
      SSL_free(ssl);
      close(fd);
    }
  }

  SSL_CTX* ctx_ = nullptr;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> refused_{0};
  std::thread thread_;
};

class TlsClientTest : public ::testing::Test {
 protected:
  TestCa ca_{"Herald Test CA"};
  TestCa other_ca_{"Some Other CA"};
  KeyPair server_ = ca_.Issue("herald-test-server", {"localhost", "127.0.0.1", "::1"});
  TlsClientOptions Trusting(const TestCa& ca) {
    TlsClientOptions options;
    options.ca_pem = ca.cert_pem();
    return options;
  }
};

TEST_F(TlsClientTest, HandshakesWithTheRightCaAndSeesTheServerCertificate) {
  TlsTestServer server(server_);
  {
    TlsConnection connection(server.port(), Trusting(ca_));
    ASSERT_TRUE(connection.ok()) << connection.error();
    EXPECT_EQ(connection.PeerCommonName(), "herald-test-server");
  }  // the server answers one connection at a time

  std::string body, error, common_name;
  EXPECT_EQ(
      HttpsRequest(server.port(), Trusting(ca_), "GET", "/", "", {}, &body, &error, &common_name),
      200)
      << error;
  EXPECT_EQ(body, "ok");
  EXPECT_EQ(common_name, "herald-test-server");
}

TEST_F(TlsClientTest, VerifiesADnsNameToo) {
  TlsTestServer server(server_);
  auto options = Trusting(ca_);
  options.host = "localhost";
  std::string error;
  EXPECT_EQ(HttpsRequest(server.port(), options, "POST", "/x", "{}", {}, nullptr, &error), 200)
      << error;
}

TEST_F(TlsClientTest, ReadsAChunkedBody) {
  TlsTestServer server(server_);
  std::string body, error;
  EXPECT_EQ(HttpsRequest(server.port(), Trusting(ca_), "GET", "/chunked", "", {}, &body, &error),
            200)
      << error;
  EXPECT_EQ(body, "chunked body");
}

TEST_F(TlsClientTest, RefusesAServerCertificateFromAnotherCa) {
  TlsTestServer server(server_);
  TlsConnection connection(server.port(), Trusting(other_ca_));
  EXPECT_FALSE(connection.ok());
  EXPECT_THAT(connection.error(), HasSubstr("certificate verify failed"));
  std::string error;
  EXPECT_EQ(HttpsRequest(server.port(), Trusting(other_ca_), "GET", "/", "", {}, nullptr, &error),
            0);
  EXPECT_THAT(error, HasSubstr("unable to get local issuer certificate"));
}

TEST_F(TlsClientTest, RefusesAServerCertificateForAnotherName) {
  KeyPair elsewhere = ca_.Issue("elsewhere", {"db.example.org", "127.0.0.2"});
  TlsTestServer server(elsewhere);
  TlsConnection connection(server.port(), Trusting(ca_));
  EXPECT_FALSE(connection.ok());
  EXPECT_THAT(connection.error(), HasSubstr("mismatch"));
  // The positive control: the same certificate is fine for a name it carries.
  TlsTestServer right(ca_.Issue("right", {"127.0.0.1"}));
  EXPECT_TRUE(TlsConnection(right.port(), Trusting(ca_)).ok());
}

TEST_F(TlsClientTest, MutualTlsRefusesAClientWithoutACertificate) {
  TlsTestServer server(server_, ca_.cert_pem());
  // TLS 1.3: the client's handshake may complete; the refusal is the first thing read.
  TlsConnection connection(server.port(), Trusting(ca_));
  if (connection.ok() && connection.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) {
    EXPECT_EQ(connection.ReadResponse().status, 0);
  }
  EXPECT_THAT(connection.error(), HasSubstr("alert certificate required"));

  std::string error;
  EXPECT_EQ(HttpsRequest(server.port(), Trusting(ca_), "GET", "/", "", {}, nullptr, &error), 0);
  EXPECT_THAT(error, HasSubstr("alert certificate required"));
}

TEST_F(TlsClientTest, MutualTlsRefusesAClientCertificateFromAnotherCa) {
  TlsTestServer server(server_, ca_.cert_pem());
  auto options = Trusting(ca_);
  KeyPair stranger = other_ca_.Issue("stranger", {}, /*server=*/false);
  options.cert_pem = stranger.cert_pem;
  options.key_pem = stranger.key_pem;
  std::string error;
  EXPECT_EQ(HttpsRequest(server.port(), options, "GET", "/", "", {}, nullptr, &error), 0);
  EXPECT_THAT(error, HasSubstr("alert unknown ca"));
}

TEST_F(TlsClientTest, MutualTlsAcceptsAClientCertificateFromItsCa) {
  TlsTestServer server(server_, ca_.cert_pem());
  auto options = Trusting(ca_);
  KeyPair client = ca_.Issue("herald-test-client", {}, /*server=*/false);
  options.cert_pem = client.cert_pem;
  options.key_pem = client.key_pem;
  std::string body, error;
  EXPECT_EQ(HttpsRequest(server.port(), options, "GET", "/", "", {}, &body, &error), 200) << error;
  EXPECT_EQ(body, "ok");
  EXPECT_EQ(server.refused(), 0);
}

TEST_F(TlsClientTest, ReportsAClosedPort) {
  int port;
  {
    TlsTestServer gone(server_);
    port = gone.port();
  }
  std::string error;
  EXPECT_EQ(HttpsRequest(port, Trusting(ca_), "GET", "/", "", {}, nullptr, &error), 0);
  EXPECT_THAT(error, HasSubstr("Connection refused"));
}

TEST(TestCa, IssuesFreshKeysAndSerialsUnderItsName) {
  TestCa ca("Herald Test CA");
  EXPECT_EQ(CommonNameOf(ca.cert_pem()), "Herald Test CA");
  KeyPair a = ca.Issue("server-a", {"localhost"});
  KeyPair b = ca.Issue("server-a", {"localhost"});
  EXPECT_EQ(CommonNameOf(a.cert_pem), "server-a");
  EXPECT_NE(a.cert_pem, b.cert_pem);
  EXPECT_NE(a.key_pem, b.key_pem);
  EXPECT_THAT(a.key_pem, HasSubstr("BEGIN PRIVATE KEY"));
  EXPECT_EQ(CommonNameOf("not a certificate"), "");
}

TEST(WriteFileAtomically, ReplacesTheFileByRenameWithKeysPrivate) {
  char tmpl[] = "/tmp/herald-write-atomically-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  std::string key = dir + "/tls.key", crt = dir + "/tls.crt";
  WriteFileAtomically(key, "first");
  WriteFileAtomically(crt, "certificate");
  struct stat before {};
  ASSERT_EQ(stat(key.c_str(), &before), 0);
  EXPECT_EQ(before.st_mode & 0777, 0600u);
  struct stat public_file {};
  ASSERT_EQ(stat(crt.c_str(), &public_file), 0);
  EXPECT_EQ(public_file.st_mode & 0777, 0644u);

  WriteFileAtomically(key, "second");
  struct stat after {};
  ASSERT_EQ(stat(key.c_str(), &after), 0);
  EXPECT_NE(after.st_ino, before.st_ino);  // a new file renamed over, as a Secret update does
  std::ifstream in(key);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "second");
  unlink(key.c_str());
  unlink(crt.c_str());
  EXPECT_EQ(rmdir(dir.c_str()), 0);  // no temporary file left behind
}

}  // namespace
}  // namespace herald::testing
