#include "services/dispatch/grpc_service.h"

namespace herald::dispatch {

grpc::Status DispatchGrpcService::Send(grpc::ServerContext* ctx, const v1::SendRequest* req,
                                       v1::SendResponse* resp) {
  return runner_.Run(ctx, "Send", req, resp,
                     [&](const Caller& c) { *resp = messages_.Send(c, *req); });
}

grpc::Status DispatchGrpcService::PreviewMessage(grpc::ServerContext* ctx,
                                                 const v1::PreviewMessageRequest* req,
                                                 v1::PreviewMessageResponse* resp) {
  return runner_.Run(ctx, "PreviewMessage", req, resp,
                     [&](const Caller& c) { *resp = messages_.PreviewMessage(c, *req); });
}

grpc::Status DispatchGrpcService::GetMessage(grpc::ServerContext* ctx,
                                             const v1::GetMessageRequest* req, v1::Message* resp) {
  return runner_.Run(ctx, "GetMessage", req, resp,
                     [&](const Caller& c) { *resp = messages_.GetMessage(c, *req); });
}

grpc::Status DispatchGrpcService::ListMessages(grpc::ServerContext* ctx,
                                               const v1::ListMessagesRequest* req,
                                               v1::ListMessagesResponse* resp) {
  return runner_.Run(ctx, "ListMessages", req, resp,
                     [&](const Caller& c) { *resp = messages_.ListMessages(c, *req); });
}

grpc::Status DispatchGrpcService::CreateCampaign(grpc::ServerContext* ctx,
                                                 const v1::CreateCampaignRequest* req,
                                                 v1::CreateCampaignResponse* resp) {
  return runner_.Run(ctx, "CreateCampaign", req, resp,
                     [&](const Caller& c) { *resp = campaigns_.CreateCampaign(c, *req); });
}

grpc::Status DispatchGrpcService::AddRecipients(
    grpc::ServerContext* ctx, grpc::ServerReader<v1::AddRecipientsRequest>* reader,
    v1::AddRecipientsResponse* resp) {
  // A stream: each message is range-checked as it is read.
  return runner_.Run(ctx, "AddRecipients", nullptr, resp, [&](const Caller& c) {
    *resp = campaigns_.AddRecipients(
        c,
        [reader](v1::AddRecipientsRequest* m) {
          if (!reader->Read(m)) return false;
          CheckRequestFields(*m);
          return true;
        },
        [ctx] { return ctx->IsCancelled(); });
  });
}

grpc::Status DispatchGrpcService::GetRecipientUpload(grpc::ServerContext* ctx,
                                                     const v1::GetRecipientUploadRequest* req,
                                                     v1::RecipientUpload* resp) {
  return runner_.Run(ctx, "GetRecipientUpload", req, resp,
                     [&](const Caller& c) { *resp = campaigns_.GetUpload(c, *req); });
}

#define HERALD_CAMPAIGN_RPC(Rpc, Method)                                                       \
  grpc::Status DispatchGrpcService::Rpc(grpc::ServerContext* ctx, const v1::Rpc##Request* req, \
                                        v1::Campaign* resp) {                                  \
    return runner_.Run(ctx, #Rpc, req, resp, [&](const Caller& c) {                            \
      *resp = campaigns_.Method(c, req->campaign_id());                                        \
    });                                                                                        \
  }

HERALD_CAMPAIGN_RPC(StartCampaign, Start)
HERALD_CAMPAIGN_RPC(PauseCampaign, Pause)
HERALD_CAMPAIGN_RPC(ResumeCampaign, Resume)
HERALD_CAMPAIGN_RPC(CancelCampaign, Cancel)
HERALD_CAMPAIGN_RPC(GetCampaign, Get)

#undef HERALD_CAMPAIGN_RPC

grpc::Status DispatchGrpcService::ListCampaigns(grpc::ServerContext* ctx,
                                                const v1::ListCampaignsRequest* req,
                                                v1::ListCampaignsResponse* resp) {
  return runner_.Run(ctx, "ListCampaigns", req, resp,
                     [&](const Caller& c) { *resp = campaigns_.List(c, *req); });
}

}  // namespace herald::dispatch
