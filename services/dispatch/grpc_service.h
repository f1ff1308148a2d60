#pragma once

#include "common/grpc/rpc_runner.h"
#include "herald/v1/dispatch.grpc.pb.h"
#include "services/dispatch/message_service.h"

namespace herald::dispatch {

// gRPC transport of DispatchService. Campaign RPCs are not served yet and answer
// UNIMPLEMENTED (the generated default).
class DispatchGrpcService final : public v1::DispatchService::Service {
 public:
  DispatchGrpcService(MessageService& messages, RpcRunner& runner)
      : messages_(messages), runner_(runner) {}

  grpc::Status Send(grpc::ServerContext* ctx, const v1::SendRequest* req,
                    v1::SendResponse* resp) override;
  grpc::Status PreviewMessage(grpc::ServerContext* ctx, const v1::PreviewMessageRequest* req,
                              v1::PreviewMessageResponse* resp) override;
  grpc::Status GetMessage(grpc::ServerContext* ctx, const v1::GetMessageRequest* req,
                          v1::Message* resp) override;
  grpc::Status ListMessages(grpc::ServerContext* ctx, const v1::ListMessagesRequest* req,
                            v1::ListMessagesResponse* resp) override;

 private:
  MessageService& messages_;
  RpcRunner& runner_;
};

}  // namespace herald::dispatch
