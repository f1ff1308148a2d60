// Suppression keys on a real PostgreSQL: the refusal of a ring that lacks a key active rows
// use (SEC-15), and the re-hash that moves rows onto the newest key while every suppressed
// address stays refused (SEC-16).
#include <gmock/gmock.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/crypto/link_token.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "common/error.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/recipient_links.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/suppressions.h"
#include "tests/support/test_database.h"

namespace herald::subscriptions {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kOldRing[] = "k1:1111111111111111111111111111111111111111111111111111111111111111";
constexpr char kNewRing[] = "k2:2222222222222222222222222222222222222222222222222222222222222222";
constexpr char kKeys[] =
    "k2:2222222222222222222222222222222222222222222222222222222222222222,"
    "k1:1111111111111111111111111111111111111111111111111111111111111111";

// Registries wired as heraldd wires them, on one fresh database, for three rings: `before_`
// is heraldd before the rotation (k1 alone: its rows are under k1), `rotated_` after it (k2
// newest, k1 older: the ring the re-hash runs with), `after_` once k1 has left the ring.
class SuppressionKeysTest : public ::testing::Test {
 protected:
  struct Wired {
    std::unique_ptr<crypto::SuppressionHasher> hasher;
    std::unique_ptr<EligibilityGate> gate;
    std::unique_ptr<SubscriptionRegistry> registry;
  };

  void SetUp() override {
    db_ = herald::testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    pool_ = std::make_unique<db::Pool>(db_->dsn(), 10, std::chrono::seconds(10));
    before_ = Wire(kOldRing);
    rotated_ = Wire(kKeys);
    after_ = Wire(kNewRing);
  }

  Wired Wire(const char* ring) {
    Wired w;
    w.hasher = std::make_unique<crypto::SuppressionHasher>(crypto::KeyRing::Parse(ring));
    w.gate = std::make_unique<EligibilityGate>(*w.hasher, "AZ", std::vector<std::string>{"AZ"});
    w.registry =
        std::make_unique<SubscriptionRegistry>(*pool_, clock_, topics_, *w.hasher, *w.gate);
    return w;
  }

  void NewSubject(const std::string& email, const std::string& phone = "") {
    v1::UpsertSubjectRequest r;
    r.set_given_name("Aysel");
    if (!email.empty()) r.add_emails(email);
    if (!phone.empty()) r.add_phones(phone);
    rotated_.registry->UpsertSubject(crm_, r);
  }

  void OptOutWith(SubscriptionRegistry& registry, const std::string& address) {
    v1::OptOutRequest r;
    r.set_address(address);
    r.set_scope(v1::ALL_MARKETING);
    r.mutable_proof()->set_source(v1::LINK);
    registry.OptOut(crm_, r);
  }

  // Whether `registry`'s gate refuses e-mail to the bare address because it is suppressed.
  bool Suppressed(SubscriptionRegistry& registry, const std::string& address) {
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_address(address);
    r.set_channel(v1::EMAIL);
    r.set_topic("product_news");
    auto d = registry.CheckEligibility(crm_, r).decision();
    return !d.allowed() && d.reason() == v1::ADDRESS_SUPPRESSED;
  }

  void RequireRing(const char* ring) {
    auto conn = pool_->Acquire();
    RequireSuppressionKeysInRing(*conn, *crypto::KeyRing::Parse(ring).Snapshot());
  }

