// TLS on every listener, with real handshakes against a running heraldd and certificates
// from a throwaway CA made here (docs/security.md, "TLS"): TLS-1 gRPC and mTLS, TLS-2 HTTPS
// on every HTTP listener with its limits, TLS-3 certificate reload, TLS-5 key rings from
// files, TLS-6 what start-up refuses.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "common/crypto/key_ring.h"
#include "common/crypto/link_token.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/test_ca.h"
#include "tests/support/test_database.h"
#include "tests/support/tls_client.h"

namespace herald {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;
using testing::HeralddProcess;
using testing::HttpsRequest;
using testing::KeyPair;
using ::testing::Not;
using testing::TestCa;
using testing::TlsClientOptions;
using testing::TlsConnection;
using testing::WriteFileAtomically;
namespace refl = grpc::reflection::v1alpha;

constexpr char kMailSecret[] = "tls-test-mail-secret-0123456789";
const std::vector<std::string> kServerNames = {"localhost", "127.0.0.1"};

// A folder of its own for the certificate files heraldd reads.
std::string MakeDir() {
  const char* state = std::getenv("HERALD_TEST_STATE_DIR");
  std::string tmpl = std::string(state ? state : "/tmp") + "/tls-test.XXXXXX";
  std::system(("mkdir -p '" + tmpl.substr(0, tmpl.rfind('/')) + "'").c_str());
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed");
  return buf.data();
}

// How many times the log says a reload was refused.
size_t RefusedReloads(const HeralddProcess& server) {
  const std::string log = server.Log();
  size_t n = 0;
  for (size_t at = log.find("reloading a changed file failed"); at != std::string::npos;
       at = log.find("reloading a changed file failed", at + 1)) {
    ++n;
  }
  return n;
}

// The common name of the certificate the gRPC server showed on `ctx`'s call.
std::string GrpcPeerCommonName(const grpc::ClientContext& ctx) {
  auto auth = ctx.auth_context();
  if (!auth) return "";
  auto names = auth->FindPropertyValues("x509_common_name");
  return names.empty() ? "" : std::string(names.front().data(), names.front().size());
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    dir_ = MakeDir();
    server_pair_ = ca_.Issue("herald-1", kServerNames);
    client_pair_ = client_ca_.Issue("creatio-client", {"creatio.example.org"}, false);
    WriteFileAtomically(cert_file(), server_pair_.cert_pem);
    WriteFileAtomically(key_file(), server_pair_.key_pem);
    WriteFileAtomically(dir_ + "/client-ca.crt", client_ca_.cert_pem());
  }
  void TearDown() override {
    if (!dir_.empty()) (void)std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  std::string cert_file() const { return dir_ + "/tls.crt"; }
  std::string key_file() const { return dir_ + "/tls.key"; }
  // tls.* with every listener on TLS and the API listeners requiring client certificates.
  // `request_timeout_ms`: how long a request may take to arrive (a TLS handshake included).
  std::string TlsYaml(int request_timeout_ms = 1500) const {
    return "tls:\n  cert_file: " + cert_file() + "\n  key_file: " + key_file() +
           "\n  client_ca_file: " + dir_ + "/client-ca.crt\n" +
           "files:\n  reload_interval_s: 1\n"
           "http:\n  request_timeout_ms: " +
           std::to_string(request_timeout_ms) + "\n  max_header_bytes: 4096\n";
  }
  // What a caller with the right CA and a client certificate uses.
  TlsClientOptions Client(bool with_cert = true) const {
    TlsClientOptions o;
    o.ca_pem = ca_.cert_pem();
    if (with_cert) {
      o.cert_pem = client_pair_.cert_pem;
      o.key_pem = client_pair_.key_pem;
    }
    return o;
  }
  std::unique_ptr<HeralddProcess> StartServer(const std::string& yaml) {
    auto server = std::make_unique<HeralddProcess>(db_->dsn(), yaml);
    server->AddEnv(std::string("HERALD_INBOUND_MAIL_SECRET=") + kMailSecret);
    server->UseTls(Client());
    server->Start();
    return server;
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::string dir_;
  TestCa ca_{"Herald test server CA"};
  TestCa client_ca_{"Herald test client CA"};
  TestCa stranger_ca_{"Somebody else's CA"};
  KeyPair server_pair_;
  KeyPair client_pair_;
};

grpc::StatusCode HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                             std::string* peer_common_name = nullptr) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckResponse resp;
  grpc::Status status = stub->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &resp);
  if (status.ok() && resp.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return grpc::StatusCode::FAILED_PRECONDITION;
  }
  if (peer_common_name) *peer_common_name = GrpcPeerCommonName(ctx);
  return status.error_code();
}

