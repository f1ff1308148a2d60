#include "services/privacy/privacy_operations.h"

#include <algorithm>
#include <set>

#include "common/db/idempotency.h"
#include "common/db/statement.h"
#include "common/domain/enums.h"
#include "common/error.h"
#include "common/proto_time.h"
#include "common/validation/input_checks.h"
#include "common/validation/uuid.h"
#include "services/privacy/crm_card_destruction.h"
#include "services/privacy/request_store.h"
#include "services/privacy/subject_state.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/subject_rows.h"

namespace herald::privacy {
namespace {

using db::IdempotencyKey;
using validation::CheckText;
using validation::RequireUuid;

constexpr char kLiveOnly[] = "subject_id: the subject was destroyed or depersonalized";

constexpr db::Statement kOpenOfKind{"privacy_requests.open_of_kind", R"sql(
  SELECT id::text
  FROM privacy_requests
  WHERE subject_id = $1::uuid AND kind = $2 AND status = 'open'
  ORDER BY received_at, id
  LIMIT 1
)sql"};

constexpr const char* kRectifiable[] = {"surname", "given_name", "patronymic", "locale"};

int SourceOr(v1::Source given, v1::Source fallback) {
  if (!v1::Source_IsValid(given)) throw InvalidArgument("source", "unknown");
  return given == v1::SOURCE_UNSPECIFIED ? fallback : given;
}

// A request the operation answers, when the caller names one.
std::optional<std::string> OptionalRequestId(const std::string& given) {
  if (given.empty()) return std::nullopt;
  return RequireUuid("request_id", given);
}

// A time the caller gives for when the subject acted: not in the future, not absurdly old.
Timestamp CheckPast(const std::string& field, const google::protobuf::Timestamp& t, Timestamp now) {
  auto given = FromProtoTimestamp(t);
  if (!given) throw InvalidArgument(field, "not a valid time (from 1970-01-01 to 9999-12-31 UTC)");
  Timestamp v = *given;
  if (v > now + std::chrono::minutes(5)) throw InvalidArgument(field, "is in the future");
  if (v < now - std::chrono::hours(24 * 366)) {
    throw InvalidArgument(field, "is more than a year in the past");
  }
  return v;
}

}  // namespace

PrivacyOperations::PrivacyOperations(db::Pool& pool, const Clock& clock,
                                     const DeadlinePolicy& deadlines)
    : pool_(pool), clock_(clock), deadlines_(deadlines) {}

PrivacyOperations::Opened PrivacyOperations::OpenInTxn(
    db::Connection& conn, pqxx::transaction_base& txn, RequestKind kind,
    const std::optional<std::string>& subject_id, std::optional<int64_t> origin_event_id,
    int source, const std::string& actor, Timestamp received_at, Timestamp now,
    const nlohmann::json& details, const std::string& confirmation) {
  Opened out;
  out.due_at = deadlines_.DueAt(kind, received_at);
  SubjectFlags flags;
  bool acts_on_subject =
      subject_id && (kind == RequestKind::kRectify || kind == RequestKind::kRevoke);
  if (acts_on_subject) {
    flags = LockSubject(conn, txn, *subject_id, now);
    if (flags.state != "active") throw FailedPrecondition(kLiveOnly);
  }
  NewRequest req{kind,       subject_id, origin_event_id, source, received_at,
                 out.due_at, false,      details,         "none", std::nullopt};
  // Only a step that is not harmless needs to know who asked.
  req.confirmation = acts_on_subject ? confirmation : "none";
  if (req.confirmation != "none" && req.confirmation != "pending") req.confirmed_at = now;
  const bool pending = req.confirmation == "pending";
  // Data reported inaccurate: blocked from the moment of the request (art. 21 p. 1). The
  // request owns the block only when it set it.
  if (acts_on_subject && !pending && kind == RequestKind::kRectify && !flags.blocked) {
    req.blocked_by_request = true;
  }
  out.request_id = InsertRequest(conn, txn, req);
  if (!out.request_id) return out;  // this event was taken in already
  if (req.blocked_by_request) {
    SetBlocked(conn, txn, *subject_id, true, actor, source, "data reported inaccurate",
               out.request_id, now);
    out.changed = true;
  }
  if (acts_on_subject && !pending && kind == RequestKind::kRevoke && !flags.revoked) {
    RecordRevocation(conn, txn, *subject_id, actor, source, received_at, now);
    out.changed = true;
  }
  if (acts_on_subject && kind == RequestKind::kRevoke) {
    OpenCrmCardDestruction(conn, txn, *subject_id, source, out.due_at, now);
  }
  nlohmann::json opened = {
      {"kind", KindName(kind)}, {"request_id", *out.request_id}, {"due_at", ToIso8601(out.due_at)}};
  if (req.confirmation != "none") opened["confirmation"] = req.confirmation;
  if (origin_event_id) opened["origin_event_id"] = *origin_event_id;
  subscriptions::AppendEvent(
      conn, txn,
      {subject_id, std::nullopt, subscriptions::EventType::kPrivacyRequestOpened, actor, source,
       received_at, now, opened, nlohmann::json::object()});
  return out;
}

PrivacyOperations::Confirmed PrivacyOperations::ConfirmInTxn(
    db::Connection& conn, pqxx::transaction_base& txn, const std::string& request_id,
    const std::string& method, const std::string& actor, int source, Timestamp now) {
  // The subject's gate row first, then the request: the order OpenInTxn and RevokeConsent
  // lock them in.
  v1::PrivacyRequest seen = LoadRequest(conn, txn, request_id, now);
  SubjectFlags flags;
  if (!seen.subject_id().empty()) flags = LockSubject(conn, txn, seen.subject_id(), now);
  Confirmed out;
  out.request = LoadRequest(conn, txn, request_id, now, /*for_update=*/true);
  if (out.request.status() != v1::OPEN) {
    throw FailedPrecondition("request_id: the request is not open");
  }
  if (out.request.confirmation() != v1::CONFIRMATION_PENDING) return out;
  if (flags.state != "active") throw FailedPrecondition(kLiveOnly);
  MarkConfirmed(conn, txn, request_id, method, now);
  const std::string& subject_id = out.request.subject_id();
  if (out.request.kind() == v1::RECTIFY && !flags.blocked) {
    SetBlocked(conn, txn, subject_id, true, actor, source, "data reported inaccurate", request_id,
               now);
    MarkBlockedByRequest(conn, txn, request_id);
  }
  if (out.request.kind() == v1::REVOKE && !flags.revoked) {
    // The subject revoked when the request arrived; it is recorded now.
    RecordRevocation(conn, txn, subject_id, actor, source,
                     FromProtoTimestamp(out.request.received_time()).value(), now);
  }
  subscriptions::AppendEvent(conn, txn,
                             {subject_id,
                              std::nullopt,
                              subscriptions::EventType::kPrivacyRequestConfirmed,
                              actor,
                              source,
                              now,
                              now,
                              {{"request_id", request_id}, {"method", method}},
                              nlohmann::json::object()});
  out.changed = true;
  out.request = LoadRequest(conn, txn, request_id, now);
  return out;
}

v1::OpenPrivacyRequestResponse PrivacyOperations::OpenRequest(
    const Caller& caller, const v1::OpenPrivacyRequestRequest& r) {
  if (!v1::PrivacyRequestKind_IsValid(r.kind()) ||
      r.kind() == v1::PRIVACY_REQUEST_KIND_UNSPECIFIED || r.kind() == v1::CRM_DESTROY) {
    throw InvalidArgument("kind", "give ACCESS, STOP_PROCESSING, RECTIFY, REVOKE or DESTROY");
  }
  std::string subject_id = RequireUuid("subject_id", r.subject_id());
  int source = SourceOr(r.source(), v1::OPERATOR);
  Timestamp now = clock_.Now();
  Timestamp received =
      r.has_received_time() ? CheckPast("received_time", r.received_time(), now) : now;
  IdempotencyKey idem(caller, "OpenPrivacyRequest", r.idempotency_key(), r);
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  v1::OpenPrivacyRequestResponse resp;
  if (auto stored = idem.Claim(*conn, txn, now)) {
    *resp.mutable_request() = LoadRequest(*conn, txn, (*stored)["request_id"], now);
    txn.commit();
    return resp;
  }
  // Every kind needs a subject we know, even when it acts on nothing by itself.
  SubjectFlags flags = LockSubject(*conn, txn, subject_id, now);
  // A refusal of marketing is harmless to act on and the caller is authenticated: all
  // marketing to the subject stops with the request, as the refusal marker stops it at once
  // (L8). A destroyed or depersonalized subject gets nothing anyway.
  const bool stop_marketing = r.kind() == v1::STOP_PROCESSING && flags.state == "active";
  if (stop_marketing && !registry_) {
    throw Error(ErrorCode::kInternal, "privacy operations have no registry to opt out through");
  }
  nlohmann::json details = nlohmann::json::object();
  if (stop_marketing) details["marketing_stopped"] = true;
  Opened opened = OpenInTxn(*conn, txn, static_cast<RequestKind>(r.kind()), subject_id,
                            std::nullopt, source, caller.client_id, received, now, details);
  if (stop_marketing) {
    v1::OptOutRequest opt_out;
    opt_out.set_subject_id(subject_id);
    opt_out.set_scope(v1::ALL_MARKETING);
    opt_out.mutable_proof()->set_source(static_cast<v1::Source>(source));
    SetTimestamp(opt_out.mutable_proof()->mutable_occurred_at(), received);
    registry_->OptOutWithin(*conn, txn, caller, opt_out, now);
  }
  idem.Complete(*conn, txn, {{"request_id", *opened.request_id}});
  *resp.mutable_request() = LoadRequest(*conn, txn, *opened.request_id, now);
  txn.commit();
  return resp;
}

v1::GetPrivacyRequestResponse PrivacyOperations::GetRequest(const Caller&,
                                                            const v1::GetPrivacyRequestRequest& r) {
  std::string id = RequireUuid("request_id", r.request_id());
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  v1::GetPrivacyRequestResponse resp;
  *resp.mutable_request() = LoadRequest(*conn, txn, id, now);
  return resp;
}

v1::ListPrivacyRequestsResponse PrivacyOperations::ListRequests(
    const Caller&, const v1::ListPrivacyRequestsRequest& r) {
  if (!v1::PrivacyRequestStatus_IsValid(r.status())) throw InvalidArgument("status", "unknown");
  if (!v1::PrivacyRequestKind_IsValid(r.kind())) throw InvalidArgument("kind", "unknown");
  std::string subject;
  if (!r.subject_id().empty()) subject = RequireUuid("subject_id", r.subject_id());
  int limit = validation::PageSize(r.page_size());
  std::string after = validation::DecodePageToken(r.page_token());
  std::string after_due = "-infinity", after_id = "00000000-0000-0000-0000-000000000000";
  if (!after.empty()) {
    auto bar = after.find('|');
    if (bar == std::string::npos || !validation::IsUuid(after.substr(bar + 1))) {
      throw InvalidArgument("page_token", "not a token this service issued");
    }
    after_due = after.substr(0, bar);
    after_id = after.substr(bar + 1);
    try {
      ParseTimestamp(after_due);
    } catch (const std::exception&) {
      throw InvalidArgument("page_token", "not a token this service issued");
    }
  }
  const char* status = r.status() == v1::DONE       ? "done"
                       : r.status() == v1::REJECTED ? "rejected"
                                                    : "open";
  std::string kind = r.kind() == v1::PRIVACY_REQUEST_KIND_UNSPECIFIED
                         ? ""
                         : KindName(static_cast<RequestKind>(r.kind()));
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto rows = ListRequestRows(*conn, txn, status, kind, subject, after_due, after_id, limit + 1);
  v1::ListPrivacyRequestsResponse resp;
  for (int i = 0; i < static_cast<int>(rows.size()) && i < limit; ++i) {
    *resp.add_requests() = RequestFromRow(rows[i], now);
  }
  if (static_cast<int>(rows.size()) > limit) {
    // The last row's due time, exactly as stored (microseconds), and its id.
    const auto& last = rows[limit - 1];
    resp.set_next_page_token(validation::EncodePageToken(
        ToIso8601(ParseTimestamp(last[5].as<std::string>())) + "|" + last[0].as<std::string>()));
  }
  return resp;
}

v1::CompletePrivacyRequestResponse PrivacyOperations::CompleteRequest(
    const Caller& caller, const v1::CompletePrivacyRequestRequest& r) {
  std::string id = RequireUuid("request_id", r.request_id());
  if (r.status() != v1::DONE && r.status() != v1::REJECTED) {
    throw InvalidArgument("status", "give DONE or REJECTED");
  }
  CheckText("note", r.note(), 1000);
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  v1::PrivacyRequest req = LoadRequest(*conn, txn, id, now, /*for_update=*/true);
  if (req.status() != v1::OPEN) throw FailedPrecondition("request_id: the request is not open");
  if (req.blocked_by_request() && !req.subject_id().empty()) {
    // A block set for a rectification ends with it, corrected or found accurate
    // (art. 21 p. 2).
    SubjectFlags flags = LockSubject(*conn, txn, req.subject_id(), now);
    if (flags.state == "active" && flags.blocked) {
      SetBlocked(*conn, txn, req.subject_id(), false, caller.client_id, v1::OPERATOR,
                 "request closed", id, now);
    }
  }
  nlohmann::json note = nlohmann::json::object();
  if (!r.note().empty()) note["note"] = r.note();
  CloseRequest(*conn, txn, id, r.status() == v1::DONE ? "done" : "rejected", caller.client_id, note,
               now);
  v1::CompletePrivacyRequestResponse resp;
  *resp.mutable_request() = LoadRequest(*conn, txn, id, now);
  txn.commit();
  return resp;
}

v1::BlockSubjectResponse PrivacyOperations::BlockSubject(const Caller& caller,
                                                         const v1::BlockSubjectRequest& r) {
  std::string subject_id = RequireUuid("subject_id", r.subject_id());
  CheckText("reason", r.reason(), 500);
  std::string reason = r.reason().empty() ? "blocked by operator" : r.reason();
  std::optional<std::string> request_id = OptionalRequestId(r.request_id());
  IdempotencyKey idem(caller, "BlockSubject", r.idempotency_key(), r);
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  v1::BlockSubjectResponse resp;
  if (auto stored = idem.Claim(*conn, txn, now)) {
    resp.set_changed((*stored)["changed"]);
    txn.commit();
    return resp;
  }
  SubjectFlags flags = LockSubject(*conn, txn, subject_id, now);
  if (flags.state != "active") throw FailedPrecondition(kLiveOnly);
  if (request_id) {
    v1::PrivacyRequest req = LoadAnsweredRequest(*conn, txn, *request_id, subject_id, {}, now);
    // The privacy officer blocking for an unconfirmed e-mail rectification confirms it.
    if (req.kind() == v1::RECTIFY) MarkConfirmed(*conn, txn, *request_id, "operator", now);
  }
  if (!flags.blocked) {
    SetBlocked(*conn, txn, subject_id, true, caller.client_id, v1::OPERATOR, reason, request_id,
               now);
    if (request_id) MarkBlockedByRequest(*conn, txn, *request_id);
    resp.set_changed(true);
  }
  idem.Complete(*conn, txn, {{"changed", resp.changed()}});
  txn.commit();
  return resp;
}

v1::UnblockSubjectResponse PrivacyOperations::UnblockSubject(const Caller& caller,
                                                             const v1::UnblockSubjectRequest& r) {
  std::string subject_id = RequireUuid("subject_id", r.subject_id());
  CheckText("reason", r.reason(), 500);
  IdempotencyKey idem(caller, "UnblockSubject", r.idempotency_key(), r);
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  if (idem.Claim(*conn, txn, now)) {
    txn.commit();
    return {};
  }
  SubjectFlags flags = LockSubject(*conn, txn, subject_id, now);
  if (flags.state != "active") throw FailedPrecondition(kLiveOnly);
  if (!flags.blocked) throw FailedPrecondition("subject_id: the subject is not blocked");
  SetBlocked(*conn, txn, subject_id, false, caller.client_id, v1::OPERATOR,
             r.reason().empty() ? "unblocked by operator" : r.reason(), std::nullopt, now);
  idem.Complete(*conn, txn, nlohmann::json::object());
  txn.commit();
  return {};
}

v1::RectifySubjectResponse PrivacyOperations::RectifySubject(const Caller& caller,
                                                             const v1::RectifySubjectRequest& r) {
  std::string subject_id = RequireUuid("subject_id", r.subject_id());
  if (r.update_fields().empty()) {
    throw InvalidArgument("update_fields",
                          "name at least one of surname, given_name, "
                          "patronymic, locale, email, phone");
  }
  std::map<std::string, std::string> wanted;
  // Address corrections (L7): the old address's match key, the new value and match key.
  struct AddressFix {
    AddressKind kind;
    std::string old_match_key, value, match_key;
  };
  std::vector<AddressFix> address_fixes;
  for (const auto& f : r.update_fields()) {
    const bool address = f == "email" || f == "phone";
    const std::string* value = f == "surname"      ? &r.surname()
                               : f == "given_name" ? &r.given_name()
                               : f == "patronymic" ? &r.patronymic()
                               : f == "locale"     ? &r.locale()
                               : f == "email"      ? &r.email()
                               : f == "phone"      ? &r.phone()
                                                   : nullptr;
    if (!value) {
      throw InvalidArgument(
          "update_fields", "unknown field (surname, given_name, patronymic, locale, email, phone)");
    }
    if (!wanted.emplace(f, *value).second) {
      throw InvalidArgument("update_fields", "a field is named twice");
    }
    if (address) {
      if (!registry_) {
        throw Error(ErrorCode::kInternal, "privacy operations have no registry for addresses");
      }
      const AddressKind kind = f == "email" ? AddressKind::kEmail : AddressKind::kPhone;
      const std::string old_field = "old_" + f;
      const std::string& old_value = f == "email" ? r.old_email() : r.old_phone();
      if (old_value.empty()) throw InvalidArgument(old_field, "required with " + f);
      if (value->empty()) throw InvalidArgument(f, "required");
      auto old_address = registry_->NormalizeAddressOf(kind, old_field, old_value);
      auto new_address = registry_->NormalizeAddressOf(kind, f, *value);
      address_fixes.push_back({kind, old_address.second, new_address.first, new_address.second});
    } else if (f == "locale") {
      validation::CheckLocale("locale", *value);
    } else {
      CheckText(f, *value, 256);
    }
  }
  if (address_fixes.empty() && (!r.old_email().empty() || !r.old_phone().empty())) {
    throw InvalidArgument(r.old_email().empty() ? "old_phone" : "old_email",
                          "only with email or phone in update_fields");
  }
  std::optional<std::string> request_id = OptionalRequestId(r.request_id());
  IdempotencyKey idem(caller, "RectifySubject", r.idempotency_key(), r);
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  v1::RectifySubjectResponse resp;
  if (auto stored = idem.Claim(*conn, txn, now)) {
    for (const auto& f : (*stored)["changed_fields"]) resp.add_changed_fields(f);
    resp.set_unblocked((*stored)["unblocked"]);
    std::string rid = (*stored)["request_id"];
    if (!rid.empty()) *resp.mutable_request() = LoadRequest(*conn, txn, rid, now);
    txn.commit();
    return resp;
  }
  if (!address_fixes.empty()) {
    // Before the subject's gate row, as UpsertSubject takes them: no upsert hands the new
    // address to another subject while it is checked and written.
    std::vector<std::pair<AddressKind, std::string>> keys;
    for (const auto& a : address_fixes) {
      keys.emplace_back(a.kind, a.old_match_key);
      keys.emplace_back(a.kind, a.match_key);
    }
    registry_->LockAddressesForChange(*conn, txn, keys);
  }
  SubjectFlags flags = LockSubject(*conn, txn, subject_id, now);
  if (flags.state != "active") throw FailedPrecondition(kLiveOnly);
  v1::PrivacyRequest req;
  if (request_id) {
    req = LoadAnsweredRequest(*conn, txn, *request_id, subject_id, {RequestKind::kRectify}, now);
  } else {
    // Without an explicit id, the subject's oldest open rectification is the one answered.
    auto open = conn->Exec(txn, kOpenOfKind, subject_id, KindName(RequestKind::kRectify));
    if (!open.empty()) {
      request_id = open[0][0].as<std::string>();
      req = LoadRequest(*conn, txn, *request_id, now, true);
    }
  }

  PersonalFields cur = ReadPersonalFields(*conn, txn, subject_id);
  std::map<std::string, std::string> values = {{"surname", cur.surname},
                                               {"given_name", cur.given_name},
                                               {"patronymic", cur.patronymic},
                                               {"locale", cur.locale}};
  nlohmann::json old_values = nlohmann::json::object(), new_values = nlohmann::json::object();
  nlohmann::json changed = nlohmann::json::array();
  for (const char* f : kRectifiable) {
    auto it = wanted.find(f);
    if (it == wanted.end() || it->second == values[f]) continue;
    old_values[f] = values[f];
    new_values[f] = it->second;
    values[f] = it->second;
    changed.push_back(f);
    resp.add_changed_fields(f);
  }
  if (!changed.empty()) {
    subscriptions::RectifySubject(
        *conn, txn, subject_id,
        {values["surname"], values["given_name"], values["patronymic"], values["locale"]}, now);
  }
  for (const auto& a : address_fixes) {
    const char* f = a.kind == AddressKind::kEmail ? "email" : "phone";
    std::string old_value = registry_->ReplaceAddressWithin(
        *conn, txn, subject_id, a.kind, a.old_match_key, a.value, a.match_key, now);
    if (old_value == a.value) continue;
    old_values[f] = old_value;
    new_values[f] = a.value;
    changed.push_back(f);
    resp.add_changed_fields(f);
  }
  // Old and new values sit in the personal side table, so destruction removes them.
  nlohmann::json details = {{"fields", changed}};
  if (request_id) details["request_id"] = *request_id;
  subscriptions::AppendEvent(
      *conn, txn,
      {subject_id, std::nullopt, subscriptions::EventType::kSubjectRectified, caller.client_id,
       v1::OPERATOR, now, now, details,
       changed.empty() ? nlohmann::json::object()
                       : nlohmann::json{{"old", old_values}, {"new", new_values}}});
  if (request_id) {
    if (req.blocked_by_request() && flags.blocked) {
      SetBlocked(*conn, txn, subject_id, false, caller.client_id, v1::OPERATOR, "data rectified",
                 request_id, now);
      resp.set_unblocked(true);
    }
    CloseRequest(*conn, txn, *request_id, "done", caller.client_id, {{"changed_fields", changed}},
                 now);
    *resp.mutable_request() = LoadRequest(*conn, txn, *request_id, now);
  }
  idem.Complete(*conn, txn,
                {{"changed_fields", changed},
                 {"unblocked", resp.unblocked()},
                 {"request_id", request_id.value_or("")}});
  txn.commit();
  return resp;
}

v1::RevokeConsentResponse PrivacyOperations::RevokeConsent(const Caller& caller,
                                                           const v1::RevokeConsentRequest& r) {
  std::string subject_id = RequireUuid("subject_id", r.subject_id());
  int source = SourceOr(r.proof().source(), v1::OPERATOR);
  CheckText("proof.form_id", r.proof().form_id(), 256);
  Timestamp now = clock_.Now();
  Timestamp occurred = r.proof().has_occurred_at()
                           ? CheckPast("proof.occurred_at", r.proof().occurred_at(), now)
                           : now;
  std::optional<std::string> request_id = OptionalRequestId(r.request_id());
  IdempotencyKey idem(caller, "RevokeConsent", r.idempotency_key(), r);
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  v1::RevokeConsentResponse resp;
  auto finish = [&](const std::string& id) {
    *resp.mutable_request() = LoadRequest(*conn, txn, id, now);
    *resp.mutable_destruction_due_time() = resp.request().due_time();
  };
  if (auto stored = idem.Claim(*conn, txn, now)) {
    resp.set_changed((*stored)["changed"]);
    finish((*stored)["request_id"]);
    txn.commit();
    return resp;
  }
  SubjectFlags flags = LockSubject(*conn, txn, subject_id, now);
  if (flags.state != "active") throw FailedPrecondition(kLiveOnly);
  if (request_id) {
    LoadAnsweredRequest(*conn, txn, *request_id, subject_id, {RequestKind::kRevoke}, now);
  } else {
    auto open = conn->Exec(txn, kOpenOfKind, subject_id, KindName(RequestKind::kRevoke));
    if (!open.empty()) request_id = open[0][0].as<std::string>();
  }
  if (request_id) {
    // The revocation is already tracked: record it if the flag is not set yet (a consent
    // granted again since), and keep the schedule the request carries.
    if (!flags.revoked) {
      RecordRevocation(*conn, txn, subject_id, caller.client_id, source, occurred, now);
      resp.set_changed(true);
    }
    // An authenticated revocation confirms an e-mail request still waiting for it: its
    // destruction is due at the request's due time.
    MarkConfirmed(*conn, txn, *request_id, "operator", now);
  } else {
    Opened opened = OpenInTxn(*conn, txn, RequestKind::kRevoke, subject_id, std::nullopt, source,
                              caller.client_id, occurred, now);
    request_id = opened.request_id;
    resp.set_changed(opened.changed);
  }
  idem.Complete(*conn, txn, {{"request_id", *request_id}, {"changed", resp.changed()}});
  finish(*request_id);
  txn.commit();
  return resp;
}

}  // namespace herald::privacy