  std::string RingRefusal(const char* ring) {
    try {
      RequireRing(ring);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }

  v1::RehashSuppressionsResponse Batch(int64_t after, int size, bool dry_run = false) {
    v1::RehashSuppressionsRequest r;
    r.set_after_address(after);
    r.set_batch_size(size);
    r.set_dry_run(dry_run);
    return RehashSuppressions(*pool_, *rotated_.hasher, r);
  }

  // A whole pass, batch by batch; returns the last answer with the pass's rehashed total.
  v1::RehashSuppressionsResponse Pass(int size) {
    v1::RehashSuppressionsResponse last;
    int64_t after = 0, total = 0;
    do {
      last = Batch(after, size);
      total += last.rehashed();
      after = last.next_after_address();
    } while (!last.done());
    last.set_rehashed(total);
    return last;
  }

  int64_t RowsUnder(const std::string& key_id) {
    return std::stoll(
        db_->Scalar("SELECT count(*) FROM suppressions WHERE lifted_at IS NULL AND "
                    "key_id = '" +
                    key_id + "'"));
  }

  std::string Snapshot() {
    return db_->Scalar(
        "SELECT coalesce(string_agg(id || ':' || key_id || ':' || encode(address_key, 'hex'), ',' "
        "ORDER BY id), '') FROM suppressions");
  }

  // Runs f, which must throw herald::Error; returns it.
  template <typename F>
  Error CatchError(F&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "expected a herald::Error";
    return Error(ErrorCode::kInternal, "no error thrown");
  }

  std::unique_ptr<herald::testing::TestDatabase> db_;
  ManualClock clock_{ParseTimestamp("2026-11-27T10:00:00Z")};
  TopicCatalog topics_{std::vector<TopicConfig>{}};
  std::unique_ptr<db::Pool> pool_;
  Caller crm_{"crm-test", "req-1"};
  Wired before_, rotated_, after_;
};

// SEC-15: a ring without a key active suppressions use is refused, naming the key id and its
// row count and nothing personal; lifted rows refuse nothing and hold no key.
TEST_F(SuppressionKeysTest, SEC15_ARingMissingAUsedKeyIsRefusedNamingTheKeyAndItsRows) {
  OptOutWith(*before_.registry, "gone@example.com");
  OptOutWith(*before_.registry, "+994501112233");
  EXPECT_EQ(RingRefusal(kKeys), "");
  EXPECT_EQ(RingRefusal(kOldRing), "");

  std::string refusal = RingRefusal(kNewRing);
  EXPECT_THAT(refusal, HasSubstr("'k1' (2 active suppressions)"));
  EXPECT_THAT(refusal, Not(HasSubstr("gone@example.com")));
  EXPECT_THAT(refusal, Not(HasSubstr("994501112233")));
  // The harm the refusal prevents: under k2 alone the rows match nothing.
  EXPECT_FALSE(Suppressed(*after_.registry, "gone@example.com"));

  db_->Exec("UPDATE suppressions SET lifted_at = now()");
  EXPECT_EQ(RingRefusal(kNewRing), "");
}

// SEC-15: a one-click link to a bare address carries only the address's keyed hash, made
// under the key that was newest when the mail went out. Clicked after a rotation, its
// suppression is filed under that key, so the ring check keeps the key that makes it match;
// filed under the newest key (as before links named their key), dropping the old key would
// pass the check and make the address mailable again. Links that name no key, or a key the
// ring lost, are filed under the newest key.
TEST_F(SuppressionKeysTest, SEC15_ALinkOptOutIsFiledUnderTheKeyItsHashWasMadeWith) {
  const crypto::LinkSigner signer(crypto::KeyRing::Parse(kNewRing));
  RecipientLinks links(signer, *rotated_.registry, topics_, clock_, std::chrono::hours(24 * 30));
  // The link of a mail sent before the rotation (its hash under k1), naming `key_id`.
  auto click = [&](const std::string& email, const std::string& key_id) {
    crypto::LinkClaims c;
    c.address_key = before_.hasher->Current("email", email).hash;
    c.address_key_id = key_id;
    c.channel = v1::EMAIL;
    c.issued_at = clock_.Now();
    auto link = links.Open(signer.Sign(c));
    ASSERT_TRUE(link.has_value());
    EXPECT_TRUE(links.Unsubscribe(*link, LinkVisitor{}));
  };
  click("sent-under-k1@example.com", "k1");
  EXPECT_EQ(RowsUnder("k1"), 1);
  EXPECT_EQ(RowsUnder("k2"), 0);
  EXPECT_TRUE(Suppressed(*rotated_.registry, "sent-under-k1@example.com"));
  EXPECT_THAT(RingRefusal(kNewRing), HasSubstr("'k1' (1 active suppressions)"))
      << "k1 could be dropped while the address's only suppression needs it";

  click("older-link@example.com", "");
  click("lost-key@example.com", "k0");
  EXPECT_EQ(RowsUnder("k2"), 2);
  EXPECT_TRUE(Suppressed(*rotated_.registry, "older-link@example.com"));
}

// SEC-16: the re-hash moves the rows of addresses Herald still holds onto the newest key, and
// counts the rest (a bare address) as not movable; a dry run moves nothing; a second pass
// finds nothing to do.
TEST_F(SuppressionKeysTest, SEC16_TheRehashMovesHeldAddressesAndCountsTheRest) {
  NewSubject("held@example.com", "+994501112233");
  OptOutWith(*before_.registry, "held@example.com");
  OptOutWith(*before_.registry, "+994501112233");
  OptOutWith(*before_.registry, "bare@example.com");
  ASSERT_EQ(RowsUnder("k1"), 3);

  const std::string unchanged = Snapshot();
  auto dry = Batch(0, 1000, /*dry_run=*/true);
  EXPECT_EQ(dry.rehashed(), 2);
  EXPECT_TRUE(dry.done());
  EXPECT_EQ(dry.cannot_rehash(), 0);  // not known from a dry run
  EXPECT_EQ(Snapshot(), unchanged);

  auto pass = Pass(1);
  EXPECT_EQ(pass.rehashed(), 2);
  EXPECT_EQ(pass.remaining(), 1);
  EXPECT_EQ(pass.cannot_rehash(), 1);
  EXPECT_EQ(pass.newest_key_id(), "k2");
  ASSERT_EQ(pass.keys_size(), 2);
  EXPECT_EQ(pass.keys(0).key_id(), "k2");
  EXPECT_TRUE(pass.keys(0).newest());
  EXPECT_EQ(pass.keys(0).active_rows(), 2);
  EXPECT_EQ(pass.keys(1).key_id(), "k1");
  EXPECT_EQ(pass.keys(1).active_rows(), 1);
  EXPECT_EQ(RowsUnder("k2"), 2);
  EXPECT_EQ(RowsUnder("k1"), 1);

  // The moved rows match under k2 alone; the bare address still needs k1, which therefore
  // stays: the ring without it is refused.
  EXPECT_TRUE(Suppressed(*after_.registry, "held@example.com"));
  EXPECT_TRUE(Suppressed(*rotated_.registry, "bare@example.com"));
  EXPECT_FALSE(Suppressed(*after_.registry, "bare@example.com"));
  EXPECT_THAT(RingRefusal(kNewRing), HasSubstr("'k1' (1 active suppressions)"));

  auto again = Pass(1000);
  EXPECT_EQ(again.rehashed(), 0);
  EXPECT_EQ(again.cannot_rehash(), 1);
}

// A batch size out of range is refused naming the field, and changes nothing.
TEST_F(SuppressionKeysTest, SEC16_AnOversizedBatchIsRefusedAndChangesNothing) {
  NewSubject("held@example.com");
  OptOutWith(*before_.registry, "held@example.com");
  const std::string unchanged = Snapshot();
  Error e = CatchError([&] { Batch(0, 10001); });
  EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(e.what(), HasSubstr("batch_size"));
  EXPECT_EQ(Snapshot(), unchanged);
}

// SEC-16: while the re-hash runs, batch by batch, every address opted out so far stays
// refused after every batch, and opt-outs going on at the same time (new addresses, and
// addresses whose k1 row is being moved) are neither lost nor doubled.
TEST_F(SuppressionKeysTest, SEC16_EveryAddressStaysRefusedAtEveryStepOfARehash) {
  constexpr int kOld = 24, kNew = 24;
  std::vector<std::string> old_addresses, new_addresses;
  for (int i = 0; i < kOld; ++i) {
    old_addresses.push_back("old" + std::to_string(i) + "@example.com");
    NewSubject(old_addresses.back());
    OptOutWith(*before_.registry, old_addresses.back());
  }
  for (int i = 0; i < kNew; ++i) {
    new_addresses.push_back("new" + std::to_string(i) + "@example.com");
    NewSubject(new_addresses.back());
  }
  ASSERT_EQ(RowsUnder("k1"), kOld);

  std::mutex mu;
  std::vector<std::string> refused = old_addresses;  // every address whose opt-out returned
  std::atomic<bool> failed{false};
  std::thread opt_outs([&] {
    try {
      for (int i = 0; i < kNew; ++i) {
        OptOutWith(*rotated_.registry, new_addresses[i]);
        OptOutWith(*rotated_.registry, old_addresses[i]);  // covered by its k1 row, moved or not
        std::lock_guard lock(mu);
        refused.push_back(new_addresses[i]);
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
      failed = true;
    }
  });
  int64_t after = 0;
  int batches = 0;
  for (bool done = false; !done; ++batches) {
    auto r = Batch(after, 2);
    after = r.next_after_address();
    done = r.done();
    std::vector<std::string> now;
    {
      std::lock_guard lock(mu);
      now = refused;
    }
    for (const auto& a : now)
      ASSERT_TRUE(Suppressed(*rotated_.registry, a)) << a << ", batch " << batches;
  }
  opt_outs.join();
  ASSERT_FALSE(failed);
  EXPECT_GT(batches, 10);

  // A pass after the opt-outs ended leaves nothing under k1; k2 alone refuses everyone.
  Pass(1000);
  EXPECT_EQ(RowsUnder("k1"), 0);
  EXPECT_EQ(RowsUnder("k2"), kOld + kNew);
  EXPECT_EQ(RingRefusal(kNewRing), "");
  for (const auto& a : old_addresses) EXPECT_TRUE(Suppressed(*after_.registry, a)) << a;
  for (const auto& a : new_addresses) EXPECT_TRUE(Suppressed(*after_.registry, a)) << a;
}

}  // namespace
}  // namespace herald::subscriptions
