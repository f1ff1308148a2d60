#include "tests/support/crm_fixture.h"

#include <cstdio>

#include "tests/support/consented_subject.h"

namespace herald::testing {

std::string CreatioGuid(int prefix, int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08d-0000-4000-8000-%012d", prefix, n);
  return buf;
}

void CrmConnectorTest::SetUp() {
  db_ = TestDatabase::Create();
  HERALD_REQUIRE_DB(db_);
}

std::string CrmConnectorTest::CrmSection(int backoff_initial_ms, int backoff_max_ms) const {
  return "crm:\n  enabled: true\n  base_url: " + creatio_.base_url() +
         "\n  user_name: Supervisor\n  backoff_initial_ms: " + std::to_string(backoff_initial_ms) +
         "\n  backoff_max_ms: " + std::to_string(backoff_max_ms) + "\n  timeout_ms: 2000\n";
}

void CrmConnectorTest::StartHeraldd(const std::string& yaml, const std::vector<std::string>& env) {
  server_ = std::make_unique<HeralddProcess>(db_->dsn(), yaml);
  server_->AddEnv("HERALD_CRM_PASSWORD=Supervisor!1");
  for (const auto& e : env) server_->AddEnv(e);
  server_->Start();
  subs_ = v1::SubscriptionService::NewStub(server_->Channel());
  crm_ = v1::CrmService::NewStub(server_->Channel());
}

std::string CrmConnectorTest::LinkedSubject(const std::string& contact_id, const std::string& email,
                                            const std::string& phone) {
  creatio_.PutContact(CreatioContact{contact_id, "Test Person", email, phone});
  v1::UpsertSubjectRequest req = SubjectWith("Test", {email});
  req.set_external_id(contact_id);
  if (!phone.empty()) req.add_phones(phone);
  return ConsentedSubject(*subs_, req, {v1::EMAIL, v1::SMS});
}

v1::OptOutResponse CrmConnectorTest::OptOutChannel(const std::string& subject_id,
                                                   v1::Channel channel) {
  v1::OptOutRequest req;
  req.set_subject_id(subject_id);
  req.set_scope(v1::CHANNEL);
  req.set_channel(channel);
  req.mutable_proof()->set_source(v1::CRM);
  return CallAs(*subs_, &v1::SubscriptionService::Stub::OptOut, HeralddProcess::kCrmKey, req);
}

v1::WriteBackStatus CrmConnectorTest::Status() {
  return CallAs(*crm_, &v1::CrmService::Stub::GetWriteBackStatus, HeralddProcess::kAdminKey,
                v1::GetWriteBackStatusRequest());
}

bool CrmConnectorTest::QueueEmpty() {
  auto s = Status();
  return s.pending() == 0 && s.parked() == 0 && s.parked_auth() == 0 && s.dead() == 0;
}

std::vector<nlohmann::json> CrmConnectorTest::ContactWrites(const std::string& contact_id) {
  std::vector<nlohmann::json> out;
  for (const auto& w : creatio_.writes_for(contact_id)) {
    if (w.entity == "Contact") out.push_back(nlohmann::json::parse(w.body));
  }
  return out;
}

}  // namespace herald::testing
