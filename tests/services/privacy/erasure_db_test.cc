// Export (L4), depersonalization, destruction records and the act, and the retention sweep,
// on a real PostgreSQL with a manual clock.
#include <map>
#include <pqxx/pqxx>
#include <set>

#include "common/crypto/hash.h"
#include "tests/services/privacy/erasure_fixture.h"

namespace herald::privacy {
namespace {

using ::testing::HasSubstr;

std::set<std::string> Column(const std::string& dsn, const std::string& sql) {
  pqxx::connection conn(dsn);
  pqxx::work txn(conn);
  std::set<std::string> out;
  for (const auto& row : txn.exec(sql)) out.insert(row[0].is_null() ? "" : row[0].c_str());
  return out;
}

std::set<std::string> Field(const nlohmann::json& items, const std::string& key) {
  std::set<std::string> out;
  for (const auto& i : items) {
    out.insert(i[key].is_string() ? i[key].get<std::string>() : i[key].dump());
  }
  return out;
}

// L4: the export holds every personal field, address, consent with its proof, preference,
// suppression, event (with its personal values), privacy request and message.
TEST_F(ErasureTest, L4_ExportHoldsEverythingWrittenForTheSubject) {
  std::string id = NewSubject("reader@example.com", "+994501112233");
  {
    v1::UpsertSubjectRequest more;
    more.add_emails("Second.Reader@Example.com");
    more.set_external_id("");
    more.add_phones("+994501112233");
    registry_->UpsertSubject(crm_, more);
  }
  Grant(id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED, "198.51.100.7", "ExportUA/1");
  Grant(id, v1::MARKETING, v1::EMAIL, "198.51.100.7", "ExportUA/1");
  Grant(id, v1::MARKETING, v1::SMS, "198.51.100.8", "ExportUA/2");
  OptOutSubject(id, v1::TOPIC, v1::EMAIL, "events");
  std::string msg = SendAndSettle(id, v1::EMAIL, "m1", "250 accepted for reader@example.com");
  OptOutAddress("second.reader@example.com", v1::ALL_MARKETING);
  db_->Exec(
      "INSERT INTO privacy_requests (id, kind, subject_id, source, received_at, due_at)"
      " VALUES ('11111111-2222-4333-8444-555555555555', 'access', '" +
      id + "', 7, '2026-11-27T10:00:00Z', '2026-12-11T10:00:00Z')");
  db_->Exec("UPDATE subjects SET blocked = true WHERE id = '" + id + "'");  // L2: still works

  auto out = export_->Export(id);
  const auto& d = out.data;
  std::string where = " WHERE subject_id = '" + id + "'";
  EXPECT_EQ(d["subject"]["id"], id);
  EXPECT_EQ(d["subject"]["surname"], "Məmmədov");
  EXPECT_EQ(d["subject"]["given_name"], "Əli");
  EXPECT_EQ(d["subject"]["blocked"], true);
  EXPECT_EQ(Field(d["addresses"], "value"),
            Column(db_->dsn(), "SELECT value FROM addresses" + where));
  EXPECT_EQ(d["addresses"].size(), 3u);
  EXPECT_EQ(Field(d["consents"], "id"),
            Column(db_->dsn(), "SELECT id::text FROM consents" + where));
  for (const auto& c : d["consents"]) {
    EXPECT_EQ(c["form_id"], "signup");
    EXPECT_EQ(c["proof"]["user_agent"].get<std::string>().rfind("ExportUA/", 0), 0u);
  }
  EXPECT_EQ(d["preferences"].size(), static_cast<size_t>(Count("preferences")));
  EXPECT_EQ(d["preferences"][0]["topic"], "events");
  EXPECT_EQ(d["preferences"][0]["subscribed"], false);
  ASSERT_EQ(d["suppressions"].size(), 1u);
  EXPECT_EQ(d["suppressions"][0]["reason"], 1);
  // Events: the subject's own and those about its addresses (the address opt-out).
  std::string hex = crypto::ToHex(hasher_->Current("email", "second.reader@example.com").hash);
  EXPECT_EQ(Field(d["events"], "id"),
            Column(db_->dsn(), "SELECT id::text FROM events" + where +
                                   " OR address_key = decode('" + hex + "', 'hex')"));
  bool saw_address_event = false;
  for (const auto& e : d["events"]) {
    if (e["type"] == "suppression.added") {
      saw_address_event = true;
      EXPECT_EQ(e["personal"]["address"], "second.reader@example.com");
    }
  }
  EXPECT_TRUE(saw_address_event);
  ASSERT_EQ(d["privacy_requests"].size(), 1u);
  EXPECT_EQ(d["privacy_requests"][0]["kind"], "access");
  ASSERT_EQ(d["messages"].size(), 1u);
  const auto& m = d["messages"][0];
  EXPECT_EQ(m["id"], msg);
  EXPECT_EQ(m["address"], "reader@example.com");
  EXPECT_EQ(m["status"], "sent");
  EXPECT_EQ(m["content"]["subject"], "Hello {{given_name}}");
  EXPECT_EQ(m["content"]["variables"]["code"], "X1");
  ASSERT_EQ(m["attempt_log"].size(), 1u);
  EXPECT_EQ(m["attempt_log"][0]["detail"], "250 accepted for reader@example.com");
  EXPECT_FALSE(m["history"].empty());

  // The readable document carries the same values, in the subject's language (az, L10).
  for (const char* s : {"Şəxsi məlumatlar", "Məmmədov", "reader@example.com",
                        "second.reader@example.com", "+994501112233", "198.51.100.8", "ExportUA/2",
                        "Razılıqlar və onların sübutu", "Sizə göndərilən və ya hazırlanan mesajlar",
                        "250 accepted for reader@example.com", "access"}) {
    EXPECT_THAT(out.document, HasSubstr(s));
  }
}

// L9: every privacy request in the export shows its legal basis beside its due date, in the
// JSON (the API's English citation) and in the document (the reader's language).
TEST_F(ErasureTest, L9_ExportShowsEachRequestsLegalBasisAndDueDate) {
  std::string id = NewSubject("basis@example.com");
  db_->Exec(
      "INSERT INTO privacy_requests (id, kind, subject_id, source, received_at, due_at) VALUES"
      " ('11111111-2222-4333-8444-555555555551', 'stop_processing', '" +
      id +
      "', 7, '2026-11-27T10:00:00Z', '2026-12-11T12:00:00Z'),"
      " ('11111111-2222-4333-8444-555555555552', 'revoke', '" +
      id + "', 7, '2026-11-27T10:00:00Z', '2026-12-27T12:00:00Z')");
  auto out = export_->Export(id);
  std::map<std::string, std::string> basis;
  for (const auto& r : out.data["privacy_requests"]) {
    basis[r["kind"].get<std::string>()] = r["legal_basis"].get<std::string>();
    EXPECT_FALSE(r["due_at"].get<std::string>().empty());
  }
  EXPECT_EQ(basis["stop_processing"],
            "152-FZ art. 21 p. 5.1, art. 15; 38-FZ art. 18 (demand to stop processing)");
  EXPECT_EQ(basis["revoke"], "152-FZ art. 9 p. 2, art. 21 p. 5 (consent revoked)");
  // The subject is az: the document names the basis and the due date in Azerbaijani.
  EXPECT_THAT(out.document, HasSubstr("Hüquqi əsas: 152-FZ maddə 9 b. 2, maddə 21 b. 5"));
  EXPECT_THAT(out.document, HasSubstr("Son icra tarixi: 2026-12-27"));
}

// L10: the document is in the subject's language, as the recipient pages are: a ru subject
// reads Russian labels, an az one Azerbaijani, an en one English; the JSON stays the same.
TEST_F(ErasureTest, L10_ExportDocumentSpeaksTheSubjectsLanguage) {
  auto subject_in = [&](const std::string& email, const std::string& locale) {
    v1::UpsertSubjectRequest r;
    r.set_surname("Petrova");
    r.set_locale(locale);
    r.add_emails(email);
    std::string id = registry_->UpsertSubject(crm_, r).subject().id();
    db_->Exec(
        "INSERT INTO privacy_requests (id, kind, subject_id, source, received_at, due_at)"
        " VALUES (gen_random_uuid(), 'access', '" +
        id + "', 7, '2026-11-27T10:00:00Z', '2026-12-11T12:00:00Z')");
    return export_->Export(id);
  };
  auto ru = subject_in("ru@example.com", "ru-RU");
  for (const char* s :
       {"ПЕРСОНАЛЬНЫЕ ДАННЫЕ СУБЪЕКТА", "Подготовлено: ", "== Персональные данные ==",
        "== Адреса ==", "Фамилия: Petrova", "Правовое основание: 152-ФЗ ст. 14",
        "Срок исполнения: 2026-12-11", "== Журнал событий =="}) {
    EXPECT_THAT(ru.document, HasSubstr(s));
  }
  EXPECT_THAT(ru.document, ::testing::Not(HasSubstr("Personal data")));
  EXPECT_THAT(ru.document, ::testing::Not(HasSubstr("Surname")));

  auto az = subject_in("az@example.com", "az");
  for (const char* s : {"SUBYEKT HAQQINDA SAXLANILAN ŞƏXSİ MƏLUMATLAR", "Hazırlanma vaxtı: ",
                        "== Şəxsi məlumatlar ==", "== Ünvanlar ==", "Soyad: Petrova",
                        "Hüquqi əsas: 152-FZ maddə 14", "Son icra tarixi: 2026-12-11"}) {
    EXPECT_THAT(az.document, HasSubstr(s));
  }
  EXPECT_THAT(az.document, ::testing::Not(HasSubstr("Personal data")));

  auto en = subject_in("en@example.com", "en-GB");
  for (const char* s :
       {"PERSONAL DATA HELD ABOUT A DATA SUBJECT", "== Personal data ==", "Surname: Petrova",
        "Legal basis: 152-FZ art. 14, art. 20", "Due at: 2026-12-11"}) {
    EXPECT_THAT(en.document, HasSubstr(s));
  }
  // A locale none of the three: Azerbaijani, as the pages default.
  auto other = subject_in("de@example.com", "de");
  EXPECT_THAT(other.document, HasSubstr("== Şəxsi məlumatlar =="));
  // The machine-readable form keeps its keys whatever the language.
  EXPECT_EQ(ru.data["subject"]["surname"], "Petrova");
  EXPECT_EQ(ru.data["privacy_requests"][0]["legal_basis"],
            "152-FZ art. 14, art. 20 (the subject's right of access)");
}

TEST_F(ErasureTest, DepersonalizeRemovesIdentityButKeepsAggregateCounts) {
  std::string id = NewSubject("counted@example.com", "+994502223344");
  std::string other = NewSubject("other@example.com");
  ConsentAll(id);
  ConsentAll(other);
  SendAndSettle(id, v1::EMAIL, "a", "ok");
  SendAndSettle(id, v1::SMS, "b", "ok");
  SendAndSettle(id, v1::EMAIL, "c", "550 no such user counted@example.com",
                dispatch::DeliveryOutcome::kFailed);
  SendAndSettle(other, v1::EMAIL, "d", "ok");
  const std::string aggregates =
      "SELECT string_agg(format('%s/%s/%s/%s', status, channel, topic, n), ',' ORDER BY"
      " status, channel, topic) FROM (SELECT status, channel, topic, count(*) AS n"
      " FROM messages GROUP BY 1, 2, 3) g";
  const std::string attempts =
      "SELECT string_agg(format('%s/%s', outcome, n), ',' ORDER BY outcome)"
      " FROM (SELECT outcome, count(*) AS n FROM message_attempts GROUP BY 1) g";
  std::string before = db_->Scalar(aggregates), before_attempts = db_->Scalar(attempts);
  int64_t consents = Count("consents"), preferences = Count("preferences");

  std::string record_id = erasure_->Depersonalize(id, "purpose achieved", "operator:anna");

  EXPECT_EQ(db_->Scalar(aggregates), before);
  EXPECT_EQ(db_->Scalar(attempts), before_attempts);
  EXPECT_EQ(Count("consents"), consents);
  EXPECT_EQ(Count("preferences"), preferences);  // statistics of choices stay
  EXPECT_EQ(db_->Scalar("SELECT state || surname || given_name || coalesce(external_id, '')"
                        " FROM subjects WHERE id = '" +
                        id + "'"),
            "depersonalized");
  EXPECT_EQ(Int("SELECT count(*) FROM addresses WHERE subject_id = '" + id + "'"), 0);
  EXPECT_EQ(Int("SELECT count(*) FROM event_personal WHERE subject_id = '" + id + "'"), 0);
  EXPECT_EQ(Int("SELECT count(*) FROM messages WHERE subject_id = '" + id +
                "' AND (address IS NOT NULL OR text_template IS NOT NULL)"),
            0);
  EXPECT_EQ(Int("SELECT count(*) FROM message_attempts WHERE detail LIKE '%counted%'"), 0);
  // The other subject is untouched.
  EXPECT_EQ(Int("SELECT count(*) FROM messages WHERE subject_id = '" + other +
                "' AND address = 'other@example.com'"),
            1);
  EXPECT_EQ(Check(id, "counted@example.com", v1::EMAIL).reason(), v1::SUBJECT_DESTROYED);
  auto record = records_->Get(record_id);
  EXPECT_EQ(record.subject_full_name, "Məmmədov Əli");
  EXPECT_EQ(record.method, SubjectErasure::kDepersonalizeMethod);
  // Depersonalized, it can still be destroyed; depersonalizing again cannot.
  auto again = CatchError([&] { erasure_->Depersonalize(id, "purpose achieved", "op"); });
  EXPECT_EQ(again.code(), ErrorCode::kFailedPrecondition);
  erasure_->Destroy(id, "consent revoked", "operator:anna");
  EXPECT_EQ(db_->Scalar("SELECT state FROM subjects WHERE id = '" + id + "'"), "destroyed");
}

TEST_F(ErasureTest, DestructionRecordsPageNewestFirstAndTheActNamesTheOperator) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    std::string s = NewSubject("rec" + std::to_string(i) + "@example.com");
    clock_.Advance(std::chrono::hours(1));
    ids.push_back(erasure_->Destroy(s, "consent revoked", "operator:" + std::to_string(i)));
  }
  auto first = records_->List(2, "", std::nullopt, std::nullopt);
  ASSERT_EQ(first.records.size(), 2u);
  EXPECT_EQ(first.records[0].id, ids[2]);
  EXPECT_EQ(first.records[1].id, ids[1]);
  ASSERT_FALSE(first.next_page_token.empty());
  auto second = records_->List(2, first.next_page_token, std::nullopt, std::nullopt);
  ASSERT_EQ(second.records.size(), 1u);
  EXPECT_EQ(second.records[0].id, ids[0]);
  EXPECT_TRUE(second.next_page_token.empty());
  // since inclusive, until exclusive.
  auto window =
      records_->List(0, "", records_->Get(ids[1]).performed_at, records_->Get(ids[2]).performed_at);
  ASSERT_EQ(window.records.size(), 1u);
  EXPECT_EQ(window.records[0].id, ids[1]);
  auto bad_window = CatchError([&] {
    records_->List(0, "", records_->Get(ids[2]).performed_at, records_->Get(ids[1]).performed_at);
  });
  EXPECT_EQ(bad_window.code(), ErrorCode::kInvalidArgument);

