#include "services/privacy/privacy_service.h"

#include <optional>

#include "common/db/idempotency.h"
#include "common/error.h"
#include "common/proto_time.h"

namespace herald::privacy {
namespace {

// An optional bound of a time range the caller gives.
std::optional<Timestamp> TimeOf(const std::string& field, bool has,
                                const google::protobuf::Timestamp& t) {
  if (!has) return std::nullopt;
  auto given = FromProtoTimestamp(t);
  if (!given) throw InvalidArgument(field, "not a valid timestamp");
  return given;
}

void ToProto(const DestructionRecord& r, v1::DestructionRecord* out) {
  out->set_id(r.id);
  out->set_subject_full_name(r.subject_full_name);
  for (const auto& c : r.categories) out->add_categories(c);
  out->set_information_system(r.information_system);
  out->set_reason(r.reason);
  out->set_method(r.method);
  SetTimestamp(out->mutable_performed_time(), r.performed_at);
  out->set_performed_by(r.performed_by);
}

}  // namespace

PrivacyService::PrivacyService(db::Pool& pool, const Clock& clock,
                               const crypto::SuppressionHasher& hasher,
                               const DeadlinePolicy& deadlines, const ErasureSettings& settings)
    : operations_(pool, clock, deadlines),
      erasure_(pool, clock, hasher, settings),
      export_(pool, clock, hasher),
      records_(pool, settings) {
  erasure_.SetDeadlines(&deadlines);
}

v1::OpenPrivacyRequestResponse PrivacyService::OpenPrivacyRequest(
    const Caller& caller, const v1::OpenPrivacyRequestRequest& r) {
  return operations_.OpenRequest(caller, r);
}

v1::GetPrivacyRequestResponse PrivacyService::GetPrivacyRequest(
    const Caller& caller, const v1::GetPrivacyRequestRequest& r) {
  return operations_.GetRequest(caller, r);
}

v1::ListPrivacyRequestsResponse PrivacyService::ListPrivacyRequests(
    const Caller& caller, const v1::ListPrivacyRequestsRequest& r) {
  return operations_.ListRequests(caller, r);
}

v1::CompletePrivacyRequestResponse PrivacyService::CompletePrivacyRequest(
    const Caller& caller, const v1::CompletePrivacyRequestRequest& r) {
  return operations_.CompleteRequest(caller, r);
}

v1::BlockSubjectResponse PrivacyService::BlockSubject(const Caller& caller,
                                                      const v1::BlockSubjectRequest& r) {
  return operations_.BlockSubject(caller, r);
}

v1::UnblockSubjectResponse PrivacyService::UnblockSubject(const Caller& caller,
                                                          const v1::UnblockSubjectRequest& r) {
  return operations_.UnblockSubject(caller, r);
}

v1::RectifySubjectResponse PrivacyService::RectifySubject(const Caller& caller,
                                                          const v1::RectifySubjectRequest& r) {
  return operations_.RectifySubject(caller, r);
}

v1::RevokeConsentResponse PrivacyService::RevokeConsent(const Caller& caller,
                                                        const v1::RevokeConsentRequest& r) {
  return operations_.RevokeConsent(caller, r);
}

v1::DestroySubjectResponse PrivacyService::DestroySubject(const Caller& caller,
                                                          const v1::DestroySubjectRequest& r) {
  db::IdempotencyKey idem(caller, "DestroySubject", r.idempotency_key(), r);
  auto done = erasure_.Destroy(r.subject_id(), r.reason(), caller.client_id, idem, r.request_id());
  v1::DestroySubjectResponse resp;
  resp.set_destruction_record_id(done.record_id);
  SetTimestamp(resp.mutable_destroyed_time(), done.at);
  return resp;
}

v1::DepersonalizeSubjectResponse PrivacyService::DepersonalizeSubject(
    const Caller& caller, const v1::DepersonalizeSubjectRequest& r) {
  db::IdempotencyKey idem(caller, "DepersonalizeSubject", r.idempotency_key(), r);
  auto done =
      erasure_.Depersonalize(r.subject_id(), r.reason(), caller.client_id, idem, r.request_id());
  v1::DepersonalizeSubjectResponse resp;
  resp.set_destruction_record_id(done.record_id);
  SetTimestamp(resp.mutable_depersonalized_time(), done.at);
  return resp;
}

v1::ExportSubjectDataResponse PrivacyService::ExportSubjectData(
    const Caller&, const v1::ExportSubjectDataRequest& r) {
  auto out = export_.Export(r.subject_id());
  v1::ExportSubjectDataResponse resp;
  resp.set_json(out.data.dump(2));
  resp.set_document(out.document);
  SetTimestamp(resp.mutable_generated_time(), out.generated_at);
  return resp;
}

v1::ListDestructionRecordsResponse PrivacyService::ListDestructionRecords(
    const Caller&, const v1::ListDestructionRecordsRequest& r) {
  auto page =
      records_.List(r.page_size(), r.page_token(), TimeOf("since", r.has_since(), r.since()),
                    TimeOf("until", r.has_until(), r.until()));
  v1::ListDestructionRecordsResponse resp;
  for (const auto& record : page.records) ToProto(record, resp.add_records());
  resp.set_next_page_token(page.next_page_token);
  return resp;
}

v1::GetDestructionActResponse PrivacyService::GetDestructionAct(
    const Caller&, const v1::GetDestructionActRequest& r) {
  v1::GetDestructionActResponse resp;
  resp.set_text(records_.Act(r.record_id()));
  return resp;
}

}  // namespace herald::privacy
