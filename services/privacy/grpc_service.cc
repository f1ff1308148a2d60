#include "services/privacy/grpc_service.h"

namespace herald::privacy {

// Every PrivacyService RPC needs the privacy scope (the access table, rpc_access.cc).
#define HERALD_PRIVACY_DELEGATE(Method)                                                       \
  grpc::Status PrivacyGrpcService::Method(                                                    \
      grpc::ServerContext* ctx, const v1::Method##Request* req, v1::Method##Response* resp) { \
    return runner_.Run(ctx, #Method, req, resp,                                               \
                       [&](const Caller& caller) { *resp = privacy_.Method(caller, *req); }); \
  }

HERALD_PRIVACY_DELEGATE(RectifySubject)
HERALD_PRIVACY_DELEGATE(BlockSubject)
HERALD_PRIVACY_DELEGATE(UnblockSubject)
HERALD_PRIVACY_DELEGATE(RevokeConsent)
HERALD_PRIVACY_DELEGATE(OpenPrivacyRequest)
HERALD_PRIVACY_DELEGATE(GetPrivacyRequest)
HERALD_PRIVACY_DELEGATE(ListPrivacyRequests)
HERALD_PRIVACY_DELEGATE(CompletePrivacyRequest)
HERALD_PRIVACY_DELEGATE(DestroySubject)
HERALD_PRIVACY_DELEGATE(DepersonalizeSubject)
HERALD_PRIVACY_DELEGATE(ExportSubjectData)
HERALD_PRIVACY_DELEGATE(ListDestructionRecords)
HERALD_PRIVACY_DELEGATE(GetDestructionAct)

#undef HERALD_PRIVACY_DELEGATE

}  // namespace herald::privacy
