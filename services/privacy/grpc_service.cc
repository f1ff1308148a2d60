#include "services/privacy/grpc_service.h"

namespace herald::privacy {

// Every PrivacyService RPC needs the privacy scope (the access table, rpc_access.cc).
#define HERALD_PRIVACY_DELEGATE(Method, Operation)                                            \
  grpc::Status PrivacyGrpcService::Method(                                                    \
      grpc::ServerContext* ctx, const v1::Method##Request* req, v1::Method##Response* resp) { \
    return runner_.Run(ctx, #Method, req, resp, [&](const Caller& caller) {                   \
      *resp = operations_.Operation(caller, *req);                                            \
    });                                                                                       \
  }

HERALD_PRIVACY_DELEGATE(RectifySubject, RectifySubject)
HERALD_PRIVACY_DELEGATE(BlockSubject, BlockSubject)
HERALD_PRIVACY_DELEGATE(UnblockSubject, UnblockSubject)
HERALD_PRIVACY_DELEGATE(RevokeConsent, RevokeConsent)
HERALD_PRIVACY_DELEGATE(OpenPrivacyRequest, OpenRequest)
HERALD_PRIVACY_DELEGATE(GetPrivacyRequest, GetRequest)
HERALD_PRIVACY_DELEGATE(ListPrivacyRequests, ListRequests)
HERALD_PRIVACY_DELEGATE(CompletePrivacyRequest, CompleteRequest)

#undef HERALD_PRIVACY_DELEGATE

}  // namespace herald::privacy
