// The first import with consent the operator holds proof of (C12 in docs/requirements.md,
// STANDARDS S3): each contact gets processing consent and marketing consent on the named
// channels its card does not flag, with the proof given; a flagged channel gets the opt-out
// and no consent; without the proof nothing is consented; a bad proof is refused before
// anything starts.
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

constexpr int kContacts = 60;

std::string ContactId(int i) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "000000c1-0000-4000-8000-%012d", i);
  return buf;
}
std::string Email(int i) { return "consent" + std::to_string(i) + "@example.com"; }
std::string Phone(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "+99450%07d", 5000 + i);
  return buf;
}
bool DoNotEmail(int i) { return i % 4 == 1; }
bool DoNotSms(int i) { return i % 5 == 2; }

class ImportConsentTest : public subscriptions::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    for (int i = 0; i < kContacts; ++i) {
      testing::CreatioContact c;
      c.id = ContactId(i);
      c.name = "Test Contact " + std::to_string(i);
      c.email = Email(i);
      c.mobile_phone = Phone(i);
      c.do_not_use_email = DoNotEmail(i);
      c.do_not_use_sms = DoNotSms(i);
      stand_in_.PutContact(c);
    }
    settings_.enabled = true;
    settings_.base_url = stand_in_.base_url();
    settings_.user_name = "Supervisor";
    settings_.password = "Supervisor!1";
    settings_.import_page_size = 25;
    client_ = std::make_unique<CreatioClient>(settings_);
    import_ = std::make_unique<ContactImport>(*pool_, *client_, *registry_, settings_, clock_);
  }

  v1::CrmImport RunToEnd() {
    for (int i = 0; i < 100; ++i) {
      if (clock_.Now() < import_->next_attempt()) clock_.Set(import_->next_attempt());
      if (!import_->Step()) return import_->Get(0);
    }
    ADD_FAILURE() << "the import did not end";
    return import_->Get(0);
  }

  static v1::ImportConsent EmailAndSms() {
    v1::ImportConsent c;
    c.add_channels(v1::EMAIL);
    c.add_channels(v1::SMS);
    c.mutable_proof()->set_document_version("signup-form-2025-03");
    return c;
  }

  int64_t Expected(bool email, bool sms) {
    int64_t n = 0;
    for (int i = 0; i < kContacts; ++i) n += (email && !DoNotEmail(i)) + (sms && !DoNotSms(i));
    return n;
  }

  testing::CreatioStandIn stand_in_;
  CreatioSettings settings_;
  std::unique_ptr<CreatioClient> client_;
  std::unique_ptr<ContactImport> import_;
};

TEST_F(ImportConsentTest, C12_TheSuppliedProofConsentsTheChannelsTheCardsDoNotFlag) {
  auto started = import_->Start(false, EmailAndSms());
  EXPECT_EQ(started.consent().channels_size(), 2);
  auto done = RunToEnd();
  ASSERT_EQ(done.state(), v1::CrmImport::DONE) << done.error();
  EXPECT_EQ(done.consents(), Expected(true, true));
  EXPECT_EQ(done.consent().proof().document_version(), "signup-form-2025-03");
  int64_t flags = 0;
  for (int i = 0; i < kContacts; ++i) flags += DoNotEmail(i) + DoNotSms(i);
  EXPECT_EQ(done.opt_outs(), flags);
  for (int i = 0; i < kContacts; ++i) {
    SCOPED_TRACE("contact " + std::to_string(i));
    EXPECT_EQ(Check("", Email(i), v1::EMAIL).allowed(), !DoNotEmail(i));
    // A flagged channel has the opt-out and no consent (which names the refusal first).
    EXPECT_EQ(Check("", Email(i), v1::EMAIL).reason(),
              DoNotEmail(i) ? v1::NO_CONSENT : v1::DENY_REASON_UNSPECIFIED);
    EXPECT_EQ(Check("", Phone(i), v1::SMS).allowed(), !DoNotSms(i));
    // CALL was not named: no consent there.
    EXPECT_EQ(Check("", Phone(i), v1::CALL).reason(), v1::NO_CONSENT);
  }
  // Every marketing consent carries the proof: source IMPORT, the run as its form, the
  // document version.
  const std::string form = "crm-import-" + std::to_string(started.id());
  const std::string marketing =
      "SELECT count(*) FROM consents WHERE granted AND kind = " + std::to_string(v1::MARKETING);
  EXPECT_EQ(db_->Scalar(marketing), std::to_string(Expected(true, true)));
  EXPECT_EQ(
      db_->Scalar(marketing + " AND document_version = 'signup-form-2025-03' AND form_id = '" +
                  form + "' AND source = " + std::to_string(v1::IMPORT)),
      std::to_string(Expected(true, true)));
}

TEST_F(ImportConsentTest, C12_WithoutProofNothingIsConsented) {
  auto done = (import_->Start(false), RunToEnd());
  ASSERT_EQ(done.state(), v1::CrmImport::DONE) << done.error();
  EXPECT_EQ(done.consents(), 0);
  EXPECT_EQ(Count("consents"), 0);
  EXPECT_EQ(Check("", Email(0), v1::EMAIL).reason(), v1::NO_CONSENT);
}

TEST_F(ImportConsentTest, C12_ADryRunCountsTheConsentsAndRecordsNone) {
  v1::ImportConsent email;
  email.add_channels(v1::EMAIL);
  email.mutable_proof()->set_document_version("signup-form-2025-03");
  auto done = (import_->Start(true, email), RunToEnd());
  ASSERT_EQ(done.state(), v1::CrmImport::DONE) << done.error();
  EXPECT_EQ(done.consents(), Expected(true, false));
  EXPECT_EQ(Count("consents"), 0);
  EXPECT_EQ(Count("subjects"), 0);
}

TEST_F(ImportConsentTest, C12_ABadProofIsRefusedBeforeAnythingStarts) {
  auto refused = [&](v1::ImportConsent c, const std::string& field) {
    auto e = CatchError([&] { import_->Start(false, c); });
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << field;
    EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
  };
  auto no_document = EmailAndSms();
  no_document.mutable_proof()->clear_document_version();
  refused(no_document, "consent.proof.document_version");
  auto twice = EmailAndSms();
  twice.add_channels(v1::EMAIL);
  refused(twice, "consent.channels[2]");
  auto unspecified = EmailAndSms();
  unspecified.add_channels(v1::CHANNEL_UNSPECIFIED);
  refused(unspecified, "consent.channels[2]");
  auto from_a_link = EmailAndSms();
  from_a_link.mutable_proof()->set_source(v1::LINK);
  refused(from_a_link, "consent.proof.source");
  auto one_person = EmailAndSms();
  one_person.mutable_proof()->set_ip("192.0.2.1");
  refused(one_person, "consent.proof");
  auto future = EmailAndSms();
  future.mutable_proof()->mutable_occurred_at()->set_seconds(
      std::chrono::duration_cast<std::chrono::seconds>(clock_.Now().time_since_epoch()).count() +
      86400);
  refused(future, "consent.proof.occurred_at");
  v1::ImportConsent no_channels;
  no_channels.mutable_proof()->set_document_version("signup-form-2025-03");
  refused(no_channels, "consent.channels");
  EXPECT_EQ(Count("crm_imports"), 0);
}

}  // namespace
}  // namespace herald::crm
