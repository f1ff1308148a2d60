#pragma once

#include "common/grpc/rpc_runner.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "services/dispatch/campaign_service.h"
#include "services/dispatch/message_service.h"

namespace herald::dispatch {

// gRPC transport of DispatchService: authenticate, authorise by scope, delegate.
class DispatchGrpcService final : public v1::DispatchService::Service {
 public:
  DispatchGrpcService(MessageService& messages, CampaignService& campaigns, RpcRunner& runner)
      : messages_(messages), campaigns_(campaigns), runner_(runner) {}

  grpc::Status Send(grpc::ServerContext* ctx, const v1::SendRequest* req,
                    v1::SendResponse* resp) override;
  grpc::Status PreviewMessage(grpc::ServerContext* ctx, const v1::PreviewMessageRequest* req,
                              v1::PreviewMessageResponse* resp) override;
  grpc::Status GetMessage(grpc::ServerContext* ctx, const v1::GetMessageRequest* req,
                          v1::Message* resp) override;
  grpc::Status ListMessages(grpc::ServerContext* ctx, const v1::ListMessagesRequest* req,
                            v1::ListMessagesResponse* resp) override;
  grpc::Status CreateCampaign(grpc::ServerContext* ctx, const v1::CreateCampaignRequest* req,
                              v1::CreateCampaignResponse* resp) override;
  grpc::Status AddRecipients(grpc::ServerContext* ctx,
                             grpc::ServerReader<v1::AddRecipientsRequest>* reader,
                             v1::AddRecipientsResponse* resp) override;
  grpc::Status StartCampaign(grpc::ServerContext* ctx, const v1::StartCampaignRequest* req,
                             v1::Campaign* resp) override;
  grpc::Status PauseCampaign(grpc::ServerContext* ctx, const v1::PauseCampaignRequest* req,
                             v1::Campaign* resp) override;
  grpc::Status ResumeCampaign(grpc::ServerContext* ctx, const v1::ResumeCampaignRequest* req,
                              v1::Campaign* resp) override;
  grpc::Status CancelCampaign(grpc::ServerContext* ctx, const v1::CancelCampaignRequest* req,
                              v1::Campaign* resp) override;
  grpc::Status GetRecipientUpload(grpc::ServerContext* ctx,
                                  const v1::GetRecipientUploadRequest* req,
                                  v1::RecipientUpload* resp) override;
  grpc::Status GetCampaign(grpc::ServerContext* ctx, const v1::GetCampaignRequest* req,
                           v1::Campaign* resp) override;
  grpc::Status ListCampaigns(grpc::ServerContext* ctx, const v1::ListCampaignsRequest* req,
                             v1::ListCampaignsResponse* resp) override;

 private:
  MessageService& messages_;
  CampaignService& campaigns_;
  RpcRunner& runner_;
};

}  // namespace herald::dispatch
