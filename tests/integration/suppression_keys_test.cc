// Suppression keys against a running heraldd: SEC-15, a ring that lacks a key active
// suppressions use is refused at start-up (heraldd exits non-zero naming the key and its
// rows) and when a ring file changes (the old ring stays); SEC-16, `heraldctl suppressions`
// re-hashes rows onto the newest key while heraldd serves and reports the key whose rows
// cannot move as verify-only.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include "common/crypto/hash.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/local_process.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using ::testing::HasSubstr;
using testing::HeralddProcess;
using ::testing::Not;

const std::string kK1 = "k1:" + std::string(64, '1');
const std::string kK2 = "k2:" + std::string(64, '2');

// Replaces the file in one rename, as kubelet swaps a mounted Secret: the watcher never
// reads it half-written.
void WriteRing(const std::string& path, const std::string& ring) {
  std::ofstream(path + ".tmp") << ring << "\n";
  ASSERT_EQ(std::rename((path + ".tmp").c_str(), path.c_str()), 0);
}

class SuppressionKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    char tmpl[] = "/tmp/suppression-keys-it.XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    if (!dir_.empty()) (void)std::system(("rm -rf '" + dir_ + "'").c_str());
  }

  // A heraldd whose suppression ring is `ring` (the variable), started; throws when it does
  // not come up, which fails the test.
  std::unique_ptr<HeralddProcess> Start(const std::string& ring, const std::string& yaml = "") {
    auto p = std::make_unique<HeralddProcess>(db_->dsn(), yaml);
    p->AddEnv("HERALD_SUPPRESSION_KEYS=" + ring);
    p->Start();
    return p;
  }

  static grpc::Status OptOut(const HeralddProcess& p, const std::string& address,
                             const std::string& key) {
    auto stub = v1::SubscriptionService::NewStub(p.Channel());
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::OptOutRequest r;
    r.set_idempotency_key(key);
    r.set_address(address);
    r.set_scope(v1::ALL_MARKETING);
    r.mutable_proof()->set_source(v1::CRM);
    v1::OptOutResponse resp;
    return stub->OptOut(&ctx, r, &resp);
  }

  static void NewSubject(const HeralddProcess& p, const std::string& email) {
    auto stub = v1::SubscriptionService::NewStub(p.Channel());
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::UpsertSubjectRequest r;
    r.set_idempotency_key("subject-" + email);
    r.set_given_name("Aysel");
    r.add_emails(email);
    v1::UpsertSubjectResponse resp;
    auto status = stub->UpsertSubject(&ctx, r, &resp);
    ASSERT_TRUE(status.ok()) << status.error_message();
  }

  // Whether the gate refuses marketing e-mail to the address because it is suppressed.
  static bool Suppressed(const HeralddProcess& p, const std::string& address) {
    auto stub = v1::SubscriptionService::NewStub(p.Channel());
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_address(address);
    r.set_channel(v1::EMAIL);
    r.set_topic("webinars");
    v1::CheckEligibilityResponse resp;
    auto status = stub->CheckEligibility(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return !resp.decision().allowed() && resp.decision().reason() == v1::ADDRESS_SUPPRESSED;
  }

  // Runs `heraldd serve` to its exit (at most 30 s) with `ring`; returns the exit status and
  // puts its output in `out`.
  int RunHeraldd(const std::string& ring, std::string* out) {
    const std::string config = dir_ + "/herald.yaml";
    std::ofstream(config) << "database:\n  url: " << db_->dsn() << "\n"
                          << "grpc:\n  listen: 127.0.0.1:0\n"
                          << "http:\n  listen: 127.0.0.1:0\n"
                          << "clients:\n  - id: it-admin\n    key_sha256: "
                          << crypto::ToHex(crypto::Sha256(HeralddProcess::kAdminKey))
                          << "\n    scopes: [admin]\n"
                          << "public_base_url: https://herald.test\n";
    const std::string command =
        "env -i PATH=/usr/bin:/bin HERALD_SUPPRESSION_KEYS=" + ring +
        " HERALD_OPS_LISTEN=127.0.0.1:0 HERALD_JSON_API_LISTEN=127.0.0.1:0"
        " HERALD_INBOUND_MAIL_LISTEN=127.0.0.1:0 timeout 30 " HERALD_HERALDD_PATH
        " serve --config " +
        config + " --wait-for-db 5 2>&1";
    return testing::RunCommand(command, out);
  }

  std::unique_ptr<testing::TestDatabase> db_;
  std::string dir_;
};

// SEC-15: with a suppression under k1, heraldd started with a ring without k1 exits non-zero
// before serving, naming k1 and its row count and no address; with k1 in the ring it serves.
TEST_F(SuppressionKeysTest, SEC15_StartUpIsRefusedWhileActiveRowsUseAMissingKey) {
  auto before = Start(kK1);
  ASSERT_TRUE(OptOut(*before, "gone@example.com", "opt-out-1").ok());
  ASSERT_EQ(before->Stop(SIGTERM), 0);

  std::string out;
  int status = RunHeraldd(kK2, &out);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(status, 124) << "heraldd served with a ring that lacks k1:\n" << out;
  EXPECT_THAT(out, HasSubstr("suppression keys missing from the ring: 'k1' "
                             "(1 active suppressions)"))
      << out;
  EXPECT_THAT(out, Not(HasSubstr("gone@example.com")));
  EXPECT_THAT(out, Not(HasSubstr(std::string(64, '2'))));  // never a secret

  // Positive control: the rotated ring that still holds k1 serves and refuses the address.
  auto rotated = Start(kK2 + "," + kK1);
  EXPECT_TRUE(Suppressed(*rotated, "gone@example.com"));
}

