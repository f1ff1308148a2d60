#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "common/error.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/registry.h"
#include "tests/support/test_database.h"

namespace herald::subscriptions {

// A SubscriptionRegistry wired as heraldd wires it, on a fresh real database, with a manual
// clock and a two-key suppression ring ("k2" newest, "k1" older).
class RegistryTest : public ::testing::Test {
 protected:
  static constexpr char kKeys[] =
      "k2:2222222222222222222222222222222222222222222222222222222222222222,"
      "k1:1111111111111111111111111111111111111111111111111111111111111111";

  void SetUp() override {
    db_ = herald::testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
    pool_ = std::make_unique<db::Pool>(db_->dsn(), 10, std::chrono::seconds(10));
    hasher_ = std::make_unique<crypto::SuppressionHasher>(crypto::KeyRing::Parse(kKeys));
    gate_ = std::make_unique<EligibilityGate>(*hasher_, "RU", std::vector<std::string>{"RU"});
    registry_ = std::make_unique<SubscriptionRegistry>(*pool_, clock_, topics_, *hasher_, *gate_);
  }

  // A subject with the given addresses (either may be empty).
  std::string NewSubject(const std::string& email, const std::string& phone = "",
                         const std::string& external_id = "") {
    v1::UpsertSubjectRequest r;
    r.set_external_id(external_id);
    r.set_surname("Məmmədov");
    r.set_given_name("Əli");
    r.set_locale("az");
    if (!email.empty()) r.add_emails(email);
    if (!phone.empty()) r.add_phones(phone);
    return registry_->UpsertSubject(crm_, r).subject().id();
  }

  void Consent(const std::string& subject_id, v1::ConsentKind kind, v1::Channel channel,
               bool granted = true) {
    v1::RecordConsentRequest r;
    r.set_subject_id(subject_id);
    r.set_kind(kind);
    r.set_channel(channel);
    r.set_granted(granted);
    r.mutable_proof()->set_source(v1::WEB_FORM);
    r.mutable_proof()->set_form_id("signup");
    r.mutable_proof()->set_document_version("policy-2025-09");
    registry_->RecordConsent(crm_, r);
  }

  // Consent to processing and to marketing on the given channels.
  void ConsentAll(const std::string& subject_id,
                  std::initializer_list<v1::Channel> channels = {v1::EMAIL, v1::SMS, v1::CALL}) {
    Consent(subject_id, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED);
    for (auto c : channels) Consent(subject_id, v1::MARKETING, c);
  }

  v1::Decision Check(const std::string& subject_id, const std::string& address, v1::Channel channel,
                     const std::string& topic = "product_news", const std::string& country = "") {
    v1::CheckEligibilityRequest r;
    r.mutable_recipient()->set_subject_id(subject_id);
    r.mutable_recipient()->set_address(address);
    r.set_channel(channel);
    r.set_topic(topic);
    r.set_provider_country(country);
    return registry_->CheckEligibility(crm_, r).decision();
  }

  v1::OptOutResponse OptOutSubject(const std::string& subject_id, v1::OptOutScope scope,
                                   v1::Channel channel = v1::CHANNEL_UNSPECIFIED,
                                   const std::string& topic = "") {
    v1::OptOutRequest r;
    r.set_subject_id(subject_id);
    r.set_scope(scope);
    r.set_channel(channel);
    r.set_topic(topic);
    r.mutable_proof()->set_source(v1::CRM);
    return registry_->OptOut(crm_, r);
  }

  v1::OptOutResponse OptOutAddress(
      const std::string& address, v1::OptOutScope scope,
      v1::Channel channel = v1::CHANNEL_UNSPECIFIED, const std::string& topic = "",
      v1::SuppressionReason reason = v1::SUPPRESSION_REASON_UNSPECIFIED) {
    v1::OptOutRequest r;
    r.set_address(address);
    r.set_scope(scope);
    r.set_channel(channel);
    r.set_topic(topic);
    r.set_reason(reason);
    r.mutable_proof()->set_source(v1::LINK);
    return registry_->OptOut(crm_, r);
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

  int64_t Count(const std::string& table) {
    return std::stoll(db_->Scalar("SELECT count(*) FROM " + table));
  }

  std::unique_ptr<herald::testing::TestDatabase> db_;
  ManualClock clock_{ParseTimestamp("2026-11-27T10:00:00Z")};
  TopicCatalog topics_{{{"webinars", true, {{"en", "Webinars"}}, {{"en", "Online events"}}},
                        {"billing", false, {{"en", "Invoices"}}, {{"en", "Invoices sent"}}}}};
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<crypto::SuppressionHasher> hasher_;
  std::unique_ptr<EligibilityGate> gate_;
  std::unique_ptr<SubscriptionRegistry> registry_;
  Caller crm_{"crm-test", "req-1"};
};

}  // namespace herald::subscriptions