  std::string act = records_->Act(ids[0]);
  for (const char* s :
       {"ACT OF DESTRUCTION OF PERSONAL DATA", "OOO Herald Test Operator", "1 Test Street, Baku",
        "Herald marketing consent registry", "Məmmədov Əli", "e-mail addresses", "consent revoked",
        "operator:0", "2026-11-27T11:00:00", "2029-11-27"}) {
    EXPECT_THAT(act, HasSubstr(s));
  }
  EXPECT_THAT(act, HasSubstr(SubjectErasure::kDestroyMethod));
}

TEST_F(ErasureTest, RetentionSweepPurgesContentAfterItsPeriodAndRecordsAfterTheirs) {
  settings_.message_content_days = 90;
  settings_.destruction_record_years = 3;
  RetentionSweep sweep(*pool_, clock_, settings_);
  std::string id = NewSubject("kept@example.com");
  ConsentAll(id);
  std::string settled = SendAndSettle(id, v1::EMAIL, "s1", "250 ok for kept@example.com");
  std::string destroyed_subject = NewSubject("gone@example.com");
  std::string record = erasure_->Destroy(destroyed_subject, "consent revoked", "op");
  const std::string content =
      "SELECT coalesce(text_template, '') || variables::text FROM"
      " messages WHERE id = '" +
      settled + "'";
  std::string before = db_->Scalar(content);
  ASSERT_THAT(before, HasSubstr("Offer for"));

  clock_.Advance(std::chrono::hours(24 * 90 - 1));
  auto r1 = sweep.Run();
  EXPECT_EQ(r1.message_contents_purged, 0);
  EXPECT_EQ(db_->Scalar(content), before);
  // A message still waiting to be sent keeps its content whatever its age.
  v1::SendRequest waiting;
  waiting.set_idempotency_key("w1");
  waiting.mutable_recipient()->set_subject_id(id);
  waiting.set_channel(v1::EMAIL);
  waiting.set_topic("product_news");
  waiting.mutable_content()->set_subject("Later");
  waiting.mutable_content()->set_text("Later text");
  std::string queued = messages_->Send(crm_, waiting).message_id();

  clock_.Advance(std::chrono::hours(2));
  auto r2 = sweep.Run();
  EXPECT_EQ(r2.message_contents_purged, 1);
  EXPECT_EQ(db_->Scalar(content), "{}");
  EXPECT_EQ(db_->Scalar("SELECT detail FROM message_attempts WHERE message_id = '" + settled + "'"),
            "");
  EXPECT_EQ(db_->Scalar("SELECT status || address FROM messages WHERE id = '" + settled + "'"),
            "sentkept@example.com");
  EXPECT_EQ(db_->Scalar("SELECT text_template FROM messages WHERE id = '" + queued + "'"),
            "Later text");
  EXPECT_EQ(Count("destruction_records"), 1);

  clock_.Set(records_->Get(record).purge_after - std::chrono::seconds(1));
  EXPECT_EQ(sweep.Run().destruction_records_purged, 0);
  clock_.Advance(std::chrono::seconds(1));
  EXPECT_EQ(sweep.Run().destruction_records_purged, 1);
  EXPECT_EQ(Count("destruction_records"), 0);
  EXPECT_EQ(sweep.Run().destruction_records_purged, 0);  // idempotent
}

