#include "services/subscriptions/grpc_service.h"

namespace herald::subscriptions {

// Who may call what, and what each caller may see, is the access table's
// (common/grpc/rpc_access.cc), applied by the runner.
#define HERALD_DELEGATE(Method)                                                                \
  grpc::Status SubscriptionGrpcService::Method(                                                \
      grpc::ServerContext* ctx, const v1::Method##Request* req, v1::Method##Response* resp) {  \
    return runner_.Run(ctx, #Method, req, resp,                                                \
                       [&](const Caller& caller) { *resp = registry_.Method(caller, *req); }); \
  }

HERALD_DELEGATE(UpsertSubject)
HERALD_DELEGATE(GetSubject)
HERALD_DELEGATE(FindSubjects)
HERALD_DELEGATE(RecordConsent)
HERALD_DELEGATE(SetPreferences)
HERALD_DELEGATE(GetPreferences)
HERALD_DELEGATE(OptOut)
HERALD_DELEGATE(CheckEligibilityBatch)
HERALD_DELEGATE(ListSubjectEvents)
HERALD_DELEGATE(ListTopics)
HERALD_DELEGATE(MergeSubjects)
HERALD_DELEGATE(RecordCallOutcome)

#undef HERALD_DELEGATE

grpc::Status SubscriptionGrpcService::RehashSuppressions(grpc::ServerContext* ctx,
                                                         const v1::RehashSuppressionsRequest* req,
                                                         v1::RehashSuppressionsResponse* resp) {
  return runner_.Run(ctx, "RehashSuppressions", req, resp, [&](const Caller&) {
    *resp = subscriptions::RehashSuppressions(pool_, hasher_, *req);
  });
}

grpc::ServerUnaryReactor* SubscriptionGrpcService::CheckEligibility(
    grpc::CallbackServerContext* ctx, const v1::CheckEligibilityRequest* req,
    v1::CheckEligibilityResponse* resp) {
  return runner_.RunAsync(ctx, "CheckEligibility", req, resp,
                          [&](const Caller& caller, std::function<void(std::exception_ptr)> done) {
                            registry_.CheckEligibilityAsync(caller, *req, resp, std::move(done));
                          });
}

}  // namespace herald::subscriptions
