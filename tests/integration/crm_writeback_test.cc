// The Creatio write-back end to end (docs/creatio.md; C1-C9 in docs/requirements.md): a real
// heraldd writes to the Creatio stand-in (tests/support/creatio_stand_in.h) over HTTP, and
// every check is made where Creatio's user would see it: on the stand-in's cards.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "herald/v1/crm.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/consented_subject.h"
#include "tests/support/creatio_stand_in.h"
#include "tests/support/eventually.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace herald {
namespace {

using testing::CreatioContact;
using testing::CreatioStandIn;
using testing::HeralddProcess;
using Json = nlohmann::json;

constexpr char kContact[] = "0f3c6a1e-5b7d-4c2a-9e8f-1a2b3c4d5e6f";

class CrmWriteBackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::TestDatabase::Create();
    HERALD_REQUIRE_DB(db_);
  }

  // heraldd with the connector on, pointed at the stand-in.
  void StartHeraldd(const std::string& extra = "", const std::string& roles = "") {
    std::string yaml = "crm:\n  enabled: true\n  base_url: " + creatio_.base_url() +
                       "\n  user_name: Supervisor\n  backoff_initial_ms: 100\n"
                       "  backoff_max_ms: 1000\n  timeout_ms: 2000\n" +
                       extra;
    server_ = std::make_unique<HeralddProcess>(db_->dsn(), yaml);
    server_->AddEnv("HERALD_CRM_PASSWORD=Supervisor!1");
    if (!roles.empty()) server_->AddEnv("HERALD_ROLES=" + roles);
    server_->Start();
    subs_ = v1::SubscriptionService::NewStub(server_->Channel());
    crm_ = v1::CrmService::NewStub(server_->Channel());
  }

  // A linked subject: external_id is the contact's id, with marketing consent on e-mail
  // and SMS; the stand-in holds the card with every flag false.
  std::string LinkedSubject(const std::string& contact_id, const std::string& email,
                            const std::string& phone = "") {
    creatio_.PutContact(CreatioContact{contact_id, "Test Person", email, phone});
    v1::UpsertSubjectRequest req = testing::SubjectWith("Test", {email});
    req.set_external_id(contact_id);
    if (!phone.empty()) req.add_phones(phone);
    return testing::ConsentedSubject(*subs_, req, {v1::EMAIL, v1::SMS});
  }

  v1::OptOutResponse OptOutChannel(const std::string& subject_id, v1::Channel channel) {
    v1::OptOutRequest req;
    req.set_subject_id(subject_id);
    req.set_scope(v1::CHANNEL);
    req.set_channel(channel);
    req.mutable_proof()->set_source(v1::CRM);
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kCrmKey);
    v1::OptOutResponse resp;
    grpc::Status s = subs_->OptOut(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  v1::WriteBackStatus Status() {
    grpc::ClientContext ctx;
    testing::Authorize(ctx, HeralddProcess::kAdminKey);
    v1::WriteBackStatus out;
    grpc::Status s = crm_->GetWriteBackStatus(&ctx, v1::GetWriteBackStatusRequest(), &out);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return out;
  }

  bool QueueEmpty() {
    auto s = Status();
    return s.pending() == 0 && s.parked() == 0 && s.parked_auth() == 0 && s.dead() == 0;
  }

  // The contact's PATCHes of the Contact entity, as applied.
  std::vector<Json> ContactWrites(const std::string& contact_id) {
    std::vector<Json> out;
    for (const auto& w : creatio_.writes_for(contact_id)) {
      if (w.entity == "Contact") out.push_back(Json::parse(w.body));
    }
    return out;
  }

  CreatioStandIn creatio_;
  std::unique_ptr<testing::TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::CrmService::Stub> crm_;
};

// C1: an opt-out made in Herald reaches the card: DoNotUseEmail true, the other flags as
// Herald decides them (SMS still allowed), in one $batch, after one login.
TEST_F(CrmWriteBackTest, AnOptOutInHeraldTicksTheCardsFlag) {
  StartHeraldd();
  std::string id = LinkedSubject(kContact, "card.owner@example.com", "+994500000001");
  ASSERT_FALSE(id.empty());
  // The consent itself is a change: the card gets Herald's state (nothing forbidden).
  ASSERT_EVENTUALLY(QueueEmpty(), std::chrono::seconds(15));
  creatio_.ClearRecord();
  OptOutChannel(id, v1::EMAIL);
  ASSERT_EVENTUALLY(creatio_.contact(kContact)->do_not_use_email, std::chrono::seconds(15));
  auto card = *creatio_.contact(kContact);
  EXPECT_FALSE(card.do_not_use_sms);
  EXPECT_TRUE(card.do_not_use_call);  // no consent to calls was ever given
  ASSERT_EVENTUALLY(QueueEmpty(), std::chrono::seconds(15));
  EXPECT_EQ(creatio_.single_writes(), 0);
  EXPECT_EQ(creatio_.logins(), 0);  // the session from the first write is still good
}

}  // namespace
}  // namespace herald