// A message a worker held while its subject was destroyed keeps its address for that one
// send; the sweep scrubs it once it settles.
TEST_F(ErasureTest, MessageInFlightDuringDestructionIsScrubbedWhenItSettles) {
  std::string id = NewSubject("flight@example.com");
  ConsentAll(id);
  v1::SendRequest r;
  r.set_idempotency_key("f1");
  r.mutable_recipient()->set_subject_id(id);
  r.set_channel(v1::EMAIL);
  r.set_topic("product_news");
  r.mutable_content()->set_subject("Hi");
  r.mutable_content()->set_text("Hi {{given_name}}");
  std::string msg = messages_->Send(crm_, r).message_id();
  auto claimed = outbox_->Claim("w1", 10, std::chrono::seconds(60));
  ASSERT_EQ(claimed.size(), 1u);
  erasure_->Destroy(id, "consent revoked", "op");
  EXPECT_EQ(db_->Scalar("SELECT address FROM messages WHERE id = '" + msg + "'"),
            "flight@example.com");
  outbox_->Complete({{msg,
                      1,
                      "relay",
                      clock_.Now(),
                      clock_.Now(),
                      {dispatch::DeliveryOutcome::kSent, 250, "", "", "ok flight@example.com", "",
                       std::nullopt, false},
                      "",
                      0,
                      claimed[0].lease_token,
                      {claimed[0].subject_id, claimed[0].channel, claimed[0].match_key}}});
  RetentionSweep sweep(*pool_, clock_, settings_);
  EXPECT_EQ(sweep.Run().erased_messages_scrubbed, 1);
  EXPECT_EQ(Int("SELECT count(*) FROM messages WHERE address IS NOT NULL OR match_key IS NOT"
                " NULL OR text_template IS NOT NULL"),
            0);
  EXPECT_EQ(Int("SELECT count(*) FROM message_attempts WHERE detail <> ''"), 0);
}

// Every erased address is kept as a REVOKED suppression, which also stops service notices.
// An earlier unsubscribe of the address stops marketing only, so it does not stand in for it.
TEST_F(ErasureTest, AnAddressUnsubscribedBeforeDestructionStillGetsItsRevokedSuppression) {
  std::string id = NewSubject("left.earlier@example.com");
  ConsentAll(id);
  OptOutAddress("left.earlier@example.com", v1::ALL_MARKETING);
  ASSERT_TRUE(Check("", "left.earlier@example.com", v1::EMAIL, "billing").allowed());
  erasure_->Destroy(id, "consent revoked", "op");
  EXPECT_EQ(Check("", "left.earlier@example.com", v1::EMAIL, "billing").reason(),
            v1::ADDRESS_SUPPRESSED);
  EXPECT_EQ(db_->Scalar("SELECT string_agg(reason::text, ',' ORDER BY id) FROM suppressions"),
            "1,5");
  // A second erasure path over the same address finds it covered and adds nothing.
  std::string again = NewSubject("left.earlier@example.com");
  erasure_->Depersonalize(again, "consent revoked", "op");
  EXPECT_EQ(Count("suppressions"), 2);
}

}  // namespace
}  // namespace herald::privacy
