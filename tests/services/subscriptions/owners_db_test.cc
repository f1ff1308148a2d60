// The owner modules of the gate rows, the suppressions and the event trail, on a real
// database: what each function writes, and the one meaning of a covering suppression.
#include <pqxx/pqxx>

#include "common/crypto/hash.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/gate/gate_rows.h"
#include "services/subscriptions/suppressions.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::subscriptions {
namespace {

class OwnersTest : public RegistryTest {
 protected:
  std::string KeyHex(const std::string& email) {
    return crypto::ToHex(hasher_->Current("email", email).hash);
  }
  std::vector<std::string> AllKeys(const std::string& email) {
    std::vector<std::string> out;
    for (const auto& h : hasher_->All("email", email)) out.push_back(crypto::ToHex(h.hash));
    return out;
  }
  // An event for a suppression to point at.
  int64_t Event(EventType type) {
    auto conn = pool_->Acquire();
    pqxx::work txn(conn->raw());
    int64_t id = AppendEvent(*conn, txn,
                             {std::nullopt, std::nullopt, type, "test", 0, clock_.Now(),
                              clock_.Now(), nlohmann::json::object(), nlohmann::json::object()});
    txn.commit();
    return id;
  }
  void Suppress(const std::string& email, const SuppressionScope& scope, SuppressionReason reason,
                Timestamp created_at) {
    int64_t event_id = Event(EventType::kSuppressionAdded);
    auto conn = pool_->Acquire();
    pqxx::work txn(conn->raw());
    InsertSuppression(*conn, txn,
                      {hasher_->newest_key_id(), KeyHex(email), scope, reason,
                       static_cast<int>(v1::CRM), created_at, event_id});
    txn.commit();
  }
  bool Covered(const std::string& email, const SuppressionScope& scope, SuppressionReason reason) {
    auto conn = pool_->Acquire();
    pqxx::read_transaction txn(conn->raw());
    return CoveringSuppressionExists(*conn, txn, AllKeys(email), scope, reason);
  }
  // Runs f in its own transaction on its own connection, giving up on a lock after 200 ms:
  // true when it had to wait that long (the lock is held elsewhere).
  template <typename F>
  bool Blocked(F&& f) {
    auto conn = pool_->Acquire();
    pqxx::work txn(conn->raw());
    txn.exec("SET LOCAL lock_timeout = '200ms'");
    try {
      f(*conn, txn);
    } catch (const std::exception& e) {
      if (std::string(e.what()).find("lock timeout") != std::string::npos) return true;
      throw;
    }
    return false;
  }
};

TEST_F(OwnersTest, LockSubjectForChangeReadsTheFlags) {
  std::string id = NewSubject("owner@example.com");
  Consent(id, v1::MARKETING, v1::SMS);
  auto conn = pool_->Acquire();
  pqxx::work txn(conn->raw());
  auto row = LockSubjectForChange(*conn, txn, id, clock_.Now());
  ASSERT_TRUE(row);
  EXPECT_EQ(row->state, "active");
  EXPECT_FALSE(row->blocked);
  EXPECT_FALSE(row->revoked);
  EXPECT_EQ(row->marketing_channels, 1 << static_cast<int>(Channel::kSms));
  EXPECT_FALSE(
      LockSubjectForChange(*conn, txn, "00000000-0000-4000-8000-000000000000", clock_.Now()));
  txn.commit();
}

// Rule 1 of gate_rows.h without the version bump: the subject's gate row, taken for change,
// shuts out a claim's FOR SHARE until the change commits.
TEST_F(OwnersTest, TheGateRowTakenForChangeShutsOutClaimsUntilCommit) {
  std::string id = NewSubject("held@example.com");
  const std::string claim =
      "SELECT id::text FROM subjects WHERE id = '" + id + "' FOR SHARE NOWAIT";
  EXPECT_EQ(db_->Scalar(claim), id);  // positive control: nothing holds it yet
  auto conn = pool_->Acquire();
  {
    pqxx::work txn(conn->raw());
    ASSERT_TRUE(LockSubjectForChange(*conn, txn, id, clock_.Now()));
    EXPECT_THROW(db_->Scalar(claim), pqxx::sql_error);
    txn.commit();
  }
  EXPECT_EQ(db_->Scalar(claim), id);
}

TEST_F(OwnersTest, LockAddressForChangeCreatesThenBumpsTheAddressRow) {
  const std::string key = KeyHex("bare@example.com");
  const std::string version =
      "SELECT coalesce((SELECT version FROM address_gates WHERE address_key = decode('" + key +
      "', 'hex'))::text, 'none')";
  EXPECT_EQ(db_->Scalar(version), "none");
  for (int expected : {1, 2}) {
    auto conn = pool_->Acquire();
    pqxx::work txn(conn->raw());
    LockAddressForChange(*conn, txn, key);
    txn.commit();
    EXPECT_EQ(db_->Scalar(version), std::to_string(expected));
  }
}

// The rule itself: a change waits for a claim holding the same rows, and a claim waits for a
// change; claims do not wait for each other.
TEST_F(OwnersTest, ChangeAndClaimOfTheSameRecipientExcludeEachOther) {
  std::string id = NewSubject("shared@example.com");
  const std::vector<ClaimRecipient> by_address = {{"", Channel::kEmail, "shared@example.com"}};
  const std::vector<ClaimRecipient> by_subject = {{id, Channel::kEmail, "other@example.com"}};
  const std::string key = KeyHex("shared@example.com");

  auto claim_conn = pool_->Acquire();
  {
    pqxx::work claim(claim_conn->raw());
    LockForClaim(*claim_conn, claim, *hasher_, by_address);
    // The address's owner and the address row are both held.
    EXPECT_TRUE(Blocked(
        [&](db::Connection& c, pqxx::work& t) { LockSubjectForChange(c, t, id, clock_.Now()); }));
    EXPECT_TRUE(
        Blocked([&](db::Connection& c, pqxx::work& t) { LockAddressForChange(c, t, key); }));
    EXPECT_FALSE(Blocked(
        [&](db::Connection& c, pqxx::work& t) { LockForClaim(c, t, *hasher_, by_subject); }));
    claim.commit();
  }
  EXPECT_FALSE(Blocked(
      [&](db::Connection& c, pqxx::work& t) { LockSubjectForChange(c, t, id, clock_.Now()); }));

  pqxx::work change(claim_conn->raw());
  LockSubjectForChange(*claim_conn, change, id, clock_.Now());
  EXPECT_TRUE(
      Blocked([&](db::Connection& c, pqxx::work& t) { LockForClaim(c, t, *hasher_, by_subject); }));
  EXPECT_TRUE(
      Blocked([&](db::Connection& c, pqxx::work& t) { LockForClaim(c, t, *hasher_, by_address); }));
  change.abort();
}

TEST_F(OwnersTest, ACoveringSuppressionIsAsBroadAndForTheSameReason) {
  const Timestamp t = clock_.Now();
  Suppress("a@example.com", {1, ""}, SuppressionReason::kUnsubscribed, t);
  EXPECT_TRUE(Covered("a@example.com", {1, ""}, SuppressionReason::kUnsubscribed));
  EXPECT_TRUE(Covered("a@example.com", {1, "webinars"}, SuppressionReason::kUnsubscribed));
  EXPECT_FALSE(Covered("a@example.com", {0, ""}, SuppressionReason::kUnsubscribed));  // broader
  EXPECT_FALSE(Covered("a@example.com", {2, ""}, SuppressionReason::kUnsubscribed));
  EXPECT_FALSE(Covered("a@example.com", {1, ""}, SuppressionReason::kRevoked));  // another reason
  EXPECT_FALSE(Covered("a@example.com", {1, ""}, SuppressionReason::kHardBounce));
  EXPECT_FALSE(Covered("b@example.com", {1, ""}, SuppressionReason::kUnsubscribed));

  Suppress("b@example.com", {0, "webinars"}, SuppressionReason::kRevoked, t);
  EXPECT_TRUE(Covered("b@example.com", {2, "webinars"}, SuppressionReason::kRevoked));
  EXPECT_FALSE(Covered("b@example.com", {0, ""}, SuppressionReason::kRevoked));

  // A lifted one covers nothing.
  db_->Exec("UPDATE suppressions SET lifted_at = now()");
  EXPECT_FALSE(Covered("a@example.com", {1, ""}, SuppressionReason::kUnsubscribed));
}

TEST_F(OwnersTest, AConsentLiftsWhatItPostdatesOnItsChannelButNoBounceOrManualEntry) {
  const Timestamp t = clock_.Now();
  Suppress("c@example.com", {0, ""}, SuppressionReason::kUnsubscribed, t);
  Suppress("c@example.com", {1, "webinars"}, SuppressionReason::kComplaint, t);
  Suppress("c@example.com", {1, ""}, SuppressionReason::kHardBounce, t);
  Suppress("c@example.com", {0, ""}, SuppressionReason::kManual, t);
  Suppress("c@example.com", {2, ""}, SuppressionReason::kUnsubscribed, t);
  Suppress("c@example.com", {1, ""}, SuppressionReason::kRevoked, t + std::chrono::hours(2));
  int64_t event_id = Event(EventType::kConsentGranted);
  auto conn = pool_->Acquire();
  pqxx::work txn(conn->raw());
  EXPECT_EQ(
      LiftSuppressionsByConsent(*conn, txn, AllKeys("c@example.com"), Channel::kEmail,
                                t + std::chrono::hours(1), event_id, t + std::chrono::hours(3)),
      2);
  txn.commit();
  EXPECT_EQ(db_->Scalar("SELECT string_agg(channel || ':' || reason, ',' ORDER BY id)"
                        " FROM suppressions WHERE lifted_at IS NOT NULL"),
            "0:1,1:4");
}

TEST_F(OwnersTest, StartLiftsOnlySmsStopsWhateverTheirChannel) {
  const Timestamp t = clock_.Now();
  Suppress("d@example.com", {2, ""}, SuppressionReason::kSmsStop, t);
  Suppress("d@example.com", {0, ""}, SuppressionReason::kSmsStop, t);
  Suppress("d@example.com", {2, ""}, SuppressionReason::kUnsubscribed, t);
  int64_t event_id = Event(EventType::kSuppressionLifted);
  auto conn = pool_->Acquire();
  pqxx::work txn(conn->raw());
  EXPECT_EQ(LiftSmsStops(*conn, txn, AllKeys("d@example.com"), event_id, t), 2);
  txn.commit();
  EXPECT_EQ(db_->Scalar("SELECT string_agg(reason::text, ',') FROM suppressions"
                        " WHERE lifted_at IS NULL"),
            "1");
}

// Privacy intake selects its markers through a partial index on the type's text: the name
// the trail writes must be the one the index was made for.
TEST_F(OwnersTest, TheIntakeIndexNamesTheMarkerEventTypeTheTrailWrites) {
  std::string def =
      db_->Scalar("SELECT pg_get_indexdef('events_privacy_request_received'::regclass)");
  EXPECT_NE(def.find(std::string("'") + EventTypeName(EventType::kPrivacyRequestReceived) + "'"),
            std::string::npos)
      << def;
}

TEST_F(OwnersTest, AppendEventWritesTheTypesTextAndPersonalValuesAside) {
  std::string id = NewSubject("trail@example.com");
  auto conn = pool_->Acquire();
  pqxx::work txn(conn->raw());
  int64_t event_id = AppendEvent(*conn, txn,
                                 {id,
                                  std::nullopt,
                                  EventType::kSuppressionLifted,
                                  "test",
                                  0,
                                  clock_.Now(),
                                  clock_.Now(),
                                  {{"why", "test"}},
                                  {{"address", "trail@example.com"}}});
  // subject.created's, address.added's and this one's
  EXPECT_EQ(DeletePersonalValues(*conn, txn, id, {}), 3);
  txn.commit();
  EXPECT_EQ(db_->Scalar("SELECT type FROM events WHERE id = " + std::to_string(event_id)),
            "suppression.lifted");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM event_personal WHERE subject_id = '" + id + "'"),
            "0");
}

}  // namespace
}  // namespace herald::subscriptions
