#include "services/crm/grpc_service.h"

#include "common/error.h"
#include "services/crm/contact_import.h"

namespace herald::crm {
namespace {

ContactImport& Import(ContactImport* import) {
  if (import == nullptr) {
    throw Error(ErrorCode::kFailedPrecondition,
                "crm.enabled is off: there is no Creatio to import from");
  }
  return *import;
}

}  // namespace

#define HERALD_DELEGATE(Method, Request, Response)                                              \
  grpc::Status CrmGrpcService::Method(grpc::ServerContext* ctx, const v1::Request* req,         \
                                      v1::Response* resp) {                                     \
    return runner_.Run(ctx, #Method, req, resp,                                                 \
                       [&](const Caller& caller) { *resp = connector_.Method(caller, *req); }); \
  }

HERALD_DELEGATE(ReportContactChange, ReportContactChangeRequest, ReportContactChangeResponse)
HERALD_DELEGATE(GetWriteBackStatus, GetWriteBackStatusRequest, WriteBackStatus)
HERALD_DELEGATE(RetryWriteBacks, RetryWriteBacksRequest, RetryWriteBacksResponse)
HERALD_DELEGATE(ResyncContacts, ResyncContactsRequest, ResyncContactsResponse)
HERALD_DELEGATE(CheckCrm, CheckCrmRequest, CheckCrmResponse)

#undef HERALD_DELEGATE

grpc::Status CrmGrpcService::StartImport(grpc::ServerContext* ctx,
                                         const v1::StartImportRequest* req, v1::CrmImport* resp) {
  return runner_.Run(ctx, "StartImport", req, resp, [&](const Caller&) {
    *resp = Import(import_).Start(req->dry_run(), req->consent());
  });
}

grpc::Status CrmGrpcService::GetImport(grpc::ServerContext* ctx, const v1::GetImportRequest* req,
                                       v1::CrmImport* resp) {
  return runner_.Run(ctx, "GetImport", req, resp,
                     [&](const Caller&) { *resp = Import(import_).Get(req->id()); });
}

grpc::Status CrmGrpcService::CancelImport(grpc::ServerContext* ctx,
                                          const v1::CancelImportRequest* req, v1::CrmImport* resp) {
  return runner_.Run(ctx, "CancelImport", req, resp,
                     [&](const Caller&) { *resp = Import(import_).Cancel(req->id()); });
}

}  // namespace herald::crm
