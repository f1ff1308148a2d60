// Subjects and addresses on a real PostgreSQL: UpsertSubject, GetSubject, FindSubjects.
#include <gmock/gmock.h>

#include <functional>
#include <set>

#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::subscriptions {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST_F(RegistryTest, UpsertCreatesSubjectWithNormalisedAddresses) {
  v1::UpsertSubjectRequest r;
  r.set_external_id("creatio-1");
  r.set_surname("Иванов");
  r.set_given_name("Иван");
  r.set_patronymic("Иванович");
  r.set_locale("ru");
  r.add_emails("Ivan.Petrov+news@Пример.РФ");
  r.add_phones("8 (916) 123-45-67");
  auto resp = registry_->UpsertSubject(crm_, r);
  EXPECT_TRUE(resp.created());
  const auto& s = resp.subject();
  EXPECT_EQ(s.external_id(), "creatio-1");
  EXPECT_EQ(s.patronymic(), "Иванович");
  EXPECT_THAT(s.emails(), ElementsAre("Ivan.Petrov+news@xn--e1afmkfd.xn--p1ai"));
  EXPECT_THAT(s.phones(), ElementsAre("+79161234567"));
  EXPECT_EQ(s.state(), v1::ACTIVE);
  EXPECT_EQ(Count("subjects"), 1);
  // The event trail says who and what, and keeps personal values in the side table.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'address.added'"), "2");
  EXPECT_THAT(db_->Scalar("SELECT string_agg(details::text, ' ') FROM events"),
              Not(HasSubstr("Иванов")));
  EXPECT_EQ(db_->Scalar("SELECT data->>'surname' FROM event_personal p JOIN events e"
                        " ON e.id = p.event_id WHERE e.type = 'subject.created'"),
            "Иванов");
  EXPECT_EQ(db_->Scalar("SELECT DISTINCT actor FROM events"), "crm-test");
}

TEST_F(RegistryTest, UpsertIsIdempotentByExternalIdAndByAddress) {
  std::string id = NewSubject("a@example.com", "", "ext-7");
  v1::UpsertSubjectRequest again;
  again.set_external_id("ext-7");
  again.set_given_name("Renamed");
  again.add_phones("+994 50 123 45 67");
  auto resp = registry_->UpsertSubject(crm_, again);
  EXPECT_FALSE(resp.created());
  EXPECT_EQ(resp.subject().id(), id);
  EXPECT_EQ(resp.subject().given_name(), "Renamed");
  EXPECT_EQ(resp.subject().surname(), "Məmmədov");  // empty fields leave values alone
  EXPECT_THAT(resp.subject().phones(), ElementsAre("+994501234567"));

  v1::UpsertSubjectRequest by_address;
  by_address.add_emails("A@EXAMPLE.com");
  auto resp2 = registry_->UpsertSubject(crm_, by_address);
  EXPECT_FALSE(resp2.created());
  EXPECT_EQ(resp2.subject().id(), id);
  EXPECT_EQ(Count("subjects"), 1);
  // Nothing changed the second time: no subject.updated event for it.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM events WHERE type = 'subject.updated'"), "1");
}

TEST_F(RegistryTest, UpsertAttachesExternalIdToSubjectFoundByAddress) {
  std::string id = NewSubject("web@example.com");
  v1::UpsertSubjectRequest r;
  r.set_external_id("crm-42");
  r.add_emails("web@example.com");
  EXPECT_EQ(registry_->UpsertSubject(crm_, r).subject().id(), id);
  EXPECT_EQ(db_->Scalar("SELECT external_id FROM subjects"), "crm-42");
}

TEST_F(RegistryTest, UpsertRefusesAddressesOfSeveralSubjects) {
  NewSubject("one@example.com");
  NewSubject("two@example.com");
  v1::UpsertSubjectRequest r;
  r.add_emails("one@example.com");
  r.add_emails("two@example.com");
  auto err = CatchError([&] { registry_->UpsertSubject(crm_, r); });
  EXPECT_EQ(err.code(), ErrorCode::kFailedPrecondition);
  EXPECT_EQ(Count("subjects"), 2);
}

TEST_F(RegistryTest, IdempotencyKeyReplaysAndRejectsADifferentBody) {
  v1::UpsertSubjectRequest r;
  r.set_idempotency_key("import-2026-11-27-row-1");
  r.set_external_id("ext-1");
  r.add_emails("key@example.com");
  auto first = registry_->UpsertSubject(crm_, r);
  auto second = registry_->UpsertSubject(crm_, r);
  EXPECT_TRUE(first.created());
  EXPECT_TRUE(second.created());  // the replay answers what the first call answered
  EXPECT_EQ(first.subject().id(), second.subject().id());

  r.set_surname("Different");
  auto err = CatchError([&] { registry_->UpsertSubject(crm_, r); });
  EXPECT_EQ(err.code(), ErrorCode::kAlreadyExists);
  EXPECT_THAT(err.what(), HasSubstr("idempotency_key"));
  EXPECT_EQ(db_->Scalar("SELECT surname FROM subjects"), "");

  // Keys are scoped per client: another client may use the same key.
  Caller other{"scheduler-test", "req-2"};
  EXPECT_NO_THROW(registry_->UpsertSubject(other, r));
}

