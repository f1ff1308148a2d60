// The gate on a real PostgreSQL: every reason code from stored state, the rules of DESIGN.md
// (fail safe on shared addresses, service topic, cross-border, suppressions under rotating
// keys), the batch path deciding 10,000 recipients set-based, and the matrix path (a
// subject's every channel and topic at once) agreeing with it cell by cell.
#include <gmock/gmock.h>

#include <atomic>
#include <set>

#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::subscriptions {
namespace {

// The person opts back in to one topic on one channel (from a preference page).
void Resubscribe(SubscriptionRegistry& registry, const Caller& caller, const std::string& id,
                 const std::string& topic, v1::Channel channel) {
  v1::SetPreferencesRequest p;
  p.set_subject_id(id);
  auto* c = p.add_changes();
  c->set_topic(topic);
  c->set_channel(channel);
  c->set_subscribed(true);
  p.mutable_proof()->set_source(v1::LINK);
  registry.SetPreferences(caller, p);
}

TEST_F(RegistryTest, AllowsWithProcessingAndChannelConsent) {
  std::string id = NewSubject("ok@example.com", "+994501234567");
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::NO_CONSENT);
  ConsentAll(id);
  auto d = Check(id, "", v1::EMAIL);
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.address(), "ok@example.com");
  EXPECT_TRUE(Check(id, "+994 50 123 45 67", v1::SMS).allowed());
  EXPECT_TRUE(Check(id, "", v1::CALL).allowed());  // CALL is a channel like the others
  EXPECT_TRUE(Check("", "OK@Example.com", v1::EMAIL).allowed());  // by bare address
}

TEST_F(RegistryTest, ASubjectsConsentDoesNotCoverAnAddressItDoesNotOwn) {
  std::string id = NewSubject("mine@example.com", "+79161110000");
  ConsentAll(id);
  EXPECT_TRUE(Check(id, "mine@example.com", v1::EMAIL).allowed());
  // A stale CRM number, now someone else's: the subject's consent does not reach it.
  EXPECT_EQ(Check(id, "+79162220000", v1::SMS).reason(), v1::NO_CONSENT);
  EXPECT_EQ(Check(id, "stranger@example.com", v1::EMAIL).reason(), v1::NO_CONSENT);
  db_->Exec("UPDATE subjects SET blocked = true WHERE id = '" + id + "'");
  EXPECT_EQ(Check(id, "stranger@example.com", v1::EMAIL).reason(), v1::SUBJECT_BLOCKED);
}

TEST_F(RegistryTest, ReasonInvalidAddress) {
  std::string id = NewSubject("only-mail@example.com");
  ConsentAll(id);
  EXPECT_EQ(Check(id, "", v1::SMS).reason(), v1::INVALID_ADDRESS);  // no phone to send to
  EXPECT_EQ(Check("", "not an address", v1::EMAIL).reason(), v1::INVALID_ADDRESS);
  EXPECT_EQ(Check(id, "only-mail@example.com", v1::SMS).reason(), v1::INVALID_ADDRESS);
}

TEST_F(RegistryTest, ReasonSubjectDestroyedAndDepersonalized) {
  std::string id = NewSubject("gone@example.com");
  ConsentAll(id);
  db_->Exec("UPDATE subjects SET state = 'depersonalized' WHERE id = '" + id + "'");
  EXPECT_EQ(Check(id, "gone@example.com", v1::EMAIL).reason(), v1::SUBJECT_DESTROYED);
  db_->Exec("UPDATE subjects SET state = 'destroyed', blocked = true WHERE id = '" + id + "'");
  EXPECT_EQ(Check(id, "gone@example.com", v1::EMAIL).reason(), v1::SUBJECT_DESTROYED);
}

TEST_F(RegistryTest, ReasonSubjectBlocked) {
  std::string id = NewSubject("blocked@example.com");
  ConsentAll(id);
  db_->Exec("UPDATE subjects SET blocked = true WHERE id = '" + id + "'");
  OptOutAddress("blocked@example.com", v1::ALL_MARKETING);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::SUBJECT_BLOCKED);
  EXPECT_EQ(Check(id, "", v1::EMAIL, "service").reason(), v1::SUBJECT_BLOCKED);
}

