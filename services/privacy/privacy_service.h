#pragma once

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/pool.h"
#include "common/grpc/caller.h"
#include "herald/v1/privacy.pb.h"
#include "services/privacy/deadlines.h"
#include "services/privacy/destruction_records.h"
#include "services/privacy/erasure_settings.h"
#include "services/privacy/privacy_operations.h"
#include "services/privacy/subject_destroyer.h"
#include "services/privacy/subject_erasure.h"
#include "services/privacy/subject_export.h"

namespace herald::privacy {

// PrivacyService as the domain answers it: the one object its transport talks to. Tracked
// requests, block, unblock, rectification and revocation (PrivacyOperations), and erasure:
// destruction, depersonalization, export, destruction records and acts. Every method takes
// the RPC's request and returns its response; input checks and business rules live here and
// in the classes below, refusals are herald::Error, and no gRPC type appears. The privacy
// scope is the transport's check.
class PrivacyService {
 public:
  PrivacyService(db::Pool& pool, const Clock& clock, const crypto::SuppressionHasher& hasher,
                 const DeadlinePolicy& deadlines, const ErasureSettings& settings);

  v1::OpenPrivacyRequestResponse OpenPrivacyRequest(const Caller& caller,
                                                    const v1::OpenPrivacyRequestRequest& r);
  v1::GetPrivacyRequestResponse GetPrivacyRequest(const Caller& caller,
                                                  const v1::GetPrivacyRequestRequest& r);
  v1::ListPrivacyRequestsResponse ListPrivacyRequests(const Caller& caller,
                                                      const v1::ListPrivacyRequestsRequest& r);
  v1::CompletePrivacyRequestResponse CompletePrivacyRequest(
      const Caller& caller, const v1::CompletePrivacyRequestRequest& r);
  v1::BlockSubjectResponse BlockSubject(const Caller& caller, const v1::BlockSubjectRequest& r);
  v1::UnblockSubjectResponse UnblockSubject(const Caller& caller,
                                            const v1::UnblockSubjectRequest& r);
  v1::RectifySubjectResponse RectifySubject(const Caller& caller,
                                            const v1::RectifySubjectRequest& r);
  v1::RevokeConsentResponse RevokeConsent(const Caller& caller, const v1::RevokeConsentRequest& r);

  // A request_id names the tracked request the erasure answers: checked and closed in the
  // erasure's transaction (SubjectErasure).
  v1::DestroySubjectResponse DestroySubject(const Caller& caller,
                                            const v1::DestroySubjectRequest& r);
  v1::DepersonalizeSubjectResponse DepersonalizeSubject(const Caller& caller,
                                                        const v1::DepersonalizeSubjectRequest& r);
  v1::ExportSubjectDataResponse ExportSubjectData(const Caller& caller,
                                                  const v1::ExportSubjectDataRequest& r);
  v1::ListDestructionRecordsResponse ListDestructionRecords(
      const Caller& caller, const v1::ListDestructionRecordsRequest& r);
  v1::GetDestructionActResponse GetDestructionAct(const Caller& caller,
                                                  const v1::GetDestructionActRequest& r);

  // What the rest of the privacy module shares: request intake and e-mail confirmation open
  // and confirm requests through operations(); the privacy job destroys through destroyer().
  PrivacyOperations& operations() { return operations_; }
  SubjectDestroyer& destroyer() { return erasure_; }

 private:
  PrivacyOperations operations_;
  SubjectErasure erasure_;
  SubjectExport export_;
  DestructionRecords records_;
};

}  // namespace herald::privacy
