// Call outcomes: what the person said on a phone call (channel CALL) and what follows from it,
// each effect through the owner of what it changes (docs/calls.md, CALL-1..CALL-9): the trail
// (event_log), opt-outs (OptOutWithin: a subject's preference, a number's suppression), a
// consent record (AppendConsent), the subject's numbers (addresses, owned here).
#include <cctype>
#include <chrono>
#include <optional>
#include <variant>

#include "common/crypto/hash.h"
#include "common/db/idempotency.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/proto_time.h"
#include "common/validation/address.h"
#include "common/validation/input_checks.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/gate/gate_rows.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/suppressions.h"

namespace herald::subscriptions {
namespace {

constexpr int kPhoneKind = static_cast<int>(AddressKind::kPhone);
constexpr int kCallChannel = static_cast<int>(Channel::kCall);

// ANSWERED changes nothing but the trail: the subject's row is read FOR SHARE (a destruction
// or merge in flight is waited for) instead of being taken for change, which would also queue
// a CRM write-back of a card that did not change.
constexpr db::Statement kSubjectStateForShare{"subjects.state_for_share", R"sql(
  SELECT state
  FROM subjects
  WHERE id = $1::uuid
  FOR SHARE
)sql"};
constexpr db::Statement kSubjectHasNumber{"addresses.subject_has_number", R"sql(
  SELECT 1
  FROM addresses
  WHERE subject_id = $1::uuid
    AND kind = $2
    AND match_key = $3
)sql"};
constexpr db::Statement kDetachNumber{"addresses.detach_number", R"sql(
  DELETE FROM addresses
  WHERE subject_id = $1::uuid
    AND kind = $2
    AND match_key = $3
)sql"};

EventType CallEventType(v1::CallOutcome outcome) {
  switch (outcome) {
    case v1::DO_NOT_CALL:
      return EventType::kCallDoNotCall;
    case v1::REFUSED_MARKETING:
      return EventType::kCallRefusedMarketing;
    case v1::WRONG_NUMBER:
      return EventType::kCallWrongNumber;
    case v1::CONSENT_GIVEN:
      return EventType::kCallConsentGiven;
    default:
      return EventType::kCallAnswered;
  }
}

// An agent id names an account in the operator's telephony or CRM system, never a person: a
// space (as in "Ivan Petrov") or an '@' (an e-mail address) is refused.
void CheckAgent(const std::string& agent) {
  if (agent.empty()) throw InvalidArgument("agent", "required (the operator's agent id)");
  if (agent.size() > 128) throw InvalidArgument("agent", "longer than 128 characters");
  for (unsigned char c : agent) {
    if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':')) {
      throw InvalidArgument("agent",
                            "the operator's agent id (letters, digits and ._:- only), not a name");
    }
  }
}

// The request, checked whole before anything is read or written.
struct CheckedCall {
  std::string subject_id;
  validation::NormalizedAddress phone;
  CheckedProof proof;  // source PHONE_CALL; the call's time, document and recording
};