TEST_F(RegistryTest, ReasonConsentRevokedByWithdrawingProcessingConsent) {
  std::string id = NewSubject("revoke@example.com");
  ConsentAll(id);
  Consent(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, /*granted=*/false);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::CONSENT_REVOKED);
  EXPECT_EQ(Check(id, "", v1::EMAIL, "service").reason(), v1::CONSENT_REVOKED);
  v1::GetSubjectRequest g;
  g.set_subject_id(id);
  EXPECT_TRUE(registry_->GetSubject(crm_, g).subject().revoked());
}

TEST_F(RegistryTest, ReasonAddressSuppressedAndCaseInsensitiveMatch) {
  std::string id = NewSubject("Ivan@Example.COM");
  ConsentAll(id);
  auto resp = OptOutAddress("ivan@example.com", v1::ALL_MARKETING);
  EXPECT_TRUE(resp.changed());
  EXPECT_EQ(resp.in_flight_messages(), 0);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check("", "IVAN@example.com", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
  // Idempotent: the same opt-out again changes nothing and adds no row.
  EXPECT_FALSE(OptOutAddress("ivan@example.com", v1::ALL_MARKETING).changed());
  EXPECT_EQ(Count("suppressions"), 1);
  // Only the keyed hash is stored, never the address.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM suppressions WHERE address_key::text LIKE '%ivan%'"),
            "0");
}

TEST_F(RegistryTest, BareAddressOptOutSuppressesASubjectCreatedLater) {
  OptOutAddress("+7 916 765-43-21", v1::CHANNEL, v1::SMS);
  std::string id = NewSubject("", "89167654321");
  ConsentAll(id);
  EXPECT_EQ(Check(id, "", v1::SMS).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_TRUE(Check(id, "", v1::CALL).allowed());  // the opt-out was for SMS only
  // The subject's trail shows the address event.
  v1::ListSubjectEventsRequest r;
  r.set_subject_id(id);
  auto events = registry_->ListSubjectEvents(crm_, r);
  bool saw = false;
  for (const auto& e : events.events()) saw = saw || e.type() == "suppression.added";
  EXPECT_TRUE(saw);
}

TEST_F(RegistryTest, ReasonCrossBorderNotAllowed) {
  std::string id = NewSubject("abroad@example.com");
  ConsentAll(id);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "product_news", "RU").allowed());
  EXPECT_EQ(Check(id, "", v1::EMAIL, "product_news", "us").reason(), v1::CROSS_BORDER_NOT_ALLOWED);
  EXPECT_EQ(Check("", "nobody@example.com", v1::EMAIL, "product_news", "US").reason(),
            v1::CROSS_BORDER_NOT_ALLOWED);
  Consent(id, v1::CROSS_BORDER, v1::CHANNEL_UNSPECIFIED);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "product_news", "US").allowed());
}

TEST_F(RegistryTest, ReasonNoConsent) {
  std::string id = NewSubject("nc@example.com");
  Consent(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::NO_CONSENT);  // no marketing consent
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "service").allowed());    // service needs none
  EXPECT_EQ(Check("", "stranger@example.com", v1::EMAIL).reason(), v1::NO_CONSENT);
  Consent(id, v1::MARKETING, v1::EMAIL);
  EXPECT_TRUE(Check(id, "", v1::EMAIL).allowed());
  Consent(id, v1::MARKETING, v1::EMAIL, /*granted=*/false);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::NO_CONSENT);
}

TEST_F(RegistryTest, ReasonsUnsubscribedAllChannelTopicAndNewestWins) {
  std::string id = NewSubject("prefs@example.com", "+79161112233");
  ConsentAll(id);
  EXPECT_TRUE(OptOutSubject(id, v1::TOPIC, v1::EMAIL, "events").changed());
  EXPECT_EQ(Check(id, "", v1::EMAIL, "events").reason(), v1::UNSUBSCRIBED_TOPIC);
  EXPECT_TRUE(Check(id, "", v1::SMS, "events").allowed());
  EXPECT_TRUE(OptOutSubject(id, v1::CHANNEL, v1::SMS).changed());
  EXPECT_EQ(Check(id, "", v1::SMS, "product_news").reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_TRUE(OptOutSubject(id, v1::ALL_MARKETING).changed());
  EXPECT_EQ(Check(id, "", v1::CALL, "webinars").reason(), v1::UNSUBSCRIBED_ALL);
  EXPECT_FALSE(OptOutSubject(id, v1::ALL_MARKETING).changed());
  // Opting back in to one topic on one channel re-enables exactly that.
  Resubscribe(*registry_, crm_, id, "webinars", v1::CALL);
  EXPECT_TRUE(Check(id, "", v1::CALL, "webinars").allowed());
  EXPECT_EQ(Check(id, "", v1::CALL, "events").reason(), v1::UNSUBSCRIBED_ALL);
  // Service notices ignore preferences.
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "service").allowed());
}

