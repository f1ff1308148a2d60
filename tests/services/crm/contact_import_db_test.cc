// The first import (C12 in docs/requirements.md) against the Creatio stand-in and a real
// PostgreSQL: a few thousand contacts page by page with exact counts, the gate honouring
// what Creatio said afterwards, interruptions and a resume, the dry run, cancelling, and one
// run at a time.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include "services/crm/contact_import.h"
#include "services/crm/creatio_client.h"
#include "tests/services/subscriptions/registry_fixture.h"
#include "tests/support/creatio_stand_in.h"

namespace herald::crm {
namespace {

// Creatio's page size for the import. The interruptions and the resume run on a few
// thousand contacts (ten pages); the full import on enough to hold a contact with every
// flag (contact 1001); the other tests on a population of two pages, which holds every kind
// of contact and is all they need.
constexpr int kPageSize = 200;
constexpr int kAtScale = 2000;
constexpr int kFullImport = 1200;
constexpr int kFew = 300;
constexpr char kWebinarsType[] = "0a1b2c3d-0000-4000-8000-00000000aaaa";  // mapped
constexpr char kUnmappedType[] = "0a1b2c3d-0000-4000-8000-00000000bbbb";
constexpr char kUnsubscribed[] = "c8947f80-a374-412a-bbc8-ea9068a8b78e";
constexpr char kSubscribed[] = "1a5cd9b8-b999-4b65-b8a8-bd3168792128";

std::string Guid(int prefix, int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012d", prefix, i);
  return buf;
}
std::string ContactId(int i) { return Guid(0xc0, i); }

// The fictional population: which contacts have which addresses and flags.
bool NoAddress(int i) { return i % 10 == 3; }
bool BadEmail(int i) { return i % 50 == 25; }
bool HasPhone(int i) { return i % 3 == 0 && !NoAddress(i); }
bool DoNotEmail(int i) { return i % 7 == 0; }
bool DoNotSms(int i) { return i % 11 == 0; }
bool DoNotCall(int i) { return i % 13 == 0; }
bool TopicUnsubscribed(int i) { return i % 5 == 0; }
bool UnmappedUnsubscribed(int i) { return i % 17 == 0; }
bool Subscribed(int i) { return i % 19 == 0; }

struct Expected {
  int64_t opt_outs = 0, topic_opt_outs = 0, skipped = 0;
  int64_t unsubscribed_rows = 0;  // what the subscriptions phase reads
};

class ContactImportTest : public subscriptions::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    settings_.enabled = true;
    settings_.base_url = stand_in_.base_url();
    settings_.user_name = "Supervisor";
    settings_.password = "Supervisor!1";
    settings_.import_page_size = kPageSize;
    settings_.backoff_initial_ms = 1000;
    settings_.topic_types = {{"webinars", kWebinarsType}};
    client_ = std::make_unique<CreatioClient>(settings_);
    NewImport();
  }

  // Creatio's contacts 0 .. n-1 and their subscription rows, and the counts an import of
  // them must report.
  void Populate(int n) {
    contacts_ = n;
    for (int i = 0; i < n; ++i) {
      testing::CreatioContact c;
      c.id = ContactId(i);
      c.name = "Test Contact " + std::to_string(i);
      if (!NoAddress(i)) {
        c.email = BadEmail(i) ? "not-an-address" : "contact" + std::to_string(i) + "@example.com";
      }
      if (HasPhone(i)) {
        char phone[32];
        std::snprintf(phone, sizeof phone, "+99450%07d", i);
        c.mobile_phone = phone;
      }
      c.do_not_use_email = DoNotEmail(i);
      c.do_not_use_sms = DoNotSms(i);
      c.do_not_use_call = DoNotCall(i);
      stand_in_.PutContact(c);
      expected_.opt_outs += DoNotEmail(i) + DoNotSms(i) + DoNotCall(i);
      int row = 0;
      auto subscription = [&](const char* type, const char* status) {
        stand_in_.PutSubscription({Guid(0x5b, i * 4 + row++), c.id, type, status});
      };
      if (TopicUnsubscribed(i)) {
        subscription(kWebinarsType, kUnsubscribed);
        ++expected_.topic_opt_outs;
      }
      if (UnmappedUnsubscribed(i)) {
        subscription(kUnmappedType, kUnsubscribed);
        ++expected_.skipped;
      }
      if (Subscribed(i)) subscription(kWebinarsType, kSubscribed);
    }
    // A row of a contact Creatio no longer lists: nobody to opt out.
    stand_in_.PutSubscription({Guid(0x5c, 1), Guid(0xdead, 1), kWebinarsType, kUnsubscribed});
    ++expected_.skipped;
    expected_.unsubscribed_rows = expected_.topic_opt_outs + expected_.skipped;
  }