CheckedCall CheckCall(const v1::RecordCallOutcomeRequest& r, const std::string& region,
                      Timestamp now) {
  CheckedCall out;
  out.subject_id = validation::RequireUuid("subject_id", r.subject_id());
  if (r.outcome() == v1::CALL_OUTCOME_UNSPECIFIED || !v1::CallOutcome_IsValid(r.outcome())) {
    throw InvalidArgument("outcome",
                          "required (ANSWERED, DO_NOT_CALL, REFUSED_MARKETING, WRONG_NUMBER or "
                          "CONSENT_GIVEN)");
  }
  if (r.phone().empty()) throw InvalidArgument("phone", "required (the number called)");
  auto phone = validation::NormalizePhone(r.phone(), region);
  if (auto* err = std::get_if<validation::AddressError>(&phone)) {
    throw InvalidArgument("phone", err->message);
  }
  out.phone = std::get<validation::NormalizedAddress>(phone);
  CheckAgent(r.agent());
  validation::CheckText("recording_reference", r.recording_reference(), 512);
  validation::CheckText("document_version", r.document_version(), 64);
  const bool consent = r.outcome() == v1::CONSENT_GIVEN;
  if (consent && r.recording_reference().empty()) {
    throw InvalidArgument("recording_reference", "required for CONSENT_GIVEN (the proof)");
  }
  if (consent && r.document_version().empty()) {
    throw InvalidArgument("document_version", "required for CONSENT_GIVEN");
  }
  if (!consent && !r.document_version().empty()) {
    throw InvalidArgument("document_version", "only for CONSENT_GIVEN");
  }
  out.proof.source = v1::PHONE_CALL;
  out.proof.document_version = r.document_version();
  out.proof.recording_reference = r.recording_reference();
  out.proof.occurred_at = now;
  if (r.has_occurred_at()) {
    auto occurred_at = FromProtoTimestamp(r.occurred_at());
    if (!occurred_at) throw InvalidArgument("occurred_at", "not a valid time");
    if (*occurred_at > now + std::chrono::minutes(5)) {
      throw InvalidArgument("occurred_at", "is in the future");
    }
    out.proof.occurred_at = *occurred_at;
  }
  return out;
}

nlohmann::json Stored(const v1::RecordCallOutcomeResponse& resp) {
  return {{"changed", resp.changed()},
          {"event_id", resp.event_id()},
          {"suppression_added", resp.suppression_added()},
          {"consent_id", resp.consent_id()},
          {"address_detached", resp.address_detached()},
          {"in_flight", resp.in_flight_messages()},
          {"suppressions_lifted", resp.suppressions_lifted()}};
}

v1::RecordCallOutcomeResponse FromStored(const nlohmann::json& j) {
  v1::RecordCallOutcomeResponse resp;
  resp.set_changed(j.at("changed").get<bool>());
  resp.set_event_id(j.at("event_id").get<int64_t>());
  resp.set_suppression_added(j.at("suppression_added").get<bool>());
  resp.set_consent_id(j.at("consent_id").get<std::string>());
  resp.set_address_detached(j.at("address_detached").get<bool>());
  resp.set_in_flight_messages(j.at("in_flight").get<int64_t>());
  resp.set_suppressions_lifted(j.at("suppressions_lifted").get<int32_t>());
  return resp;
}

}  // namespace

