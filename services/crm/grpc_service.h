#pragma once

#include "common/grpc/rpc_runner.h"
#include "herald/v1/crm.grpc.pb.h"
#include "services/crm/crm_connector.h"

namespace herald::crm {

class ContactImport;

// gRPC transport of CrmService: authenticate, authorise by scope, delegate.
class CrmGrpcService final : public v1::CrmService::Service {
 public:
  CrmGrpcService(CrmConnector& connector, ContactImport* import, RpcRunner& runner)
      : connector_(connector), import_(import), runner_(runner) {}

  grpc::Status ReportContactChange(grpc::ServerContext* ctx,
                                   const v1::ReportContactChangeRequest* req,
                                   v1::ReportContactChangeResponse* resp) override;
  grpc::Status GetWriteBackStatus(grpc::ServerContext* ctx,
                                  const v1::GetWriteBackStatusRequest* req,
                                  v1::WriteBackStatus* resp) override;
  grpc::Status RetryWriteBacks(grpc::ServerContext* ctx, const v1::RetryWriteBacksRequest* req,
                               v1::RetryWriteBacksResponse* resp) override;
  grpc::Status ResyncContacts(grpc::ServerContext* ctx, const v1::ResyncContactsRequest* req,
                              v1::ResyncContactsResponse* resp) override;
  grpc::Status CheckCrm(grpc::ServerContext* ctx, const v1::CheckCrmRequest* req,
                        v1::CheckCrmResponse* resp) override;
  grpc::Status StartImport(grpc::ServerContext* ctx, const v1::StartImportRequest* req,
                           v1::CrmImport* resp) override;
  grpc::Status GetImport(grpc::ServerContext* ctx, const v1::GetImportRequest* req,
                         v1::CrmImport* resp) override;
  grpc::Status CancelImport(grpc::ServerContext* ctx, const v1::CancelImportRequest* req,
                            v1::CrmImport* resp) override;

 private:
  CrmConnector& connector_;
  ContactImport* import_;  // null when crm.enabled is off
  RpcRunner& runner_;
};

}  // namespace herald::crm