TEST_F(RegistryTest, ServiceTopicHonoursHardBounceButNotUnsubscribe) {
  std::string id = NewSubject("svc@example.com");
  Consent(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  OptOutAddress("svc@example.com", v1::ALL_MARKETING);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "billing").allowed());
  OptOutAddress("svc@example.com", v1::CHANNEL, v1::EMAIL, "", v1::HARD_BOUNCE);
  EXPECT_EQ(Check(id, "", v1::EMAIL, "billing").reason(), v1::ADDRESS_SUPPRESSED);
}

TEST_F(RegistryTest, SharedAddressFailsSafe) {
  // Two CRM contacts share one family mailbox; one of them unsubscribed.
  std::string a = NewSubject("family@example.com", "", "contact-a");
  std::string b = NewSubject("family@example.com", "", "contact-b");
  ASSERT_NE(a, b);
  ConsentAll(a);
  ConsentAll(b);
  EXPECT_TRUE(Check("", "family@example.com", v1::EMAIL).allowed());
  OptOutSubject(b, v1::CHANNEL, v1::EMAIL);
  EXPECT_EQ(Check("", "family@example.com", v1::EMAIL).reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_EQ(Check(a, "family@example.com", v1::EMAIL).reason(), v1::UNSUBSCRIBED_CHANNEL);
  db_->Exec("UPDATE subjects SET blocked = true WHERE id = '" + b + "'");
  EXPECT_EQ(Check(a, "family@example.com", v1::EMAIL).reason(), v1::SUBJECT_BLOCKED);
}

TEST_F(RegistryTest, SuppressionUnderARetiringKeyStillMatches) {
  // Written while "k1" was the only key...
  crypto::SuppressionHasher old_hasher(crypto::KeyRing::Parse(
      "k1:1111111111111111111111111111111111111111111111111111111111111111"));
  EligibilityGate old_gate(old_hasher, "RU", {"RU"});
  SubscriptionRegistry old_registry(*pool_, clock_, topics_, old_hasher, old_gate);
  v1::OptOutRequest r;
  r.set_address("rotate@example.com");
  r.set_scope(v1::ALL_MARKETING);
  r.mutable_proof()->set_source(v1::LINK);
  old_registry.OptOut(crm_, r);
  EXPECT_EQ(db_->Scalar("SELECT key_id FROM suppressions"), "k1");
  // ...and read after "k2" became the newest.
  std::string id = NewSubject("rotate@example.com");
  ConsentAll(id);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_FALSE(registry_->OptOut(crm_, r).changed());
}

TEST_F(RegistryTest, NewerConsentLiftsSuppressionButNotHardBounce) {
  std::string id = NewSubject("back@example.com");
  ConsentAll(id);
  OptOutAddress("back@example.com", v1::CHANNEL, v1::EMAIL);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
  clock_.Advance(std::chrono::minutes(1));
  Consent(id, v1::MARKETING, v1::EMAIL);
  EXPECT_TRUE(Check(id, "", v1::EMAIL).allowed());

  clock_.Advance(std::chrono::minutes(1));
  OptOutAddress("back@example.com", v1::CHANNEL, v1::EMAIL, "", v1::HARD_BOUNCE);
  clock_.Advance(std::chrono::minutes(1));
  Consent(id, v1::MARKETING, v1::EMAIL);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
}

TEST_F(RegistryTest, CheckRejectsBadRequests) {
  std::string id = NewSubject("bad@example.com");
  auto code = [&](const std::function<void(v1::CheckEligibilityRequest&)>& spoil) {
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(v1::EMAIL);
    r.set_topic("product_news");
    spoil(r);
    return CatchError([&] { registry_->CheckEligibility(crm_, r); }).code();
  };
  EXPECT_EQ(code([](auto& r) { r.set_topic("nonexistent"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_channel(v1::CHANNEL_UNSPECIFIED); }),
            ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.set_provider_country("USA"); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) { r.clear_recipient(); }), ErrorCode::kInvalidArgument);
  EXPECT_EQ(code([](auto& r) {
              r.mutable_recipient()->set_subject_id("11111111-1111-1111-1111-111111111111");
            }),
            ErrorCode::kNotFound);
}

