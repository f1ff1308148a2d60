#include "tests/support/campaign_driver.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "herald/v1/dispatch.grpc.pb.h"
#include "tests/support/eventually.h"

namespace herald::testing {

std::vector<std::string> MakeSubjects(TestDatabase& db, int n, const std::string& prefix) {
  pqxx::connection conn(db.dsn());
  {
    pqxx::work w(conn);
    w.exec_params(
        "INSERT INTO subjects (id, surname, processing_consent, marketing_channels,"
        " created_at, updated_at) SELECT gen_random_uuid(), $1 || g, true, 2, now(), now()"
        " FROM generate_series(1, $2) g",
        prefix, n);
    w.exec_params(
        "INSERT INTO addresses (subject_id, kind, value, match_key, added_at)"
        " SELECT id, 1, surname || '@example.com', surname || '@example.com', now()"
        " FROM subjects WHERE surname LIKE $1 || '%'",
        prefix);
    w.commit();
  }
  pqxx::read_transaction txn(conn);
  std::vector<std::string> ids;
  for (const auto& r : txn.exec("SELECT id::text FROM subjects ORDER BY id")) {
    ids.push_back(r[0].as<std::string>());
  }
  return ids;
}

std::string StartCampaign(const HeralddProcess& server, const std::vector<std::string>& subjects,
                          const v1::Content& content, const std::string& key,
                          double rate_per_second, v1::Channel channel) {
  auto stub = v1::DispatchService::NewStub(server.Channel());
  v1::CreateCampaignResponse created;
  {
    grpc::ClientContext ctx;
    Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::CreateCampaignRequest r;
    r.set_idempotency_key(key);
    r.set_name("Campaign " + key);
    r.set_topic("special_offers");
    r.set_channel(channel);
    *r.mutable_content() = content;
    if (rate_per_second > 0) r.set_rate_per_second(rate_per_second);
    auto status = stub->CreateCampaign(&ctx, r, &created);
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  {
    grpc::ClientContext ctx;
    Authorize(ctx, HeralddProcess::kSchedulerKey);
    v1::AddRecipientsResponse added;
    auto writer = stub->AddRecipients(&ctx, &added);
    for (size_t i = 0; i < subjects.size(); i += 1000) {
      v1::AddRecipientsRequest m;
      if (i == 0) m.set_campaign_id(created.campaign().id());
      for (size_t k = i; k < std::min(subjects.size(), i + 1000); ++k) {
        m.add_rows()->set_subject_id(subjects[k]);
      }
      writer->Write(m);
    }
    writer->WritesDone();
    auto status = writer->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(added.received(), static_cast<int64_t>(subjects.size()));
    EXPECT_EQ(AwaitUpload(server, created.campaign().id(), added.upload_id()).added(),
              static_cast<int64_t>(subjects.size()));
  }
  grpc::ClientContext ctx;
  Authorize(ctx, HeralddProcess::kSchedulerKey);
  v1::StartCampaignRequest s;
  s.set_campaign_id(created.campaign().id());
  v1::Campaign started;
  auto status = stub->StartCampaign(&ctx, s, &started);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return created.campaign().id();
}

v1::RecipientUpload AwaitUpload(const HeralddProcess& server, const std::string& campaign_id,
                                const std::string& upload_id) {
  auto stub = v1::DispatchService::NewStub(server.Channel());
  v1::RecipientUpload upload;
  EXPECT_TRUE(Eventually(
      [&] {
        grpc::ClientContext ctx;
        Authorize(ctx, HeralddProcess::kSchedulerKey);
        v1::GetRecipientUploadRequest r;
        r.set_campaign_id(campaign_id);
        r.set_upload_id(upload_id);
        auto status = stub->GetRecipientUpload(&ctx, r, &upload);
        return status.ok() && upload.state() == v1::UPLOAD_RESOLVED;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(50)))
      << "the upload was not resolved in 60 s";
  return upload;
}

std::map<std::string, int> CapturedMessageIds(const SmtpCapture& sink) {
  std::map<std::string, int> ids;
  std::ifstream in(sink.dir() + "/index.jsonl");
  std::string line;
  // Read while the sink appends: a last line without its newline is still being written.
  while (std::getline(in, line) && !in.eof()) {
    auto rec = nlohmann::json::parse(line);
    ++ids[rec["parsed"]["headers"]["X-Herald-Message-Id"].get<std::string>()];
  }
  return ids;
}

int64_t Number(TestDatabase& db, const std::string& sql) { return std::stoll(db.Scalar(sql)); }

}  // namespace herald::testing