std::shared_ptr<grpc::Channel> TlsChannel(const std::string& target, const std::string& ca,
                                          const KeyPair* client = nullptr) {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ca;
  if (client) {
    o.pem_cert_chain = client->cert_pem;
    o.pem_private_key = client->key_pem;
  }
  // A channel of its own (no subchannel shared with another test channel of the same
  // target), so each one makes its own handshake.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(o), args);
}

// TLS-1: gRPC over TLS, and mTLS: only a client with a certificate from the client CA is
// served; one without, one from another CA and a plaintext one fail in the handshake.
TEST_F(TlsTest, TLS_1_GrpcServesOnlyClientsWithACertificateFromTheClientCa) {
  auto server = StartServer(TlsYaml());
  std::string peer;
  EXPECT_EQ(HealthCheck(server->Channel(), &peer), grpc::StatusCode::OK);
  EXPECT_EQ(peer, "herald-1");
  // An authenticated RPC as well: the bearer key still decides what the caller may do.
  auto stub = v1::SubscriptionService::NewStub(server->Channel());
  grpc::ClientContext ctx;
  testing::Authorize(ctx, HeralddProcess::kCrmKey);
  v1::ListTopicsResponse topics;
  grpc::Status listed = stub->ListTopics(&ctx, v1::ListTopicsRequest(), &topics);
  EXPECT_TRUE(listed.ok()) << listed.error_message();

  const std::string target = server->grpc_target();
  KeyPair stranger = stranger_ca_.Issue("creatio-client", {"creatio.example.org"}, false);
  EXPECT_EQ(HealthCheck(TlsChannel(target, ca_.cert_pem())), grpc::StatusCode::UNAVAILABLE)
      << "a client without a certificate was served";
  EXPECT_EQ(HealthCheck(TlsChannel(target, ca_.cert_pem(), &stranger)),
            grpc::StatusCode::UNAVAILABLE)
      << "a client certificate from another CA was accepted";
  EXPECT_EQ(HealthCheck(grpc::CreateChannel(target, grpc::InsecureChannelCredentials())),
            grpc::StatusCode::UNAVAILABLE)
      << "a plaintext client was served";
  // ...and the client checks the server: a server certificate from a CA it does not trust.
  EXPECT_EQ(HealthCheck(TlsChannel(target, stranger_ca_.cert_pem(), &client_pair_)),
            grpc::StatusCode::UNAVAILABLE);

  // heraldctl with --ca, --cert and --cert-key (here through HERALDCTL_* variables).
  std::string out;
  EXPECT_EQ(server->Heraldctl(HeralddProcess::kAdminKey, "health", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("SERVING"));
  const std::string bin = HERALD_HERALDCTL_PATH;
  const std::string base = "HERALDCTL_ADDR=" + target + " " + bin + " --ca " + dir_ +
                           "/heraldctl-server-ca.crt --timeout 5 health 2>&1";
  std::ofstream(dir_ + "/heraldctl-server-ca.crt") << ca_.cert_pem();
  std::ofstream(dir_ + "/heraldctl-client.crt") << client_pair_.cert_pem << client_pair_.key_pem;
  EXPECT_EQ(testing::RunCommand(base, &out), 1) << out;  // no client certificate
  EXPECT_THAT(out, HasSubstr("UNAVAILABLE"));
  // The key may sit in the --cert file itself.
  EXPECT_EQ(testing::RunCommand("HERALDCTL_ADDR=" + target + " " + bin + " --cert " + dir_ +
                                    "/heraldctl-client.crt --ca " + dir_ +
                                    "/heraldctl-server-ca.crt health 2>&1",
                                &out),
            0)
      << out;
  EXPECT_EQ(testing::RunCommand(bin + " --cert-key " + dir_ + "/tls.key health 2>&1", &out), 2);
  EXPECT_THAT(out, HasSubstr("--cert-key needs --cert"));
  EXPECT_EQ(testing::RunCommand(bin + " --ca " + dir_ + "/missing.crt health 2>&1", &out), 2);
  EXPECT_THAT(out, HasSubstr("--ca: cannot read a PEM file"));
}

// TLS-2: every HTTP listener speaks TLS; the API listener requires a client certificate,
// the others do not; plaintext HTTP gets no answer; the connection front's limits hold.
TEST_F(TlsTest, TLS_2_EveryHttpListenerSpeaksTlsWithItsLimits) {
  auto server = StartServer(TlsYaml());
  const TlsClientOptions anonymous = Client(false);
  std::string body, error, peer;
  // ops: probes carry no client certificate.
  EXPECT_EQ(
      HttpsRequest(server->ops_port(), anonymous, "GET", "/healthz", "", {}, &body, &error, &peer),
      200)
      << error;
  EXPECT_EQ(peer, "herald-1");
  // public: a recipient's browser has no client certificate either.
  EXPECT_EQ(HttpsRequest(server->http_port(), anonymous, "GET", "/u/not-a-token", "", {}, &body),
            404);
  EXPECT_THAT(body, HasSubstr("<html"));
  // mail: the hook, behind its secret.
  const std::string message =
      "From: someone@example.org\r\nTo: news@herald.test\r\nSubject: hello\r\n"
      "Message-ID: <tls-1@example.org>\r\n\r\nhello\r\n";
  EXPECT_EQ(HttpsRequest(server->mail_port(), anonymous, "POST", "/hooks/email/inbound", message,
                         {{"Content-Type", "message/rfc822"}}),
            401);
  EXPECT_EQ(HttpsRequest(server->mail_port(), anonymous, "POST", "/hooks/email/inbound", message,
                         {{"Content-Type", "message/rfc822"},
                          {"Authorization", std::string("Bearer ") + kMailSecret}}),
            200);
  // heraldctl inbound-mail, the MTA's pipe, to an https:// hook with --ca.
  std::ofstream(dir_ + "/mail-secret") << kMailSecret << "\n";
  std::ofstream(dir_ + "/message.eml") << message;
  std::ofstream(dir_ + "/server-ca.crt") << ca_.cert_pem();
  const std::string pipe =
      std::string(HERALD_HERALDCTL_PATH) +
      " inbound-mail --url https://127.0.0.1:" + std::to_string(server->mail_port()) +
      "/hooks/email/inbound" + " --secret-file " + dir_ + "/mail-secret";
  std::string out;
  EXPECT_EQ(testing::RunCommand(
                pipe + " --ca " + dir_ + "/server-ca.crt < " + dir_ + "/message.eml 2>&1", &out),
            0)
      << out;
  // Without the CA the server's certificate is not trusted: the mail stays queued (75).
  EXPECT_EQ(testing::RunCommand(pipe + " < " + dir_ + "/message.eml 2>&1", &out), 75) << out;
  EXPECT_THAT(out, HasSubstr("the mail stays queued"));
  // JSON API: mTLS, then the bearer key.
  const std::string topics = "/v1/SubscriptionService/ListTopics";
  const std::vector<std::pair<std::string, std::string>> json = {
      {"Content-Type", "application/json"},
      {"Authorization", std::string("Bearer ") + HeralddProcess::kCrmKey}};
  EXPECT_EQ(HttpsRequest(server->json_port(), Client(), "POST", topics, "{}", json, &body), 200)
      << body;
  EXPECT_THAT(body, HasSubstr("webinars"));
  EXPECT_EQ(HttpsRequest(server->json_port(), anonymous, "POST", topics, "{}", json, &body, &error),
            0);
  EXPECT_THAT(error, HasSubstr("certificate required"));
  TlsClientOptions stranger = anonymous;
  KeyPair pair = stranger_ca_.Issue("creatio-client", {"creatio.example.org"}, false);
  stranger.cert_pem = pair.cert_pem;
  stranger.key_pem = pair.key_pem;
  EXPECT_EQ(HttpsRequest(server->json_port(), stranger, "POST", topics, "{}", json, &body, &error),
            0);
  EXPECT_THAT(error, AnyOf(HasSubstr("unknown ca"), HasSubstr("certificate unknown"),
                           HasSubstr("decrypt error"), HasSubstr("bad certificate")));
  // Plain HTTP to a TLS port: never an answer in clear.
  for (int port : {server->ops_port(), server->http_port(), server->json_port()}) {
    EXPECT_EQ(testing::HttpGet(port, "/healthz"), 0) << port;
  }

  // The limits of the connection front hold over TLS: a head over http.max_header_bytes...
  TlsConnection big(server->http_port(), anonymous);
  ASSERT_TRUE(big.ok()) << big.error();
  ASSERT_TRUE(big.Send("GET /u/x HTTP/1.1\r\nHost: herald.test\r\nX-Filler: " +
                       std::string(8192, 'a') + "\r\n\r\n"));
  EXPECT_EQ(big.ReadResponse().status, 431);
  // ...a request that does not finish within http.request_timeout_ms...
  TlsConnection slow(server->http_port(), anonymous);
  ASSERT_TRUE(slow.ok()) << slow.error();
  ASSERT_TRUE(slow.Send("GET /u/x HTTP/1.1\r\nHost: herald.test\r\n"));
  EXPECT_EQ(slow.ReadResponse(std::chrono::seconds(10)).status, 408);
  // ...and a connection that never starts its handshake is closed by the same deadline.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(server->http_port()));
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 10000), 1) << "a silent connection was kept past the request timeout";
  char byte;
  EXPECT_LE(recv(fd, &byte, 1, 0), 0);
  close(fd);
}

