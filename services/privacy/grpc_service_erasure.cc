// The erasure half of PrivacyService: destruction, depersonalization,
// export, destruction records and acts. Translate, delegate to the domain classes of
// erasure_services.h, translate back. Every RPC needs the privacy scope.
#include "common/db/idempotency.h"
#include "common/error.h"
#include "common/proto_time.h"
#include "common/validation/input_checks.h"
#include "services/privacy/grpc_service.h"

namespace herald::privacy {
namespace {

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

// A tracked request an erasure answers must be open, about the same subject and of a kind
// the erasure answers; checked before anything is erased.
static void CheckAnsweredRequest(PrivacyOperations& ops, const Caller& caller,
                                 const std::string& request_id, const std::string& subject_id,
                                 std::initializer_list<v1::PrivacyRequestKind> kinds) {
  if (request_id.empty()) return;
  v1::GetPrivacyRequestRequest g;
  g.set_request_id(validation::RequireUuid("request_id", request_id));
  v1::PrivacyRequest req = ops.GetRequest(caller, g).request();
  if (req.subject_id() != validation::RequireUuid("subject_id", subject_id)) {
    throw FailedPrecondition("request_id: the request is about another subject");
  }
  if (req.status() != v1::OPEN) throw FailedPrecondition("request_id: the request is not open");
  bool kind_ok = false;
  for (auto k : kinds) kind_ok = kind_ok || req.kind() == k;
  if (!kind_ok) throw FailedPrecondition("request_id: this operation does not answer that kind");
}

static void CloseAnsweredRequest(PrivacyOperations& ops, const Caller& caller,
                                 const std::string& request_id, const char* note) {
  if (request_id.empty()) return;
  v1::CompletePrivacyRequestRequest c;
  c.set_request_id(request_id);
  c.set_status(v1::DONE);
  c.set_note(note);
  ops.CompleteRequest(caller, c);
}

#define HERALD_ERASURE_REQUIRED()                                                     \
  if (!erasure_) {                                                                    \
    return runner_.Run(ctx, method, req, resp, [method](const Caller&) {              \
      throw Error(ErrorCode::kUnavailable, std::string(method) + ": not configured"); \
    });                                                                               \
  }

// ERASURE: DestroySubject
grpc::Status PrivacyGrpcService::DestroySubject(grpc::ServerContext* ctx,
                                                const v1::DestroySubjectRequest* req,
                                                v1::DestroySubjectResponse* resp) {
  const char* method = "DestroySubject";
  HERALD_ERASURE_REQUIRED();
  return runner_.Run(ctx, method, req, resp, [&](const Caller& caller) {
    CheckAnsweredRequest(operations_, caller, req->request_id(), req->subject_id(),
                         {v1::REVOKE, v1::DESTROY});
    db::IdempotencyKey idem(caller, method, req->idempotency_key(), *req);
    auto done = erasure_->erasure.Destroy(req->subject_id(), req->reason(), caller.client_id, idem);
    resp->set_destruction_record_id(done.record_id);
    SetTimestamp(resp->mutable_destroyed_time(), done.at);
    CloseAnsweredRequest(operations_, caller, req->request_id(), "subject destroyed");
  });
}

// ERASURE: DepersonalizeSubject
grpc::Status PrivacyGrpcService::DepersonalizeSubject(grpc::ServerContext* ctx,
                                                      const v1::DepersonalizeSubjectRequest* req,
                                                      v1::DepersonalizeSubjectResponse* resp) {
  const char* method = "DepersonalizeSubject";
  HERALD_ERASURE_REQUIRED();
  return runner_.Run(ctx, method, req, resp, [&](const Caller& caller) {
    CheckAnsweredRequest(operations_, caller, req->request_id(), req->subject_id(),
                         {v1::REVOKE, v1::DESTROY, v1::STOP_PROCESSING});
    db::IdempotencyKey idem(caller, method, req->idempotency_key(), *req);
    auto done =
        erasure_->erasure.Depersonalize(req->subject_id(), req->reason(), caller.client_id, idem);
    resp->set_destruction_record_id(done.record_id);
    SetTimestamp(resp->mutable_depersonalized_time(), done.at);
    CloseAnsweredRequest(operations_, caller, req->request_id(), "subject depersonalized");
  });
}

// ERASURE: ExportSubjectData
grpc::Status PrivacyGrpcService::ExportSubjectData(grpc::ServerContext* ctx,
                                                   const v1::ExportSubjectDataRequest* req,
                                                   v1::ExportSubjectDataResponse* resp) {
  const char* method = "ExportSubjectData";
  HERALD_ERASURE_REQUIRED();
  return runner_.Run(ctx, method, req, resp, [&](const Caller&) {
    auto out = erasure_->exporter.Export(req->subject_id());
    resp->set_json(out.data.dump(2));
    resp->set_document(out.document);
    SetTimestamp(resp->mutable_generated_time(),
                 ParseTimestamp(out.data["generated_at"].get<std::string>()));
  });
}

// ERASURE: ListDestructionRecords
grpc::Status PrivacyGrpcService::ListDestructionRecords(
    grpc::ServerContext* ctx, const v1::ListDestructionRecordsRequest* req,
    v1::ListDestructionRecordsResponse* resp) {
  const char* method = "ListDestructionRecords";
  HERALD_ERASURE_REQUIRED();
  return runner_.Run(ctx, method, req, resp, [&](const Caller&) {
    auto page = erasure_->records.List(req->page_size(), req->page_token(),
                                       TimeOf("since", req->has_since(), req->since()),
                                       TimeOf("until", req->has_until(), req->until()));
    for (const auto& r : page.records) ToProto(r, resp->add_records());
    resp->set_next_page_token(page.next_page_token);
  });
}

// ERASURE: GetDestructionAct
grpc::Status PrivacyGrpcService::GetDestructionAct(grpc::ServerContext* ctx,
                                                   const v1::GetDestructionActRequest* req,
                                                   v1::GetDestructionActResponse* resp) {
  const char* method = "GetDestructionAct";
  HERALD_ERASURE_REQUIRED();
  return runner_.Run(ctx, method, req, resp, [&](const Caller&) {
    resp->set_text(erasure_->records.Act(req->record_id()));
  });
}

#undef HERALD_ERASURE_REQUIRED

}  // namespace herald::privacy