TEST_F(RegistryTest, BadInputWritesNothingAndNamesTheField) {
  struct Case {
    const char* field;
    std::function<void(v1::UpsertSubjectRequest&)> spoil;
  };
  std::vector<Case> cases = {
      {"emails[1]", [](auto& r) { r.add_emails("not-an-address"); }},
      {"phones[0]", [](auto& r) { r.add_phones("12"); }},
      {"surname", [](auto& r) { r.set_surname(std::string(10000, 'x')); }},
      {"given_name", [](auto& r) { r.set_given_name("Ivan\r\nBcc: x"); }},
      {"patronymic", [](auto& r) { r.set_patronymic(std::string("a\0b", 3)); }},
      {"locale", [](auto& r) { r.set_locale("not a locale"); }},
      {"external_id", [](auto& r) { r.set_external_id("id with spaces"); }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.field);
    v1::UpsertSubjectRequest r;
    r.set_external_id("ext-bad");
    r.add_emails("good@example.com");
    c.spoil(r);
    auto err = CatchError([&] { registry_->UpsertSubject(crm_, r); });
    EXPECT_EQ(err.code(), ErrorCode::kInvalidArgument);
    EXPECT_THAT(err.what(), HasSubstr(c.field));
    EXPECT_THAT(err.what(), Not(HasSubstr("not-an-address")));
    EXPECT_THAT(err.what(), Not(HasSubstr("Bcc")));
  }
  EXPECT_EQ(Count("subjects"), 0);
  EXPECT_EQ(Count("events"), 0);
  EXPECT_EQ(Count("addresses"), 0);
}

TEST_F(RegistryTest, GetSubjectAnswersNotFoundAndInvalidArgument) {
  v1::GetSubjectRequest r;
  r.set_subject_id("00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(CatchError([&] { registry_->GetSubject(crm_, r); }).code(), ErrorCode::kNotFound);
  r.set_subject_id("nope");
  EXPECT_EQ(CatchError([&] { registry_->GetSubject(crm_, r); }).code(),
            ErrorCode::kInvalidArgument);
  std::string id = NewSubject("get@example.com", "+79161234567");
  r.set_subject_id(id);
  auto s = registry_->GetSubject(crm_, r).subject();
  EXPECT_EQ(s.id(), id);
  EXPECT_THAT(s.phones(), ElementsAre("+79161234567"));
}

TEST_F(RegistryTest, FindSubjectsByAddressAndExternalIdWithPagination) {
  // Five subjects share one phone (a family landline); each has its own CRM id.
  for (int i = 0; i < 5; ++i) NewSubject("", "+7 916 123-45-67", "fam-" + std::to_string(i));
  v1::FindSubjectsRequest r;
  r.set_address("8 (916) 123 45 67");
  r.set_page_size(2);
  std::set<std::string> seen;
  int pages = 0;
  while (true) {
    auto resp = registry_->FindSubjects(crm_, r);
    ++pages;
    for (const auto& s : resp.subjects()) seen.insert(s.id());
    if (resp.next_page_token().empty()) break;
    r.set_page_token(resp.next_page_token());
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(pages, 3);

  v1::FindSubjectsRequest by_ext;
  by_ext.set_external_id("fam-3");
  auto found = registry_->FindSubjects(crm_, by_ext);
  ASSERT_EQ(found.subjects_size(), 1);
  EXPECT_EQ(found.subjects(0).external_id(), "fam-3");

  v1::FindSubjectsRequest bad;
  bad.set_address("junk@");
  EXPECT_EQ(CatchError([&] { registry_->FindSubjects(crm_, bad); }).code(),
            ErrorCode::kInvalidArgument);
  v1::FindSubjectsRequest bad_token;
  bad_token.set_external_id("fam-1");
  bad_token.set_page_token("zz");
  EXPECT_EQ(CatchError([&] { registry_->FindSubjects(crm_, bad_token); }).code(),
            ErrorCode::kInvalidArgument);
}

TEST_F(RegistryTest, EventsAreAppendOnly) {
  NewSubject("trail@example.com");
  EXPECT_THROW(db_->Exec("UPDATE events SET type = 'x'"), std::exception);
  EXPECT_THROW(db_->Exec("DELETE FROM events"), std::exception);
}

}  // namespace
}  // namespace herald::subscriptions