// TLS-3: new certificate files reach new connections without a restart, while a connection
// made before finishes its call under the old certificate (HTTP and gRPC alike).
TEST_F(TlsTest, TLS_3_ReplacedCertificatesServeNewConnectionsWhileOldOnesFinish) {
  // The call begun before the renewal waits for it: give its request all the time it needs.
  auto server = StartServer(TlsYaml(60000));
  const TlsClientOptions anonymous = Client(false);
  // An HTTP call in flight: its head half sent.
  TlsConnection old_http(server->ops_port(), anonymous);
  ASSERT_TRUE(old_http.ok()) << old_http.error();
  EXPECT_EQ(old_http.PeerCommonName(), "herald-1");
  ASSERT_TRUE(old_http.Send("GET /healthz HTTP/1.1\r\nHost: herald.test\r\n"));
  // A gRPC stream in flight: reflection answers on an open bidirectional call.
  auto old_channel = TlsChannel(server->grpc_target(), ca_.cert_pem(), &client_pair_);
  auto reflection = refl::ServerReflection::NewStub(old_channel);
  grpc::ClientContext stream_ctx;
  testing::Authorize(stream_ctx, HeralddProcess::kAdminKey);
  auto stream = reflection->ServerReflectionInfo(&stream_ctx);
  refl::ServerReflectionRequest list;
  list.set_list_services("");
  refl::ServerReflectionResponse answer;
  ASSERT_TRUE(stream->Write(list));
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_EQ(GrpcPeerCommonName(stream_ctx), "herald-1");

  // The renewal, as cert-manager or a Secret update writes it.
  KeyPair renewed = ca_.Issue("herald-2", kServerNames);
  WriteFileAtomically(key_file(), renewed.key_pem);
  WriteFileAtomically(cert_file(), renewed.cert_pem);
  std::string peer;
  EXPECT_TRUE(testing::Eventually(
      [&] {
        return HttpsRequest(server->ops_port(), anonymous, "GET", "/healthz", "", {}, nullptr,
                            nullptr, &peer) == 200 &&
               peer == "herald-2";
      },
      std::chrono::seconds(15), std::chrono::milliseconds(100)))
      << "new HTTPS connections still get " << peer;
  EXPECT_TRUE(testing::Eventually(
      [&] {
        return HealthCheck(TlsChannel(server->grpc_target(), ca_.cert_pem(), &client_pair_),
                           &peer) == grpc::StatusCode::OK &&
               peer == "herald-2";
      },
      std::chrono::seconds(15), std::chrono::milliseconds(200)))
      << "new gRPC connections still get " << peer;
  for (int port : {server->http_port(), server->json_port(), server->mail_port()}) {
    TlsConnection fresh(port, Client());
    EXPECT_EQ(fresh.PeerCommonName(), "herald-2") << port << ": " << fresh.error();
  }

  // The calls begun before finish, on their connections, under the old certificate.
  ASSERT_TRUE(old_http.Send("\r\n"));
  auto response = old_http.ReadResponse();
  EXPECT_EQ(response.status, 200) << old_http.error();
  EXPECT_EQ(old_http.PeerCommonName(), "herald-1");
  ASSERT_TRUE(stream->Write(list));
  ASSERT_TRUE(stream->Read(&answer));
  EXPECT_GT(answer.list_services_response().service_size(), 0);
  stream->WritesDone();
  grpc::Status finished = stream->Finish();
  EXPECT_TRUE(finished.ok()) << finished.error_message();
  EXPECT_EQ(HealthCheck(old_channel, &peer), grpc::StatusCode::OK);
  EXPECT_EQ(peer, "herald-1") << "the old channel's connection was not kept";
  EXPECT_TRUE(server->LogHasLine({"certificate reloaded", "ops"}));

  // Half a renewal (a key that does not match the certificate) is refused and the current
  // certificate stays in use.
  const size_t refused = RefusedReloads(*server);
  KeyPair third = ca_.Issue("herald-3", kServerNames);
  WriteFileAtomically(cert_file(), third.cert_pem);
  EXPECT_TRUE(testing::Eventually([&] { return RefusedReloads(*server) > refused; },
                                  std::chrono::seconds(15), std::chrono::milliseconds(100)));
  EXPECT_TRUE(server->LogHasLine({"reloading a changed file failed", "does not match"}));
  EXPECT_EQ(HttpsRequest(server->ops_port(), anonymous, "GET", "/healthz", "", {}, nullptr, nullptr,
                         &peer),
            200);
  EXPECT_EQ(peer, "herald-2");
}