TEST_F(RegistryTest, BatchDecidesTenThousandRecipientsSetBased) {
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(NewSubject("batch" + std::to_string(i) + "@example.com"));
    if (i % 2 == 0) ConsentAll(ids.back());
  }
  OptOutAddress("batch4@example.com", v1::ALL_MARKETING);
  std::atomic<int> statements{0};
  db::Pool counting_pool(db_->dsn(), 2, std::chrono::seconds(10),
                         [&](const char*, std::chrono::nanoseconds) { ++statements; });
  SubscriptionRegistry counted(counting_pool, clock_, topics_, *hasher_, *gate_);

  v1::CheckEligibilityBatchRequest r;
  r.set_channel(v1::EMAIL);
  r.set_topic("special_offers");
  for (int i = 0; i < SubscriptionRegistry::kMaxBatch; ++i) {
    auto* rec = r.add_recipients();
    switch (i % 4) {
      case 0:
        rec->set_subject_id(ids[i % 20]);
        break;
      case 1:
        rec->set_address("batch" + std::to_string(i % 20) + "@EXAMPLE.com");
        break;
      case 2:
        rec->set_address("unknown" + std::to_string(i) + "@example.com");
        break;
      default:
        rec->set_address("broken address " + std::to_string(i));
        break;
    }
  }
  auto resp = counted.CheckEligibilityBatch(crm_, r);
  ASSERT_EQ(resp.decisions_size(), SubscriptionRegistry::kMaxBatch);
  EXPECT_LE(statements.load(), 3) << "the batch must be decided set-based";
  for (int i = 0; i < r.recipients_size(); ++i) {
    int s = i % 20;
    v1::DenyReason want;
    if (i % 4 == 2) {
      want = v1::NO_CONSENT;
    } else if (i % 4 == 3) {
      want = v1::INVALID_ADDRESS;
    } else if (s == 4) {
      want = v1::ADDRESS_SUPPRESSED;
    } else {
      want = s % 2 == 0 ? v1::DENY_REASON_UNSPECIFIED : v1::NO_CONSENT;
    }
    ASSERT_EQ(resp.decisions(i).reason(), want) << "recipient " << i;
    ASSERT_EQ(resp.decisions(i).allowed(), want == v1::DENY_REASON_UNSPECIFIED);
  }
  r.add_recipients()->set_address("one-too-many@example.com");
  EXPECT_EQ(CatchError([&] { counted.CheckEligibilityBatch(crm_, r); }).code(),
            ErrorCode::kInvalidArgument);
}