v1::RecordCallOutcomeResponse SubscriptionRegistry::RecordCallOutcome(
    const Caller& caller, const v1::RecordCallOutcomeRequest& r) {
  Timestamp now = clock_.Now();
  const CheckedCall call = CheckCall(r, gate_.default_region(), now);
  const std::string& subject_id = call.subject_id;
  db::IdempotencyKey idem(caller, "RecordCallOutcome", r.idempotency_key(), r);

  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  if (auto stored = idem.Claim(*conn, txn, now)) {
    txn.commit();
    return FromStored(*stored);
  }
  // The subject's gate row first (rule 1 of gate/gate_rows.h), then the number's: the order
  // of a dispatch claim. A merged subject is refused, naming its survivor: a call reached the
  // survivor's number, and the caller should record it there.
  int marketing_channels = 0;
  if (r.outcome() == v1::ANSWERED) {
    auto rows = conn->Exec(txn, kSubjectStateForShare, subject_id);
    std::optional<SubjectGateRow> row;
    if (!rows.empty()) row = SubjectGateRow{rows[0][0].as<std::string>()};
    CheckChangeable(*conn, txn, subject_id, row);
  } else {
    marketing_channels = LockSubjectForChange(*conn, txn, subject_id, now);
  }
  if (conn->Exec(txn, kSubjectHasNumber, subject_id, kPhoneKind, call.phone.match_key).empty()) {
    throw FailedPrecondition("phone: not one of the subject's numbers");
  }

  v1::RecordCallOutcomeResponse resp;
  // The opt-outs go through OptOutWithin, the one writer of opt-outs, in this transaction;
  // their own events name the API client that recorded them, the call event the agent.
  auto opt_out = [&](v1::OptOutScope scope, v1::Channel channel, bool by_address) {
    v1::OptOutRequest o;
    if (by_address) {
      o.set_address(call.phone.value);
      o.set_reason(v1::UNSUBSCRIBED);
    } else {
      o.set_subject_id(subject_id);
    }
    o.set_scope(scope);
    o.set_channel(channel);
    o.mutable_proof()->set_source(v1::PHONE_CALL);
    v1::OptOutResponse done = OptOutWithin(*conn, txn, caller, o, now);
    resp.set_changed(done.changed());
    resp.set_in_flight_messages(done.in_flight_messages());
    if (by_address) resp.set_suppression_added(done.changed());
  };
  switch (r.outcome()) {
    case v1::DO_NOT_CALL:
      // CALL-2: the number, not the subject: whoever owns it is never called again.
      opt_out(v1::CHANNEL, v1::CALL, true);
      break;
    case v1::REFUSED_MARKETING:
      // CALL-3: the subject's marketing on CALL; SMS and e-mail stay as they are.
      opt_out(v1::CHANNEL, v1::CALL, false);
      break;
    case v1::WRONG_NUMBER:
      // CALL-4: all marketing on every channel the number reaches (SMS and CALL), reason
      // UNSUBSCRIBED: the reason a newer consent with proof for the number lifts (a recycled
      // number re-consenting; MANUAL and HARD_BOUNCE are lifted by an admin only). The
      // suppression takes the number's gate row, so it is detached after that.
      opt_out(v1::ALL_MARKETING, v1::CHANNEL_UNSPECIFIED, true);
      conn->Exec(txn, kDetachNumber, subject_id, kPhoneKind, call.phone.match_key);
      resp.set_changed(true);
      resp.set_address_detached(true);
      break;
    case v1::CONSENT_GIVEN: {
      // CALL-5: a marketing consent on CALL, proven by the recording, with the agent as actor.
      AppendedConsent consent = AppendConsent(*conn, txn, subject_id, v1::MARKETING, kCallChannel,
                                              true, call.proof, r.agent(), now);
      // It lifts the suppressions of the number called that it postdates (DESIGN: a newer
      // consent with proof); the subject's other numbers were not part of this call.
      crypto::SuppressionHash current = hasher_.Current("phone", call.phone.match_key);
      LockAddressForChange(*conn, txn, crypto::ToHex(current.hash), AddressKind::kPhone,
                           call.phone.match_key, now);
      std::vector<std::string> keys;
      for (const auto& h : hasher_.All("phone", call.phone.match_key)) {
        keys.push_back(crypto::ToHex(h.hash));
      }
      int64_t lifted = LiftSuppressionsByConsent(*conn, txn, keys, Channel::kCall,
                                                 call.proof.occurred_at, consent.event_id, now);
      resp.set_consent_id(std::to_string(consent.id));
      resp.set_suppressions_lifted(static_cast<int32_t>(lifted));
      resp.set_changed((marketing_channels & (1 << kCallChannel)) == 0 || lifted > 0);
      break;
    }
    default:  // ANSWERED (CALL-1): the trail only
      break;
  }

  // CALL-1: every outcome is one event in the subject's trail; the number is personal.
  nlohmann::json details = {{"outcome", v1::CallOutcome_Name(r.outcome())},
                            {"kind", KindName(AddressKind::kPhone)},
                            {"recorded_by", caller.client_id},
                            {"changed", resp.changed()}};
  if (!r.recording_reference().empty()) details["recording_reference"] = r.recording_reference();
  if (!resp.consent_id().empty()) details["consent_id"] = resp.consent_id();
  if (resp.suppression_added()) details["suppression_added"] = true;
  if (resp.address_detached()) details["address_detached"] = true;
  resp.set_event_id(AppendEvent(
      *conn, txn,
      {subject_id, std::nullopt, CallEventType(r.outcome()), r.agent(), v1::PHONE_CALL,
       call.proof.occurred_at, now, details, nlohmann::json{{"phone", call.phone.value}}}));
  idem.Complete(*conn, txn, Stored(resp));
  txn.commit();
  return resp;
}

}  // namespace herald::subscriptions