// TLS-5: a key ring kept in a file (a mounted Secret) is re-read when it changes: a link
// signed with a key added to the file verifies without a restart, and one whose key left
// the file stops verifying.
TEST_F(TlsTest, TLS_5_AKeyRingFileChangeIsHonouredWithoutARestart) {
  const std::string old_ring = "old:" + std::string(64, 'a');
  const std::string new_ring = "new:" + std::string(64, 'b');
  const std::string ring_file = dir_ + "/link-keys";
  WriteFileAtomically(ring_file, old_ring + "\n");
  // Polled pages: no per-client limit in the way.
  HeralddProcess server(db_->dsn(),
                        "files:\n  reload_interval_s: 1\nhttp:\n  rate_limit_per_minute: 0\n");
  server.AddEnv("HERALD_LINK_KEYS_FILE=" + ring_file);
  server.Start();

  crypto::LinkClaims claims;
  claims.subject_id = "0b7c5a8e-1d2f-4c3b-9a4e-5f6a7b8c9d0e";
  claims.channel = 1;
  claims.issued_at = Timestamp(std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now().time_since_epoch()));
  const std::string under_old = crypto::LinkSigner(crypto::KeyRing::Parse(old_ring)).Sign(claims);
  const std::string under_new = crypto::LinkSigner(crypto::KeyRing::Parse(new_ring)).Sign(claims);
  EXPECT_EQ(testing::HttpGet(server.http_port(), "/u/" + under_old), 200);
  EXPECT_EQ(testing::HttpGet(server.http_port(), "/u/" + under_new), 404);

  WriteFileAtomically(ring_file, new_ring + "," + old_ring + "\n");
  EXPECT_TRUE(testing::Eventually(
      [&] { return testing::HttpGet(server.http_port(), "/u/" + under_new) == 200; },
      std::chrono::seconds(15), std::chrono::milliseconds(100)))
      << "a link signed with the key added to the file does not verify";
  EXPECT_EQ(testing::HttpGet(server.http_port(), "/u/" + under_old), 200);
  EXPECT_TRUE(server.LogHasLine({"key ring reloaded", "\"ring\":\"link\"", "new"}));

  // A broken file is refused and the ring stays as it was.
  WriteFileAtomically(ring_file, "new:not-hex\n");
  EXPECT_TRUE(server.WaitForLogLine({"reloading a changed file failed", "not hex"}));
  EXPECT_EQ(testing::HttpGet(server.http_port(), "/u/" + under_new), 200);

  // Retiring the old key: its links stop verifying.
  WriteFileAtomically(ring_file, new_ring + "\n");
  EXPECT_TRUE(testing::Eventually(
      [&] { return testing::HttpGet(server.http_port(), "/u/" + under_old) == 404; },
      std::chrono::seconds(15), std::chrono::milliseconds(100)));
  EXPECT_EQ(testing::HttpGet(server.http_port(), "/u/" + under_new), 200);
  EXPECT_THAT(server.Log(), Not(HasSubstr(std::string(64, 'b'))));
}