// DecideMatrix gathers facts per subject and address instead of per cell; every cell must be
// what Decide() says for the same subject-only request, over a population that reaches every
// rule: consents per channel, opt-outs of a topic, a channel and everything, re-subscribing,
// address suppressions of each scope and reason (one stopping service notices), addresses
// shared between subjects, missing phones, block, revocation, destruction, merging and an
// unknown subject id.
TEST_F(RegistryTest, MatrixAgreesWithTheRequestPathCellByCell) {
  std::vector<std::string> ids;
  for (int i = 0; i < 36; ++i) {
    std::string email = i % 9 == 8 ? "shared" + std::to_string(i % 2) + "@example.com"
                                   : "matrix" + std::to_string(i) + "@example.com";
    std::string phone = i % 4 == 3 ? "" : "+99450000" + std::to_string(1000 + i);
    if (i % 12 == 5) phone = "+994500009999";  // shared number
    ids.push_back(NewSubject(email, phone));
    const std::string& id = ids.back();
    if (i % 5 != 4) Consent(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
    if (i % 3 != 2) Consent(id, v1::MARKETING, v1::EMAIL);
    if (i % 2 == 0) Consent(id, v1::MARKETING, v1::SMS);
    if (i % 7 != 6) Consent(id, v1::MARKETING, v1::CALL);
    switch (i % 6) {
      case 1:
        OptOutSubject(id, v1::TOPIC, v1::EMAIL, "events");
        break;
      case 2:
        OptOutSubject(id, v1::CHANNEL, v1::SMS);
        break;
      case 3: {
        OptOutSubject(id, v1::ALL_MARKETING);
        if (i % 7 == 6) break;  // re-subscribing needs the channel's consent
        Resubscribe(*registry_, crm_, id, "webinars", v1::CALL);
        break;
      }
      case 4:
        OptOutSubject(id, v1::TOPIC, v1::CALL, "product_news");
        OptOutSubject(id, v1::CHANNEL, v1::EMAIL);
        break;
      default:
        break;
    }
  }
  OptOutAddress("matrix10@example.com", v1::ALL_MARKETING);
  OptOutAddress("matrix11@example.com", v1::TOPIC, v1::EMAIL, "special_offers");
  OptOutAddress("matrix13@example.com", v1::CHANNEL, v1::EMAIL, "", v1::HARD_BOUNCE);
  OptOutAddress("+994500001014", v1::CHANNEL, v1::SMS);
  OptOutAddress("shared1@example.com", v1::ALL_MARKETING);
  db_->Exec("UPDATE subjects SET blocked = true WHERE id = '" + ids[20] + "'");
  Consent(ids[21], v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, /*granted=*/false);
  db_->Exec("UPDATE subjects SET state = 'destroyed' WHERE id = '" + ids[22] + "'");
  db_->Exec("DELETE FROM addresses WHERE subject_id = '" + ids[22] + "'");
  db_->Exec("UPDATE subjects SET state = 'depersonalized' WHERE id = '" + ids[23] + "'");
  db_->Exec("UPDATE subjects SET state = 'merged', merged_into = '" + ids[0] + "' WHERE id = '" +
            ids[24] + "'");
  ids.push_back("00000000-0000-4000-8000-0000000000ff");  // no such subject

  std::vector<Channel> channels(std::begin(kAllChannels), std::end(kAllChannels));
  std::vector<const TopicInfo*> topics;
  for (const auto& t : topics_.all()) topics.push_back(&t);

  std::atomic<int> statements{0};
  db::Pool counting_pool(db_->dsn(), 2, std::chrono::seconds(10),
                         [&](const char*, std::chrono::nanoseconds) { ++statements; });
  auto conn = counting_pool.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto matrix = gate_->DecideMatrix(*conn, txn, ids, channels, topics);
  EXPECT_LE(statements.load(), 4) << "the matrix must be decided set-based";
  std::vector<GateRequest> requests;
  for (const auto& id : ids) {
    for (Channel c : channels) {
      for (const TopicInfo* t : topics) {
        GateRequest r;
        r.subject_id = id;
        r.channel = c;
        r.topic = t;
        r.now = clock_.Now();
        requests.push_back(r);
      }
    }
  }
  auto expected = gate_->Decide(*conn, txn, requests);
  ASSERT_EQ(matrix.size(), expected.size());
  std::set<DenyReason> seen;
  for (size_t i = 0; i < matrix.size(); ++i) {
    const auto& r = requests[i];
    SCOPED_TRACE("subject " + std::to_string(i / (channels.size() * topics.size())) + " channel " +
                 ChannelName(r.channel) + " topic " + r.topic->name);
    EXPECT_EQ(matrix[i].reason, expected[i].reason);
    EXPECT_EQ(matrix[i].unknown_subject, expected[i].unknown_subject);
    EXPECT_EQ(matrix[i].decided_by, expected[i].decided_by);
    EXPECT_EQ(matrix[i].deciding_subject_id, expected[i].deciding_subject_id);
    EXPECT_EQ(matrix[i].address, expected[i].address);
    EXPECT_EQ(matrix[i].match_key, expected[i].match_key);
    seen.insert(expected[i].reason);
  }
  // The population reaches the rules it is meant to (else the comparison proves little).
  for (DenyReason want :
       {DenyReason::kNone, DenyReason::kNoConsent, DenyReason::kUnsubscribedTopic,
        DenyReason::kUnsubscribedChannel, DenyReason::kUnsubscribedAll,
        DenyReason::kAddressSuppressed, DenyReason::kSubjectBlocked, DenyReason::kConsentRevoked,
        DenyReason::kSubjectDestroyed, DenyReason::kInvalidAddress}) {
    EXPECT_TRUE(seen.count(want)) << "no cell with reason " << static_cast<int>(want);
  }
}

}  // namespace
}  // namespace herald::subscriptions
