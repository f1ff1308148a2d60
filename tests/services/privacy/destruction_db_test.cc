// The destruction proof at the registry level (STANDARDS L1, L3): a subject with a
// distinctive name, e-mail (IDN domain) and phone gets consents with IP and user agent,
// preferences, an e-mail and an SMS with provider answers quoting its addresses, and
// registry-level opt-outs standing for a link click, an SMS STOP and a marker e-mail; it is
// exported, then destroyed. Afterwards every row of every table (found in pg_catalog, not
// listed here) is scanned as JSON for every form of its data; only destruction_records may
// name it. The same address imported again is still suppressed. The same proof through the
// real recipient paths of a running heraldd is tests/integration/destruction_e2e_test.cc.
#include <pqxx/pqxx>

#include "common/crypto/hash.h"
#include "common/db/idempotency.h"
#include "tests/services/privacy/erasure_fixture.h"
#include "tests/support/personal_data_scan.h"

namespace herald::privacy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSurname[] = "Zyxwvutsrov";
constexpr char kGivenName[] = "Quillibald";
constexpr char kPatronymic[] = "Ксерксович";
constexpr char kEmailGiven[] = "Quill.Zyx@Пример.рф";
constexpr char kPhoneGiven[] = "+7 (916) 555-12-34";
constexpr char kIp[] = "203.0.113.77";
constexpr char kUserAgent[] = "DistinctBrowser/7.7";

// Every form in which the subject's data could have been written anywhere.
const std::vector<std::string>& Needles() {
  static const std::vector<std::string> k = {
      kEmailGiven,
      "Quill.Zyx@пример.рф",              // as given, domain lower-cased
      "quill.zyx@пример.рф",              // lower-cased
      "quill.zyx@xn--e1afmkfd.xn--p1ai",  // IDNA A-label form
      "quill.zyx",                        // the local part alone
      kPhoneGiven,
      "+79165551234",  // E.164
      "79165551234",   // digits only
      "9165551234",    // national digits
      kSurname,
      kGivenName,
      kPatronymic,
      "zyxwvutsrov",
      "quillibald",  // lower-cased names
      kIp,
      kUserAgent,
  };
  return k;
}

// The plain SHA-256 of a request, hex: what idempotency_keys.request_hash held before it was
// keyed (row_to_json writes a bytea as its hex digits).
std::string PlainRequestDigest(const google::protobuf::Message& request) {
  return crypto::ToHex(crypto::Sha256(request.SerializeAsString()));
}

class DestructionTest : public ErasureTest {
 protected:
  // Plain digests of the idempotent requests that carried the subject's data (L6): an
  // unkeyed digest re-identifies a request by enumeration, so none may be stored anywhere.
  std::vector<std::string> request_digests_;

  std::string NewDistinctSubject() {
    v1::UpsertSubjectRequest r;
    r.set_idempotency_key("import-4711");
    r.set_external_id("crm-4711");
    r.set_surname(kSurname);
    r.set_given_name(kGivenName);
    r.set_patronymic(kPatronymic);
    r.set_locale("ru");
    r.add_emails(kEmailGiven);
    r.add_phones(kPhoneGiven);
    request_digests_.push_back(PlainRequestDigest(r));
    return registry_->UpsertSubject(crm_, r).subject().id();
  }

  void OptOutAddressWithProof(const std::string& address, v1::OptOutScope scope,
                              v1::Channel channel, v1::SuppressionReason reason,
                              v1::Source source) {
    v1::OptOutRequest r;
    r.set_address(address);
    r.set_scope(scope);
    r.set_channel(channel);
    r.set_topic(scope == v1::TOPIC ? "special_offers" : "");
    r.set_reason(reason);
    r.mutable_proof()->set_source(source);
    r.mutable_proof()->set_ip(kIp);
    r.mutable_proof()->set_user_agent(kUserAgent);
    r.set_idempotency_key("opt-out-" + std::to_string(request_digests_.size()));
    request_digests_.push_back(PlainRequestDigest(r));
    registry_->OptOut(crm_, r);
  }

  // Registry-level opt-outs: the calls the link click, the SMS STOP and the marker e-mail
  // end in, made here directly so this db test stays fast. The real steps (an HTTP POST of
  // the signed link taken from a captured e-mail, a signed provider webhook, a marker e-mail
  // on the inbound hook) are driven against a running heraldd by
  // tests/integration/destruction_e2e_test.cc, which is the end-to-end proof.
  void RegistryLevelOptOuts() {
    // Link click: a topic opt-out of the address, proof source LINK, with the click's IP.
    OptOutAddressWithProof(kEmailGiven, v1::TOPIC, v1::EMAIL, v1::UNSUBSCRIBED, v1::LINK);
    // SMS STOP from the phone.
    OptOutAddressWithProof(kPhoneGiven, v1::CHANNEL, v1::SMS, v1::SMS_STOP, v1::SMS_REPLY);
    // Inbound marker e-mail: a refusal of all marketing sent from the address.
    OptOutAddressWithProof(kEmailGiven, v1::ALL_MARKETING, v1::CHANNEL_UNSPECIFIED,
                           v1::UNSUBSCRIBED, v1::EMAIL_REPLY);
  }
};

