// The erasure half of PrivacyService (issue 5, part 2): destruction, depersonalization,
// export, destruction records and acts. Each function below is filled in by that work;
// until then each answers UNIMPLEMENTED after the usual authentication and scope check.
#include "services/privacy/grpc_service.h"

namespace herald::privacy {
namespace {

grpc::Status NotYet(RpcRunner& runner, grpc::ServerContext* ctx, const char* method) {
  grpc::Status status = runner.Run(ctx, method, {Scope::kPrivacy}, [](const Caller&) {});
  if (!status.ok()) return status;
  return grpc::Status(grpc::UNIMPLEMENTED, std::string(method) + " is not implemented yet");
}

}  // namespace

// ERASURE: DestroySubject
grpc::Status PrivacyGrpcService::DestroySubject(grpc::ServerContext* ctx,
                                                const v1::DestroySubjectRequest*,
                                                v1::DestroySubjectResponse*) {
  return NotYet(runner_, ctx, "DestroySubject");
}

// ERASURE: DepersonalizeSubject
grpc::Status PrivacyGrpcService::DepersonalizeSubject(grpc::ServerContext* ctx,
                                                      const v1::DepersonalizeSubjectRequest*,
                                                      v1::DepersonalizeSubjectResponse*) {
  return NotYet(runner_, ctx, "DepersonalizeSubject");
}

// ERASURE: ExportSubjectData
grpc::Status PrivacyGrpcService::ExportSubjectData(grpc::ServerContext* ctx,
                                                   const v1::ExportSubjectDataRequest*,
                                                   v1::ExportSubjectDataResponse*) {
  return NotYet(runner_, ctx, "ExportSubjectData");
}

// ERASURE: ListDestructionRecords
grpc::Status PrivacyGrpcService::ListDestructionRecords(grpc::ServerContext* ctx,
                                                        const v1::ListDestructionRecordsRequest*,
                                                        v1::ListDestructionRecordsResponse*) {
  return NotYet(runner_, ctx, "ListDestructionRecords");
}

// ERASURE: GetDestructionAct
grpc::Status PrivacyGrpcService::GetDestructionAct(grpc::ServerContext* ctx,
                                                   const v1::GetDestructionActRequest*,
                                                   v1::GetDestructionActResponse*) {
  return NotYet(runner_, ctx, "GetDestructionAct");
}

}  // namespace herald::privacy