  void NewImport() {
    import_ = std::make_unique<ContactImport>(*pool_, *client_, *registry_, settings_, clock_);
  }

  // Steps until nothing is running, moving the clock past every backoff.
  v1::CrmImport RunToEnd(int max_steps = 200) {
    for (int i = 0; i < max_steps; ++i) {
      if (clock_.Now() < import_->next_attempt()) clock_.Set(import_->next_attempt());
      if (!import_->Step()) return import_->Get(0);
    }
    ADD_FAILURE() << "the import did not end in " << max_steps << " steps";
    return import_->Get(0);
  }

  void ExpectFullImport(const v1::CrmImport& r, int64_t created, int64_t matched) {
    EXPECT_EQ(r.state(), v1::CrmImport::DONE) << r.error();
    EXPECT_EQ(r.contacts_seen(), contacts_);
    EXPECT_EQ(r.subjects_created(), created);
    EXPECT_EQ(r.subjects_matched(), matched);
    EXPECT_EQ(r.opt_outs(), expected_.opt_outs);
    EXPECT_EQ(r.topic_opt_outs(), expected_.topic_opt_outs);
    EXPECT_EQ(r.skipped(), expected_.skipped);
    EXPECT_EQ(r.total(), contacts_);
    EXPECT_TRUE(r.has_finish_time());
  }

  std::string SubjectOf(int i) {
    return db_->Scalar("SELECT id FROM subjects WHERE external_id = '" + ContactId(i) + "'");
  }

  testing::CreatioStandIn stand_in_;
  CreatioSettings settings_;
  std::unique_ptr<CreatioClient> client_;
  std::unique_ptr<ContactImport> import_;
  int contacts_ = 0;
  Expected expected_;
};