// L3, L1 at the registry level (see destruction_e2e_test.cc for the real inbound paths):
// nothing of the subject is left anywhere but in its destruction record. L6: that includes
// plain digests of the idempotent requests that carried its data.
TEST_F(DestructionTest, L3_NoFormOfTheSubjectsDataSurvivesOutsideTheDestructionRecord) {
  std::string id = NewDistinctSubject();
  Grant(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, kIp, kUserAgent);
  Grant(id, v1::MARKETING, v1::EMAIL, kIp, kUserAgent);
  Grant(id, v1::MARKETING, v1::SMS, kIp, kUserAgent);
  {
    v1::SetPreferencesRequest p;
    p.set_subject_id(id);
    auto* c = p.add_changes();
    c->set_topic("events");
    c->set_channel(v1::EMAIL);
    c->set_subscribed(false);
    p.mutable_proof()->set_source(v1::WEB_FORM);
    p.mutable_proof()->set_ip(kIp);
    p.mutable_proof()->set_user_agent(kUserAgent);
    registry_->SetPreferences(crm_, p);
  }
  // The relay and the SMS provider quote the address back, as real ones do.
  SendAndSettle(id, v1::EMAIL, "mail-1",
                "250 2.0.0 OK queued for <quill.zyx@xn--e1afmkfd.xn--p1ai>");
  SendAndSettle(id, v1::SMS, "sms-1", "accepted for 79165551234");
  // A later message still waiting in the outbox: erasure cancels it.
  {
    v1::SendRequest r;
    r.set_idempotency_key("mail-2");
    r.mutable_recipient()->set_subject_id(id);
    r.set_channel(v1::EMAIL);
    r.set_topic("product_news");
    r.mutable_content()->set_subject("Dear {{surname}}");
    r.mutable_content()->set_text("News for Quillibald");
    messages_->Send(crm_, r);
  }
  RegistryLevelOptOuts();

  // Before: the data is there (the scan can see it), and the export holds it.
  std::vector<std::string> needles = Needles();
  needles.insert(needles.end(), request_digests_.begin(), request_digests_.end());
  EXPECT_EQ(Int("SELECT count(*) FROM idempotency_keys"), 7);
  auto before = testing::ScanEveryTable(db_->dsn(), needles);
  EXPECT_GE(before.tables, 15);
  std::set<std::string> tables_hit = before.TablesHit();
  for (const char* t : {"public.subjects", "public.addresses", "public.event_personal",
                        "public.messages", "public.message_attempts"}) {
    EXPECT_TRUE(tables_hit.count(t)) << t << " should hold the data before destruction";
  }
  auto exported = export_->Export(id);
  EXPECT_THAT(exported.document, HasSubstr(kSurname));
  EXPECT_THAT(exported.data["addresses"].dump(), HasSubstr("xn--e1afmkfd.xn--p1ai"));

  clock_.Advance(std::chrono::minutes(5));
  std::string record_id = erasure_->Destroy(id, "consent revoked", "operator:anna");

  auto after = testing::ScanEveryTable(db_->dsn(), needles);
  std::set<std::string> allowed_hits;
  for (const auto& h : after.hits) {
    if (h.table == "public.destruction_records") {
      allowed_hits.insert(h.needle);
      continue;
    }
    ADD_FAILURE() << "after destruction " << h.table << " still holds '" << h.needle << "'";
  }
  // The record names the person, as order 179 requires.
  EXPECT_TRUE(allowed_hits.count(kSurname));
  EXPECT_TRUE(allowed_hits.count(kPatronymic));
  auto record = records_->Get(record_id);
  EXPECT_EQ(record.subject_full_name, std::string(kSurname) + " " + kGivenName + " " + kPatronymic);
  EXPECT_THAT(record.categories, ::testing::Contains("e-mail addresses"));
  EXPECT_THAT(record.categories, ::testing::Contains("phone numbers"));
  EXPECT_THAT(record.categories, ::testing::Contains("message recipient addresses and content"));
  EXPECT_EQ(record.reason, "consent revoked");
  EXPECT_EQ(record.performed_by, "operator:anna");
  EXPECT_EQ(record.information_system, "Herald marketing consent registry");
  EXPECT_EQ(ToIso8601(record.purge_after), "2029-11-27T10:05:00.000000Z");

  // Events and consents stay; only their personal side went; counts of messages stay.
  EXPECT_GT(Int("SELECT count(*) FROM events WHERE subject_id = '" + id + "'"), 5);
  EXPECT_EQ(Int("SELECT count(*) FROM consents WHERE subject_id = '" + id + "'"), 3);
  EXPECT_EQ(Int("SELECT count(*) FROM messages WHERE subject_id = '" + id + "'"), 3);
  EXPECT_EQ(
      Int("SELECT count(*) FROM messages WHERE subject_id = '" + id + "' AND status = 'sent'"), 2);
  EXPECT_EQ(
      Int("SELECT count(*) FROM messages WHERE subject_id = '" + id + "' AND status = 'cancelled'"),
      1);
  // The gate refuses the destroyed subject at once, whatever address is named.
  EXPECT_EQ(Check(id, "quill.zyx@xn--e1afmkfd.xn--p1ai", v1::EMAIL).reason(),
            v1::SUBJECT_DESTROYED);

  // The same addresses imported again are still suppressed (L3).
  v1::UpsertSubjectRequest again;
  again.add_emails("quill.zyx@xn--e1afmkfd.xn--p1ai");
  again.add_phones("+79165551234");
  std::string new_id = registry_->UpsertSubject(crm_, again).subject().id();
  EXPECT_NE(new_id, id);
  EXPECT_EQ(Check(new_id, "", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check(new_id, "", v1::SMS).reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check("", kEmailGiven, v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
}

TEST_F(DestructionTest, DestroyingTwiceIsFailedPreconditionAndChangesNothing) {
  std::string id = NewSubject("twice@example.com", "+994501234567");
  ConsentAll(id);
  erasure_->Destroy(id, "purpose achieved", "operator:anna");
  int64_t events = Count("events"), records = Count("destruction_records");
  std::string gate = db_->Scalar("SELECT gate_version FROM subjects WHERE id = '" + id + "'");
  auto err = CatchError([&] { erasure_->Destroy(id, "purpose achieved", "operator:anna"); });
  EXPECT_EQ(err.code(), ErrorCode::kFailedPrecondition);
  EXPECT_THAT(err.what(), HasSubstr("subject_id"));
  EXPECT_EQ(Count("events"), events);
  EXPECT_EQ(Count("destruction_records"), records);
  EXPECT_EQ(db_->Scalar("SELECT gate_version FROM subjects WHERE id = '" + id + "'"), gate);
  auto dep = CatchError([&] { erasure_->Depersonalize(id, "purpose achieved", "op"); });
  EXPECT_EQ(dep.code(), ErrorCode::kFailedPrecondition);
}

TEST_F(DestructionTest, BadInputIsRejectedByFieldWithoutEchoAndChangesNothing) {
  std::string id = NewSubject("bad@example.com");
  int64_t events = Count("events");
  auto unknown = CatchError(
      [&] { erasure_->Destroy("6f1c2a52-0000-4000-8000-000000000001", "consent revoked", "op"); });
  EXPECT_EQ(unknown.code(), ErrorCode::kNotFound);
  auto malformed = CatchError([&] { erasure_->Destroy("not-a-uuid", "x", "op"); });
  EXPECT_EQ(malformed.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(malformed.what(), HasSubstr("subject_id"));
  EXPECT_THAT(malformed.what(), Not(HasSubstr("not-a-uuid")));
  auto no_reason = CatchError([&] { erasure_->Destroy(id, "", "op"); });
  EXPECT_EQ(no_reason.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(no_reason.what(), HasSubstr("reason"));
  auto bad_reason = CatchError([&] { erasure_->Destroy(id, "line\nbreak", "op"); });
  EXPECT_EQ(bad_reason.code(), ErrorCode::kInvalidArgument);
  auto no_actor = CatchError([&] { erasure_->Depersonalize(id, "purpose achieved", ""); });
  EXPECT_EQ(no_actor.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(no_actor.what(), HasSubstr("performed_by"));
  auto unknown_export =
      CatchError([&] { export_->Export("6f1c2a52-0000-4000-8000-000000000001"); });
  EXPECT_EQ(unknown_export.code(), ErrorCode::kNotFound);
  auto bad_record = CatchError([&] { records_->Act("nope"); });
  EXPECT_EQ(bad_record.code(), ErrorCode::kInvalidArgument);
  EXPECT_THAT(bad_record.what(), HasSubstr("record_id"));
  auto no_record = CatchError([&] { records_->Act("6f1c2a52-0000-4000-8000-000000000001"); });
  EXPECT_EQ(no_record.code(), ErrorCode::kNotFound);
  auto bad_token = CatchError([&] { records_->List(10, "zz", std::nullopt, std::nullopt); });
  EXPECT_EQ(bad_token.code(), ErrorCode::kInvalidArgument);
  auto forged = CatchError([&] { records_->List(10, "41", std::nullopt, std::nullopt); });
  EXPECT_EQ(forged.code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(Count("events"), events);
  EXPECT_EQ(db_->Scalar("SELECT state FROM subjects WHERE id = '" + id + "'"), "active");
  EXPECT_EQ(Count("addresses"), 1);
}

// L3 as docs/privacy-destruction.md states it: the REVOKED suppression a destruction leaves
// stops service notices too, not only marketing, until a new marketing consent lifts it.
TEST_F(DestructionTest, L3_DestroyedAddressGetsNoServiceNoticeEither) {
  std::string id = NewSubject("notices@example.com", "+994501234568");
  ConsentAll(id);
  EXPECT_TRUE(Check(id, "", v1::EMAIL, "billing").allowed());
  erasure_->Destroy(id, "consent revoked", "operator:anna");

  v1::UpsertSubjectRequest again;
  again.add_emails("notices@example.com");
  again.add_phones("+994501234568");
  std::string new_id = registry_->UpsertSubject(crm_, again).subject().id();
  Consent(new_id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
  EXPECT_EQ(Check(new_id, "", v1::EMAIL, "billing").reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check(new_id, "", v1::SMS, "billing").reason(), v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(Check(new_id, "", v1::EMAIL, "webinars").reason(), v1::ADDRESS_SUPPRESSED);
  // A marketing consent with proof on e-mail given afterwards lifts the e-mail's suppression:
  // service notices reach the address again; the phone stays suppressed.
  clock_.Advance(std::chrono::minutes(1));
  Consent(new_id, v1::MARKETING, v1::EMAIL);
  EXPECT_TRUE(Check(new_id, "", v1::EMAIL, "billing").allowed());
  EXPECT_EQ(Check(new_id, "", v1::SMS, "billing").reason(), v1::ADDRESS_SUPPRESSED);
}

// L6: idempotency hashes are keyed with the ring installed, stored under its newest key, and
// a repeat still matches after a rotation for as long as the old key is in the ring.
TEST_F(DestructionTest, L6_IdempotencyHashIsKeyedAndSurvivesARotation) {
  const std::string old_secret(32, 'a'), new_secret(32, 'b');
  db::IdempotencyKey::UseRequestHashKeys(crypto::KeyRing({{"i1", old_secret}}));
  std::string id = NewSubject("replay@example.com");
  v1::OptOutRequest r;
  r.set_idempotency_key("replay-1");
  r.set_subject_id(id);
  r.set_scope(v1::ALL_MARKETING);
  r.mutable_proof()->set_source(v1::CRM);
  auto first = registry_->OptOut(crm_, r);
  std::string stored = db_->Scalar(
      "SELECT encode(request_hash, 'hex') FROM idempotency_keys WHERE key = 'replay-1'");
  EXPECT_NE(stored, PlainRequestDigest(r));
  std::string keyed_data = std::string("herald idempotency request\0", 27) + r.SerializeAsString();
  EXPECT_EQ(stored, crypto::ToHex(crypto::HmacSha256(old_secret, keyed_data)));

  // Rotated: "i2" hashes new rows, "i1" still matches.
  db::IdempotencyKey::UseRequestHashKeys(crypto::KeyRing({{"i2", new_secret}, {"i1", old_secret}}));
  int64_t events = Count("events");
  auto again = registry_->OptOut(crm_, r);
  EXPECT_EQ(again.changed(), first.changed());
  EXPECT_EQ(Count("events"), events);
  v1::OptOutRequest other = r;
  other.set_scope(v1::CHANNEL);
  other.set_channel(v1::EMAIL);
  EXPECT_EQ(CatchError([&] { registry_->OptOut(crm_, other); }).code(), ErrorCode::kAlreadyExists);

  // "i1" retired: the row can no longer be matched, so the key is refused, never run twice.
  db::IdempotencyKey::UseRequestHashKeys(crypto::KeyRing({{"i2", new_secret}}));
  EXPECT_EQ(CatchError([&] { registry_->OptOut(crm_, r); }).code(), ErrorCode::kAlreadyExists);
  EXPECT_EQ(Count("events"), events);
}

// A blocked subject can be destroyed.
TEST_F(DestructionTest, BlockedSubjectCanBeDestroyed) {
  std::string id = NewSubject("blocked@example.com");
  db_->Exec("UPDATE subjects SET blocked = true WHERE id = '" + id + "'");
  erasure_->Destroy(id, "unlawful processing", "operator:anna");
  EXPECT_EQ(db_->Scalar("SELECT state FROM subjects WHERE id = '" + id + "'"), "destroyed");
  EXPECT_EQ(Count("addresses"), 0);
}

}  // namespace
}  // namespace herald::privacy
