#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "common/grpc/caller.h"
#include "herald/v1/dispatch.pb.h"
#include "services/dispatch/content/message_template.h"
#include "services/subscriptions/gate/eligibility_gate.h"

namespace herald::dispatch {

// Campaigns: one content to many recipients on one topic and channel. Recipients are
// bulk-loaded with COPY into an upload, one short transaction per batch while the client
// streams; the end of the stream answers with what was received, and a resolver (any
// heraldd process, UploadResolver) then resolves, de-duplicates and queues the upload
// set-based in one transaction. The outbox claims a campaign's messages only while it runs,
// through the same gate as every other message.
// A complaint report about one of the campaign's messages (counted once per message by the
// caller): the campaign's complaint count feeds its complaint-rate stop.
void CountCampaignComplaint(db::Connection& conn, pqxx::transaction_base& txn,
                            const std::string& campaign_id);

class CampaignService {
 public:
  CampaignService(db::Pool& pool, const Clock& clock, const TopicCatalog& topics,
                  const subscriptions::EligibilityGate& gate);

  v1::CreateCampaignResponse CreateCampaign(const Caller& caller,
                                            const v1::CreateCampaignRequest& r);
  // `next` fills the next stream message and returns false at the end of the stream;
  // `cancelled` tells whether the stream was broken (then nothing is kept). Answers once the
  // rows are stored; they are resolved later (ResolveNextUpload).
  v1::AddRecipientsResponse AddRecipients(
      const Caller& caller, const std::function<bool(v1::AddRecipientsRequest*)>& next,
      const std::function<bool()>& cancelled);
  // Resolves the oldest received upload no other process is resolving: its rows become the
  // campaign's messages, duplicates or skipped rows, and the upload keeps the report.
  // Returns false when there was none.
  bool ResolveNextUpload();
  // Called after each upload is received (the resolver's wake-up), from the stream's thread.
  void OnUploadReceived(std::function<void()> f) { on_received_ = std::move(f); }
  v1::RecipientUpload GetUpload(const Caller& caller, const v1::GetRecipientUploadRequest& r);
  v1::Campaign Start(const Caller& caller, const std::string& campaign_id);
  v1::Campaign Pause(const Caller& caller, const std::string& campaign_id);
  v1::Campaign Resume(const Caller& caller, const std::string& campaign_id);
  v1::Campaign Cancel(const Caller& caller, const std::string& campaign_id);
  v1::Campaign Get(const Caller& caller, const std::string& campaign_id);
  v1::ListCampaignsResponse List(const Caller& caller, const v1::ListCampaignsRequest& r);

  // The campaign's content compiled for sending, with its declared variables and the
  // built-in ones (what CreateCampaign checked it against; every recipient carries every
  // declared variable). A campaign's content never changes once created, so the workers keep
  // this per campaign id (TemplateCache). Throws NOT_FOUND for an unknown campaign.
  MessageTemplate CompiledContent(const std::string& campaign_id);

  // Housekeeping run by the workers: scheduled campaigns whose time came start, running ones
  // with nothing left to do finish.
  void AdvanceCampaigns();

  static constexpr int kMaxReportedErrors = 1000;

  // Sets estimated_finish_time of a scheduled, running or paused campaign with messages left.
  void EstimateFinish(db::Connection& conn, pqxx::transaction_base& txn, v1::Campaign& c) const;

 private:
  // What a stream's rows left behind once checked and staged: the count, and the rows
  // skipped by reason (the first kMaxReportedErrors with their row numbers).
  struct StagedUpload {
    int64_t received = 0;
    std::map<std::string, int64_t> skipped;
    std::vector<std::pair<int64_t, std::string>> errors;
  };
  StagedUpload StageUpload(const std::string& upload_id, Channel channel,
                           const std::vector<std::string>& declared, v1::AddRecipientsRequest& msg,
                           const std::function<bool(v1::AddRecipientsRequest*)>& next,
                           const std::string& campaign_id);
  v1::AddRecipientsResponse ReceiveUpload(const std::string& campaign_id,
                                          const std::string& upload_id, const StagedUpload& up,
                                          const std::function<bool()>& cancelled);
  v1::Campaign Load(db::Connection& conn, pqxx::transaction_base& txn, const std::string& id);
  v1::Campaign Transition(const std::string& campaign_id, const char* verb,
                          const std::function<std::string(const std::string& status,
                                                          bool start_in_future)>& next_status);

  db::Pool& pool_;
  const Clock& clock_;
  const TopicCatalog& topics_;
  const subscriptions::EligibilityGate& gate_;
  std::function<void()> on_received_;
};

}  // namespace herald::dispatch