// SEC-15: a ring file changed to one without k1 is refused while k1 has active rows; the
// previous ring stays in use and the address stays refused. A change that keeps k1 is taken.
TEST_F(SuppressionKeysTest, SEC15_AReloadedRingFileWithoutAUsedKeyIsRefused) {
  const std::string ring_file = dir_ + "/suppression.ring";
  WriteRing(ring_file, kK1);
  HeralddProcess server(db_->dsn(), "files:\n  reload_interval_s: 1\n");
  server.AddEnv("HERALD_SUPPRESSION_KEYS=");
  server.AddEnv("HERALD_SUPPRESSION_KEYS_FILE=" + ring_file);
  server.Start();
  ASSERT_TRUE(OptOut(server, "gone@example.com", "opt-out-1").ok());

  WriteRing(ring_file, kK2 + "," + kK1);
  ASSERT_TRUE(server.WaitForLogLine(
      {"key ring reloaded", "\"ring\":\"suppression\"", "\"newest_key\":\"k2\""}));

  WriteRing(ring_file, kK2);
  ASSERT_TRUE(
      server.WaitForLogLine({"reloading a changed file failed", "'k1' (1 active suppressions)"}))
      << server.Log();
  EXPECT_TRUE(Suppressed(server, "gone@example.com"));
  // Nor may the key suppressions are written under now be dropped, rows or not: a replica
  // still on the old file, or an opt-out after the count, would write under it.
  WriteRing(ring_file, kK1);
  ASSERT_TRUE(server.WaitForLogLine({"reloading a changed file failed", "drops key 'k2'"}))
      << server.Log();
  ASSERT_TRUE(OptOut(server, "later@example.com", "opt-out-2").ok());
  EXPECT_EQ(db_->Scalar("SELECT key_id FROM suppressions ORDER BY id DESC LIMIT 1"), "k2");
  EXPECT_THAT(server.Log(), Not(HasSubstr("gone@example.com")));
}

// SEC-16: `heraldctl suppressions keys` and `rehash` while heraldd serves: the held address's
// row moves onto k2, the bare address's cannot, and k1 is reported verify-only; the address
// stays refused throughout. Admin only; a bad batch size changes nothing.
TEST_F(SuppressionKeysTest, SEC16_HeraldctlRehashesAndReportsTheVerifyOnlyKey) {
  {
    auto before = Start(kK1);
    NewSubject(*before, "held@example.com");
    ASSERT_TRUE(OptOut(*before, "held@example.com", "opt-out-1").ok());
    ASSERT_TRUE(OptOut(*before, "bare@example.com", "opt-out-2").ok());
    ASSERT_EQ(before->Stop(SIGTERM), 0);
  }
  auto server = Start(kK2 + "," + kK1);
  std::string out;

  ASSERT_EQ(server->Heraldctl(HeralddProcess::kAdminKey, "suppressions keys", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("never: verify-only (1 row(s)")) << out;
  EXPECT_THAT(out, ::testing::ContainsRegex("k1 +2 +1 +1 ")) << out;

  EXPECT_EQ(server->Heraldctl(HeralddProcess::kCrmKey, "suppressions rehash", &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("PERMISSION_DENIED")) << out;
  EXPECT_EQ(
      server->Heraldctl(HeralddProcess::kAdminKey, "suppressions rehash --batch-size 10001", &out),
      1)
      << out;
  EXPECT_THAT(out, HasSubstr("batch_size")) << out;

  ASSERT_EQ(
      server->Heraldctl(HeralddProcess::kAdminKey, "suppressions rehash --batch-size 1", &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("re-hashed 1 suppression(s) onto key 'k2'")) << out;
  EXPECT_THAT(out, HasSubstr("cannot be re-keyed: 1")) << out;
  EXPECT_THAT(out, HasSubstr("keep key(s) 'k1'")) << out;
  // Its table counts the whole pass, not its last batch: nothing under k1 can move now.
  EXPECT_THAT(out, ::testing::ContainsRegex("k1 +1 +0 +1 +never: verify-only")) << out;
  EXPECT_TRUE(Suppressed(*server, "held@example.com"));
  EXPECT_TRUE(Suppressed(*server, "bare@example.com"));

  ASSERT_EQ(server->Heraldctl(HeralddProcess::kAdminKey, "suppressions keys", &out), 0) << out;
  EXPECT_THAT(out, ::testing::ContainsRegex("k1 +1 +0 +1 +never: verify-only")) << out;
  EXPECT_THAT(out, ::testing::ContainsRegex("k2 +1 +- +- +no: the newest key")) << out;

  // Run again: nothing left to move, the same verdict.
  ASSERT_EQ(server->Heraldctl(HeralddProcess::kAdminKey, "suppressions rehash", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("re-hashed 0 suppression(s)")) << out;
  EXPECT_THAT(out, HasSubstr("cannot be re-keyed: 1")) << out;
}

}  // namespace
}  // namespace herald
