#pragma once

#include <gmock/gmock.h>

#include <memory>
#include <string>
#include <vector>

#include "services/dispatch/message_service.h"
#include "services/dispatch/outbox/outbox.h"
#include "services/privacy/destruction_records.h"
#include "services/privacy/retention_sweep.h"
#include "services/privacy/subject_erasure.h"
#include "services/privacy/subject_export.h"
#include "tests/services/subscriptions/registry_fixture.h"
#include "tests/support/eventually.h"
#include "tests/support/outbox.h"

namespace herald::privacy {

// The registry fixture (real PostgreSQL, manual clock) plus the dispatch services and the
// erasure classes wired as heraldd wires them.
class ErasureTest : public subscriptions::RegistryTest {
 protected:
  void SetUp() override {
    RegistryTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    settings_.operator_name = "OOO Herald Test Operator";
    settings_.operator_address = "1 Test Street, Baku";
    settings_.information_system = "Herald marketing consent registry";
    messages_ = std::make_unique<dispatch::MessageService>(*pool_, clock_, topics_, *gate_);
    outbox_ = std::make_unique<dispatch::Outbox>(
        *pool_, clock_, *gate_, topics_,
        [](Channel ch, bool) -> std::optional<dispatch::ProviderChoice> {
          return dispatch::ProviderChoice{ch == Channel::kEmail ? "relay" : "sms-ru", "RU"};
        },
        dispatch::RetryPolicy{});
    erasure_ = std::make_unique<SubjectErasure>(*pool_, clock_, *hasher_, settings_);
    export_ = std::make_unique<SubjectExport>(*pool_, clock_, *hasher_);
    records_ = std::make_unique<DestructionRecords>(*pool_, settings_);
  }

  // Queues a marketing message and, when `detail` is given, has the provider answer it
  // (the detail is what the provider said, which may quote the address).
  std::string SendAndSettle(const std::string& subject_id, v1::Channel channel,
                            const std::string& key, const std::string& detail,
                            dispatch::DeliveryOutcome outcome = dispatch::DeliveryOutcome::kSent) {
    v1::SendRequest r;
    r.set_idempotency_key(key);
    r.mutable_recipient()->set_subject_id(subject_id);
    r.set_channel(channel);
    r.set_topic("special_offers");
    if (channel == v1::EMAIL) r.mutable_content()->set_subject("Hello {{given_name}}");
    r.mutable_content()->set_text("Offer for {{given_name}} {{surname}}: {{code}}");
    (*r.mutable_variables())["code"] = "X1";
    auto sent = messages_->Send(crm_, r);
    EXPECT_EQ(sent.status(), v1::QUEUED);
    auto claimed = outbox_->Claim("w1", 10, std::chrono::seconds(60));
    EXPECT_EQ(claimed.size(), 1u);
    outbox_->Complete({{sent.message_id(),
                        1,
                        claimed.empty() ? "relay" : claimed[0].provider,
                        clock_.Now(),
                        clock_.Now(),
                        {outcome, outcome == dispatch::DeliveryOutcome::kSent ? 250 : 550, "", "",
                         detail, "pm-1", std::nullopt, false},
                        channel == v1::SMS ? "GSM-7" : "",
                        channel == v1::SMS ? 1 : 0,
                        ::herald::testing::LeaseToken(*db_, sent.message_id()),
                        {}}});
    return sent.message_id();
  }

  void Grant(const std::string& subject_id, v1::ConsentKind kind, v1::Channel channel,
             const std::string& ip, const std::string& user_agent) {
    v1::RecordConsentRequest r;
    r.set_subject_id(subject_id);
    r.set_kind(kind);
    r.set_channel(channel);
    r.set_granted(true);
    r.mutable_proof()->set_source(v1::WEB_FORM);
    r.mutable_proof()->set_form_id("signup");
    r.mutable_proof()->set_document_version("policy-2025-09");
    r.mutable_proof()->set_ip(ip);
    r.mutable_proof()->set_user_agent(user_agent);
    registry_->RecordConsent(crm_, r);
  }

  int64_t Int(const std::string& sql) { return std::stoll(db_->Scalar(sql)); }

  ErasureSettings settings_;
  std::unique_ptr<dispatch::MessageService> messages_;
  std::unique_ptr<dispatch::Outbox> outbox_;
  std::unique_ptr<SubjectErasure> erasure_;
  std::unique_ptr<SubjectExport> export_;
  std::unique_ptr<DestructionRecords> records_;
};

}  // namespace herald::privacy
