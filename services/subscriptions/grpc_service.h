#pragma once

#include "common/grpc/rpc_runner.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/suppressions.h"

namespace herald::subscriptions {

// gRPC transport of SubscriptionService: authenticate, authorise by scope, delegate. Most
// handlers block on PostgreSQL, and gRPC's sync server runs them on its own thread pool,
// bounded by the database pool behind it. CheckEligibility, the call every dispatch of a
// CRM asks first, is served on the callback API: it waits for a gate run on the registry's
// CheckCoalescer without holding a thread, so its database work is bounded by the
// coalescer's few threads however many calls are in flight.
class SubscriptionGrpcService final
    : public v1::SubscriptionService::WithCallbackMethod_CheckEligibility<
          v1::SubscriptionService::Service> {
 public:
  // `pool` and `hasher` serve RehashSuppressions (suppressions.h).
  SubscriptionGrpcService(SubscriptionRegistry& registry, RpcRunner& runner, db::Pool& pool,
                          const crypto::SuppressionHasher& hasher)
      : registry_(registry), runner_(runner), pool_(pool), hasher_(hasher) {}

  grpc::Status UpsertSubject(grpc::ServerContext* ctx, const v1::UpsertSubjectRequest* req,
                             v1::UpsertSubjectResponse* resp) override;
  grpc::Status GetSubject(grpc::ServerContext* ctx, const v1::GetSubjectRequest* req,
                          v1::GetSubjectResponse* resp) override;
  grpc::Status FindSubjects(grpc::ServerContext* ctx, const v1::FindSubjectsRequest* req,
                            v1::FindSubjectsResponse* resp) override;
  grpc::Status RecordConsent(grpc::ServerContext* ctx, const v1::RecordConsentRequest* req,
                             v1::RecordConsentResponse* resp) override;
  grpc::Status SetPreferences(grpc::ServerContext* ctx, const v1::SetPreferencesRequest* req,
                              v1::SetPreferencesResponse* resp) override;
  grpc::Status GetPreferences(grpc::ServerContext* ctx, const v1::GetPreferencesRequest* req,
                              v1::GetPreferencesResponse* resp) override;
  grpc::Status OptOut(grpc::ServerContext* ctx, const v1::OptOutRequest* req,
                      v1::OptOutResponse* resp) override;
  grpc::ServerUnaryReactor* CheckEligibility(grpc::CallbackServerContext* ctx,
                                             const v1::CheckEligibilityRequest* req,
                                             v1::CheckEligibilityResponse* resp) override;
  grpc::Status CheckEligibilityBatch(grpc::ServerContext* ctx,
                                     const v1::CheckEligibilityBatchRequest* req,
                                     v1::CheckEligibilityBatchResponse* resp) override;
  grpc::Status ListSubjectEvents(grpc::ServerContext* ctx, const v1::ListSubjectEventsRequest* req,
                                 v1::ListSubjectEventsResponse* resp) override;
  grpc::Status ListTopics(grpc::ServerContext* ctx, const v1::ListTopicsRequest* req,
                          v1::ListTopicsResponse* resp) override;
  grpc::Status MergeSubjects(grpc::ServerContext* ctx, const v1::MergeSubjectsRequest* req,
                             v1::MergeSubjectsResponse* resp) override;
  grpc::Status RecordCallOutcome(grpc::ServerContext* ctx, const v1::RecordCallOutcomeRequest* req,
                                 v1::RecordCallOutcomeResponse* resp) override;
  grpc::Status RehashSuppressions(grpc::ServerContext* ctx,
                                  const v1::RehashSuppressionsRequest* req,
                                  v1::RehashSuppressionsResponse* resp) override;

 private:
  SubscriptionRegistry& registry_;
  RpcRunner& runner_;
  db::Pool& pool_;
  const crypto::SuppressionHasher& hasher_;
};

}  // namespace herald::subscriptions
