#pragma once

#include "common/grpc/rpc_runner.h"
#include "herald/v1/privacy.grpc.pb.h"
#include "services/privacy/privacy_service.h"

namespace herald::privacy {

// gRPC transport of PrivacyService: each RPC runs through RpcRunner (key, the privacy scope
// (admin holds every scope; crm and scheduler hold none of these), request checks, error
// mapping) and calls the method of the same name on the domain's PrivacyService. Synchronous
// API, as in SubscriptionGrpcService.
class PrivacyGrpcService final : public v1::PrivacyService::Service {
 public:
  PrivacyGrpcService(PrivacyService& privacy, RpcRunner& runner)
      : privacy_(privacy), runner_(runner) {}

  grpc::Status RectifySubject(grpc::ServerContext* ctx, const v1::RectifySubjectRequest* req,
                              v1::RectifySubjectResponse* resp) override;
  grpc::Status BlockSubject(grpc::ServerContext* ctx, const v1::BlockSubjectRequest* req,
                            v1::BlockSubjectResponse* resp) override;
  grpc::Status UnblockSubject(grpc::ServerContext* ctx, const v1::UnblockSubjectRequest* req,
                              v1::UnblockSubjectResponse* resp) override;
  grpc::Status RevokeConsent(grpc::ServerContext* ctx, const v1::RevokeConsentRequest* req,
                             v1::RevokeConsentResponse* resp) override;
  grpc::Status OpenPrivacyRequest(grpc::ServerContext* ctx,
                                  const v1::OpenPrivacyRequestRequest* req,
                                  v1::OpenPrivacyRequestResponse* resp) override;
  grpc::Status GetPrivacyRequest(grpc::ServerContext* ctx, const v1::GetPrivacyRequestRequest* req,
                                 v1::GetPrivacyRequestResponse* resp) override;
  grpc::Status ListPrivacyRequests(grpc::ServerContext* ctx,
                                   const v1::ListPrivacyRequestsRequest* req,
                                   v1::ListPrivacyRequestsResponse* resp) override;
  grpc::Status CompletePrivacyRequest(grpc::ServerContext* ctx,
                                      const v1::CompletePrivacyRequestRequest* req,
                                      v1::CompletePrivacyRequestResponse* resp) override;
  grpc::Status DestroySubject(grpc::ServerContext* ctx, const v1::DestroySubjectRequest* req,
                              v1::DestroySubjectResponse* resp) override;
  grpc::Status DepersonalizeSubject(grpc::ServerContext* ctx,
                                    const v1::DepersonalizeSubjectRequest* req,
                                    v1::DepersonalizeSubjectResponse* resp) override;
  grpc::Status ExportSubjectData(grpc::ServerContext* ctx, const v1::ExportSubjectDataRequest* req,
                                 v1::ExportSubjectDataResponse* resp) override;
  grpc::Status ListDestructionRecords(grpc::ServerContext* ctx,
                                      const v1::ListDestructionRecordsRequest* req,
                                      v1::ListDestructionRecordsResponse* resp) override;
  grpc::Status GetDestructionAct(grpc::ServerContext* ctx, const v1::GetDestructionActRequest* req,
                                 v1::GetDestructionActResponse* resp) override;

 private:
  PrivacyService& privacy_;
  RpcRunner& runner_;
};

}  // namespace herald::privacy