// Every contact becomes a subject without consent; every flag and Unsubscribed row of
// a mapped type an opt-out the gate then applies; the counts are exact.
TEST_F(ContactImportTest, ImportsEveryPageAndTheGateHonoursCreatiosFlags) {
  Populate(kFullImport);
  auto started = import_->Start(false);
  EXPECT_EQ(started.state(), v1::CrmImport::RUNNING);
  EXPECT_EQ(started.phase(), "contacts");
  auto done = RunToEnd();
  ExpectFullImport(done, kFullImport, 0);
  // The full pages of contacts and the short (or empty) last one, then the Unsubscribed
  // rows' pages.
  EXPECT_EQ(done.pages(),
            kFullImport / kPageSize + 1 + expected_.unsubscribed_rows / kPageSize + 1);

  EXPECT_EQ(Count("subjects"), kFullImport);
  EXPECT_EQ(Count("consents"), 0);  // STANDARDS S3: Creatio holds no proof of consent
  EXPECT_EQ(db_->Scalar("SELECT count(DISTINCT external_id) FROM subjects"),
            std::to_string(kFullImport));
  // Usable addresses only; a contact without one is still linked by its id.
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM addresses a JOIN subjects s ON s.id = a.subject_id "
                        "WHERE s.external_id = '" +
                        ContactId(3) + "'"),
            "0");
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM addresses a JOIN subjects s ON s.id = a.subject_id "
                        "WHERE s.external_id = '" +
                        ContactId(25) + "'"),
            "0");  // "not-an-address" skipped; 25 has no phone
  EXPECT_EQ(db_->Scalar("SELECT count(*) FROM addresses a JOIN subjects s ON s.id = a.subject_id "
                        "WHERE s.external_id = '" +
                        ContactId(6) + "'"),
            "2");

  // With consent given later, what Creatio forbade stays forbidden.
  std::string all_flags = SubjectOf(7 * 11 * 13);  // 1001: every DoNotUse* flag
  std::string no_sms = SubjectOf(66);              // DoNotUseSms, has a phone
  std::string no_call = SubjectOf(39);             // DoNotUseCall, has a phone
  std::string clean = SubjectOf(6);                // no flag, e-mail and phone
  std::string topic = SubjectOf(5);                // Unsubscribed from webinars (mapped)
  std::string unmapped = SubjectOf(51);            // an Unsubscribed row of an unmapped type only
  for (const auto& id : {all_flags, no_sms, no_call, clean, topic, unmapped}) ConsentAll(id);
  EXPECT_EQ(Check(all_flags, "", v1::EMAIL).reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_EQ(Check(no_sms, "", v1::SMS).reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_TRUE(Check(no_sms, "", v1::EMAIL).allowed());
  EXPECT_EQ(Check(no_call, "", v1::CALL).reason(), v1::UNSUBSCRIBED_CHANNEL);
  EXPECT_TRUE(Check(no_call, "", v1::SMS).allowed());
  EXPECT_TRUE(Check(clean, "", v1::EMAIL).allowed());
  EXPECT_TRUE(Check(clean, "", v1::SMS).allowed());
  EXPECT_EQ(Check(topic, "", v1::EMAIL, "webinars").reason(), v1::UNSUBSCRIBED_TOPIC);
  EXPECT_TRUE(Check(topic, "", v1::EMAIL, "product_news").allowed());
  EXPECT_TRUE(Check(unmapped, "", v1::EMAIL, "webinars").allowed());

  // What the cards hold is remembered, so the write-back does not rewrite it.
  EXPECT_EQ(Count("crm_contacts"), kFullImport);
  EXPECT_EQ(db_->Scalar("SELECT do_not_use_email::text || do_not_use_sms::text || "
                        "do_not_use_call::text FROM crm_contacts WHERE contact_id = '" +
                        ContactId(1001) + "'"),
            "truetruetrue");
  EXPECT_EQ(db_->Scalar("SELECT subscriptions -> '" + std::string(kWebinarsType) +
                        "' ->> 'unsubscribed' FROM crm_contacts WHERE contact_id = '" +
                        ContactId(5) + "'"),
            "true");
}

// FAIR-7: with crm.fields.time_zone naming a contact column, the import sets each subject's
// zone for quiet hours; a value that is not an IANA zone is left out, the contact still
// imported.
TEST_F(ContactImportTest, FAIR_7_ImportReadsTheTimeZoneColumn) {
  Populate(10);
  auto zoned = *stand_in_.contact(ContactId(6));
  zoned.time_zone = "Asia/Yekaterinburg";
  stand_in_.PutContact(zoned);
  auto wrong = *stand_in_.contact(ContactId(7));
  wrong.time_zone = "Yekaterinburg time";
  stand_in_.PutContact(wrong);
  settings_.time_zone_field = "UsrTimeZone";
  NewImport();
  import_->Start(false);
  EXPECT_EQ(RunToEnd().state(), v1::CrmImport::DONE);
  EXPECT_EQ(db_->Scalar("SELECT coalesce(time_zone, '') FROM subjects WHERE external_id = '" +
                        ContactId(6) + "'"),
            "Asia/Yekaterinburg");
  EXPECT_EQ(db_->Scalar("SELECT coalesce(time_zone, 'none') FROM subjects WHERE external_id = '" +
                        ContactId(7) + "'"),
            "none");
  EXPECT_EQ(Count("subjects"), 10);
}

// Interruptions (the object destroyed between pages, Creatio answering 503, a crash in the
// middle of a page) and a resume end in the same state as an uninterrupted run, without a
// duplicate subject; a second run matches every contact and changes nothing.
TEST_F(ContactImportTest, ResumesAfterInterruptionsToTheSameEndState) {
  Populate(kAtScale);
  import_->Start(false);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(import_->Step());
  EXPECT_EQ(import_->Get(0).pages(), 3);
  import_.reset();  // heraldd stopped between pages
  NewImport();

  stand_in_.FailNext(1, 503, 2);
  EXPECT_TRUE(import_->Step());  // Creatio is busy: still running, not advanced
  auto after_503 = import_->Get(0);
  EXPECT_EQ(after_503.state(), v1::CrmImport::RUNNING);
  EXPECT_EQ(after_503.pages(), 3);
  EXPECT_EQ(after_503.contacts_seen(), 3 * kPageSize);
  EXPECT_GE(import_->next_attempt(), clock_.Now() + std::chrono::seconds(2));  // Retry-After
  EXPECT_TRUE(import_->Step());  // before next_attempt: nothing happens
  EXPECT_EQ(import_->Get(0).pages(), 3);

  for (int i = 0; i < 4; ++i) {
    clock_.Set(import_->next_attempt());
    ASSERT_TRUE(import_->Step());
  }
  // A crash in the middle of page 8: its contacts were imported, its row not committed. The
  // row is put back as it was after page 7; the page is redone and finds them.
  ASSERT_EQ(import_->Get(0).pages(), 7);
  std::string row_after_7 =
      db_->Scalar("SELECT row_to_json(i)::text FROM crm_imports i WHERE state = 'running'");
  ASSERT_TRUE(import_->Step());
  import_.reset();
  db_->Exec(
      "UPDATE crm_imports i SET (cursor, pages, contacts_seen, subjects_created, "
      "subjects_matched, opt_outs, skipped) = (SELECT r.cursor, r.pages, r.contacts_seen, "
      "r.subjects_created, r.subjects_matched, r.opt_outs, r.skipped FROM "
      "json_populate_record(NULL::crm_imports, '" +
      row_after_7 + "') r) WHERE state = 'running'");
  NewImport();
  auto done = RunToEnd();
  ExpectFullImport(done, kAtScale - kPageSize, kPageSize);  // page 8's subjects found again
  EXPECT_EQ(Count("subjects"), kAtScale);
  EXPECT_EQ(db_->Scalar("SELECT count(DISTINCT external_id) FROM subjects"),
            std::to_string(kAtScale));
  int64_t preferences = Count("preferences"), suppressions = Count("suppressions");

  // Every step is idempotent: a second run matches everyone and adds no opt-out.
  import_->Start(false);
  ExpectFullImport(RunToEnd(), 0, kAtScale);
  EXPECT_EQ(Count("subjects"), kAtScale);
  EXPECT_EQ(Count("preferences"), preferences);
  EXPECT_EQ(Count("suppressions"), suppressions);
}

// A dry run reads and counts, and changes nothing but its own row.
TEST_F(ContactImportTest, ADryRunCountsAndChangesNothing) {
  Populate(kFew);
  std::string existing = NewSubject("contact1@example.com");  // matched by address
  int64_t events = Count("events");
  auto started = import_->Start(true);
  EXPECT_TRUE(started.dry_run());
  auto done = RunToEnd();
  EXPECT_EQ(done.state(), v1::CrmImport::DONE) << done.error();
  EXPECT_EQ(done.contacts_seen(), kFew);
  EXPECT_EQ(done.subjects_created(), kFew - 1);
  EXPECT_EQ(done.subjects_matched(), 1);
  EXPECT_EQ(done.opt_outs(), expected_.opt_outs);
  // The dry run cannot tell a contact Creatio no longer lists: its row counts as an opt-out.
  EXPECT_EQ(done.topic_opt_outs(), expected_.topic_opt_outs + 1);
  EXPECT_EQ(done.skipped(), expected_.skipped - 1);
  EXPECT_EQ(Count("subjects"), 1);
  EXPECT_EQ(Count("addresses"), 1);
  EXPECT_EQ(Count("events"), events);
  EXPECT_EQ(Count("preferences"), 0);
  EXPECT_EQ(Count("suppressions"), 0);
  EXPECT_EQ(Count("crm_contacts"), 0);
  EXPECT_EQ(Count("crm_outbox"), 0);
}

TEST_F(ContactImportTest, ACancelledImportStopsAndAnotherMayStart) {
  Populate(kFew);  // more than a page: the run is still going after its first
  auto started = import_->Start(false);
  ASSERT_TRUE(import_->Step());
  auto cancelled = import_->Cancel(started.id());
  EXPECT_EQ(cancelled.state(), v1::CrmImport::CANCELLED);
  EXPECT_EQ(cancelled.pages(), 1);
  EXPECT_TRUE(cancelled.has_finish_time());
  EXPECT_FALSE(import_->Step());  // nothing running
  EXPECT_EQ(import_->Get(started.id()).pages(), 1);
  EXPECT_EQ(import_->Cancel(started.id()).state(), v1::CrmImport::CANCELLED);  // idempotent
  auto again = import_->Start(false);
  EXPECT_NE(again.id(), started.id());
  EXPECT_EQ(import_->Get(0).id(), again.id());
  EXPECT_EQ(CatchError([&] { import_->Get(again.id() + 100); }).code(), ErrorCode::kNotFound);
}

TEST_F(ContactImportTest, OneImportRunsAtATime) {
  Populate(kFew);
  EXPECT_EQ(CatchError([&] { import_->Get(0); }).code(), ErrorCode::kNotFound);
  auto first = import_->Start(true);
  auto refused = CatchError([&] { import_->Start(false); });
  EXPECT_EQ(refused.code(), ErrorCode::kFailedPrecondition);
  EXPECT_NE(std::string(refused.what()).find(std::to_string(first.id())), std::string::npos);
  RunToEnd();
  EXPECT_EQ(import_->Start(false).state(), v1::CrmImport::RUNNING);
}

// A refused login fails the run with a reason that names no one.
TEST_F(ContactImportTest, ARefusedLoginFailsTheRun) {
  Populate(kFew);
  stand_in_.SetUser("Supervisor", "another password");
  import_->Start(false);
  auto failed = RunToEnd();
  EXPECT_EQ(failed.state(), v1::CrmImport::FAILED);
  EXPECT_NE(failed.error().find("login"), std::string::npos) << failed.error();
  EXPECT_EQ(failed.error().find("Supervisor"), std::string::npos) << failed.error();
  EXPECT_EQ(Count("subjects"), 0);
}

TEST_F(ContactImportTest, NothingStartsWhileTheConnectorIsOff) {
  Populate(kFew);
  settings_.enabled = false;
  EXPECT_EQ(CatchError([&] { import_->Start(false); }).code(), ErrorCode::kFailedPrecondition);
  EXPECT_FALSE(import_->Step());
}

}  // namespace
}  // namespace herald::crm
