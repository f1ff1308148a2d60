#include "services/subscriptions/grpc_service.h"

namespace herald::subscriptions {
namespace {

// Who may call what. The admin scope may call everything (ApiKeyAuthenticator::Allows).
constexpr auto kCrm = Scope::kCrm;
constexpr auto kScheduler = Scope::kScheduler;
constexpr auto kPrivacy = Scope::kPrivacy;

}  // namespace

#define HERALD_DELEGATE(Method, ...)                                                     \
  grpc::Status SubscriptionGrpcService::Method(grpc::ServerContext* ctx,                 \
                                               const v1::Method##Request* req,           \
                                               v1::Method##Response* resp) {             \
    return runner_.Run(ctx, #Method, {__VA_ARGS__},                                      \
                       [&](const Caller& caller) { *resp = registry_.Method(caller, *req); }); \
  }

HERALD_DELEGATE(UpsertSubject, kCrm)
HERALD_DELEGATE(GetSubject, kCrm, kPrivacy)
HERALD_DELEGATE(FindSubjects, kCrm, kPrivacy)
HERALD_DELEGATE(RecordConsent, kCrm)
HERALD_DELEGATE(SetPreferences, kCrm)
HERALD_DELEGATE(GetPreferences, kCrm, kScheduler)
HERALD_DELEGATE(OptOut, kCrm, kScheduler)
HERALD_DELEGATE(CheckEligibility, kCrm, kScheduler)
HERALD_DELEGATE(CheckEligibilityBatch, kCrm, kScheduler)
HERALD_DELEGATE(ListSubjectEvents, kCrm, kPrivacy)
HERALD_DELEGATE(ListTopics, kCrm, kScheduler, kPrivacy)

#undef HERALD_DELEGATE

}  // namespace herald::subscriptions