// TLS-6: start-up refuses a listener other machines can reach without TLS, naming it, unless
// the configuration says a proxy terminates TLS in front of it; bad certificate files are
// refused naming the file.
TEST_F(TlsTest, TLS_6_StartUpRefusesAnOpenPlaintextListenerAndBadCertificates) {
  {
    HeralddProcess server(db_->dsn());
    server.AddEnv("HERALD_HTTP_LISTEN=0.0.0.0:0");
    try {
      server.Start();
      ADD_FAILURE() << "heraldd started with a plaintext listener on 0.0.0.0";
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr("exited during start-up"));
      EXPECT_THAT(server.Log(), HasSubstr("http.listen: 0.0.0.0:0 is reachable from other "
                                          "machines and the listener has no TLS"));
    }
  }
  // Allowed when tls.plaintext_listeners names it: TlsConfigTest (config_test.cc) checks
  // that without binding an address other machines could reach.
  {
    // A key that belongs to another certificate.
    KeyPair other = ca_.Issue("herald-other", kServerNames);
    WriteFileAtomically(key_file(), other.key_pem);
    HeralddProcess server(db_->dsn(), TlsYaml());
    server.UseTls(Client());
    try {
      server.Start();
      ADD_FAILURE() << "heraldd started with a key that does not match its certificate";
    } catch (const std::runtime_error&) {
      EXPECT_THAT(server.Log(), HasSubstr("configuration error: tls.key_file " + key_file() +
                                          " does not match tls.cert_file"));
    }
  }
}

}  // namespace
}  // namespace herald
