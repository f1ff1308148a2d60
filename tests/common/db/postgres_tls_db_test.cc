// TLS-4: PostgreSQL verify-full. heraldd's DSN may say sslmode=verify-full with sslrootcert
// naming the CA (CloudNativePG's CA secret, mounted): the connection is encrypted, the server
// certificate must chain to that CA and name the host connected to, and a server without TLS
// is refused rather than spoken to in clear. Proven against a throwaway cluster started with
// ssl=on and a certificate from a CA the test makes.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>

#include "tests/support/local_process.h"
#include "tests/support/test_ca.h"
#include "tests/support/test_database.h"

namespace herald::db {
namespace {

using testing::FreePort;
using ::testing::HasSubstr;

// A shell command's exit status and output, its errors included.
int RunShell(const std::string& command, std::string* out) {
  return testing::RunCommand(command + " 2>&1", out);
}

// The message of a connection attempt that failed, "" when it connected.
std::string ConnectError(const std::string& dsn) {
  try {
    pqxx::connection conn(dsn);
    return "";
  } catch (const pqxx::broken_connection& e) {
    return e.what();
  }
}

// A PostgreSQL 15 cluster of this test's own (deploy/dev/pg) in HERALD_TEST_STATE_DIR, with
// ssl=on and a server certificate for localhost and 127.0.0.1 issued by ca_; stopped and
// removed in TearDown, which runs even when an assertion failed.
class PostgresTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::getenv("HERALD_TEST_DATABASE_URL")) {
      if (testing::InCi()) FAIL() << "HERALD_TEST_DATABASE_URL is not set under CI";
      GTEST_SKIP() << "HERALD_TEST_DATABASE_URL is not set";
    }
    const char* state = std::getenv("HERALD_TEST_STATE_DIR");
    dir_ =
        std::string(state && *state ? state : "/var/tmp") + "/pg-tls-" + std::to_string(getpid());
    port_ = FreePort();
    (void)std::system(("rm -rf '" + dir_ + "'").c_str());
    ASSERT_EQ(mkdir(dir_.c_str(), 0700), 0) << dir_;
    created_ = true;

    testing::KeyPair server = ca_.Issue("herald-test-postgres", {"localhost", "127.0.0.1"});
    testing::WriteFileAtomically(dir_ + "/server.crt", server.cert_pem);
    testing::WriteFileAtomically(dir_ + "/server.key", server.key_pem);
    testing::WriteFileAtomically(dir_ + "/ca.crt", ca_.cert_pem());
    testing::WriteFileAtomically(dir_ + "/other-ca.crt", other_ca_.cert_pem());
    // PostgreSQL runs as `postgres` when we are root (deploy/dev/pg) and reads its key only
    // when that user owns it with mode 0600.
    if (geteuid() == 0) {
      const passwd* pg = getpwnam("postgres");
      ASSERT_NE(pg, nullptr) << "no postgres user";
      for (const char* file : {"", "/server.crt", "/server.key"}) {
        ASSERT_EQ(chown((dir_ + file).c_str(), pg->pw_uid, pg->pw_gid), 0) << dir_ << file;
      }
    }

    std::string out;
    int status = RunShell("HERALD_PG_OPTIONS=\"-c ssl=on -c ssl_cert_file='" + dir_ +
                              "/server.crt' -c ssl_key_file='" + dir_ + "/server.key'\" " +
                              Script() + " start '" + dir_ + "' " + std::to_string(port_),
                          &out);
    started_ = true;  // a half-started server is stopped too
    ASSERT_EQ(status, 0) << out;
  }

  void TearDown() override {
    std::string out;
    if (started_) RunShell(Script() + " stop '" + dir_ + "'", &out);
    if (created_) (void)std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  static std::string Script() { return std::string(HERALD_SOURCE_DIR) + "/deploy/dev/pg"; }

  // A keyword DSN for this cluster; `extra` adds or overrides keywords (a later one wins).
  std::string Dsn(const std::string& extra) const {
    return "host=127.0.0.1 port=" + std::to_string(port_) +
           " dbname=postgres user=postgres connect_timeout=5 " + extra;
  }
  std::string VerifyFull(const std::string& ca_file = "ca.crt") const {
    return "sslmode=verify-full sslrootcert=" + dir_ + "/" + ca_file;
  }

  static bool SessionUsesTls(pqxx::connection& conn) {
    pqxx::nontransaction tx(conn);
    return tx.exec1("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0].as<bool>();
  }

  testing::TestCa ca_{"Herald Test PostgreSQL CA"};
  testing::TestCa other_ca_{"Some Other CA"};
  std::string dir_;
  int port_ = 0;
  bool created_ = false, started_ = false;
};

TEST_F(PostgresTls, VerifyFullConnectsOverTlsWithTheRightCaAndName) {
  pqxx::connection by_ip(Dsn(VerifyFull()));
  EXPECT_TRUE(SessionUsesTls(by_ip));
  // The DNS name in the certificate works as well as the IP address.
  pqxx::connection by_name(Dsn(VerifyFull() + " host=localhost hostaddr=127.0.0.1"));
  EXPECT_TRUE(SessionUsesTls(by_name));
  // The control: the same query tells a session in clear apart.
  pqxx::connection in_clear(Dsn("sslmode=disable"));
  EXPECT_FALSE(SessionUsesTls(in_clear));
}

TEST_F(PostgresTls, VerifyFullRefusesAHostNameTheCertificateDoesNotName) {
  std::string error = ConnectError(Dsn(VerifyFull() + " host=db.wrong.invalid hostaddr=127.0.0.1"));
  EXPECT_THAT(error, HasSubstr("does not match host name \"db.wrong.invalid\""));
  // sslmode=require encrypts without checking the name: only verify-full catches this.
  EXPECT_EQ(ConnectError(Dsn("sslmode=require host=db.wrong.invalid hostaddr=127.0.0.1")), "");
}

TEST_F(PostgresTls, VerifyFullRefusesACertificateFromAnotherCa) {
  EXPECT_THAT(ConnectError(Dsn(VerifyFull("other-ca.crt"))),
              HasSubstr("certificate verify failed"));
  EXPECT_EQ(ConnectError(Dsn(VerifyFull())), "");
}

TEST_F(PostgresTls, VerifyFullRefusesAServerWithoutTls) {
  ASSERT_EQ(ConnectError(Dsn(VerifyFull())), "");
  // The same cluster restarted without ssl=on.
  std::string out;
  ASSERT_EQ(RunShell(Script() + " stop '" + dir_ + "'", &out), 0) << out;
  ASSERT_EQ(RunShell(Script() + " start '" + dir_ + "' " + std::to_string(port_), &out), 0) << out;
  EXPECT_THAT(ConnectError(Dsn(VerifyFull())), HasSubstr("server does not support SSL"));
  // The server itself answers, in clear: the refusal is the client's.
  EXPECT_EQ(ConnectError(Dsn("sslmode=disable")), "");
}

}  // namespace
}  // namespace herald::db
