#include "services/dispatch/grpc_service.h"

namespace herald::dispatch {

grpc::Status DispatchGrpcService::Send(grpc::ServerContext* ctx, const v1::SendRequest* req,
                                       v1::SendResponse* resp) {
  return runner_.Run(ctx, "Send", {Scope::kCrm, Scope::kScheduler},
                     [&](const Caller& c) { *resp = messages_.Send(c, *req); });
}

grpc::Status DispatchGrpcService::PreviewMessage(grpc::ServerContext* ctx,
                                                 const v1::PreviewMessageRequest* req,
                                                 v1::PreviewMessageResponse* resp) {
  return runner_.Run(ctx, "PreviewMessage", {Scope::kCrm, Scope::kScheduler},
                     [&](const Caller& c) { *resp = messages_.PreviewMessage(c, *req); });
}

grpc::Status DispatchGrpcService::GetMessage(grpc::ServerContext* ctx,
                                             const v1::GetMessageRequest* req,
                                             v1::Message* resp) {
  return runner_.Run(ctx, "GetMessage", {Scope::kCrm, Scope::kScheduler},
                     [&](const Caller& c) { *resp = messages_.GetMessage(c, *req); });
}

grpc::Status DispatchGrpcService::ListMessages(grpc::ServerContext* ctx,
                                               const v1::ListMessagesRequest* req,
                                               v1::ListMessagesResponse* resp) {
  return runner_.Run(ctx, "ListMessages", {Scope::kCrm, Scope::kScheduler},
                     [&](const Caller& c) { *resp = messages_.ListMessages(c, *req); });
}

}  // namespace herald::dispatch
