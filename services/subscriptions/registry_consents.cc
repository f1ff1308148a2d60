// Consent records: RecordConsent, and the current consent state derived from the trail.
#include "common/crypto/hash.h"
#include "common/db/idempotency.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/proto_time.h"
#include "common/validation/input_checks.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/gate/gate_rows.h"
#include "services/subscriptions/proof_checks.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/shared_statements.h"
#include "services/subscriptions/suppressions.h"

namespace herald::subscriptions {
namespace {

constexpr db::Statement kInsertConsent{"consents.insert", R"sql(
  INSERT INTO consents (
    subject_id, kind, channel, granted, source, form_id, document_version, occurred_at,
    recorded_at, actor, event_id, recording_reference
  )
  VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
  RETURNING id, recorded_at::text
)sql"};
constexpr db::Statement kLatestConsent{"consents.latest", R"sql(
  SELECT granted
  FROM consents
  WHERE subject_id = $1::uuid
    AND kind = $2
    AND channel = $3
  ORDER BY occurred_at DESC, id DESC
  LIMIT 1
)sql"};
constexpr db::Statement kSetProcessing{"subjects.set_processing", R"sql(
  UPDATE subjects
  SET processing_consent = $2, revoked = NOT $2, updated_at = $3
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kSetMarketing{"subjects.set_marketing", R"sql(
  UPDATE subjects
  SET marketing_channels = CASE WHEN $3 THEN marketing_channels | (1 << $2)
                                ELSE marketing_channels & ~(1 << $2) END,
      updated_at = $4
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kSetCrossBorder{"subjects.set_cross_border", R"sql(
  UPDATE subjects
  SET cross_border_consent = $2, updated_at = $3
  WHERE id = $1::uuid
)sql"};

}  // namespace

int SubscriptionRegistry::LockSubjectForChange(db::Connection& conn, pqxx::transaction_base& txn,
                                               const std::string& subject_id, Timestamp now) {
  auto row = subscriptions::LockSubjectForChange(conn, txn, subject_id, now);
  CheckChangeable(conn, txn, subject_id, row);
  return row->marketing_channels;
}

void SubscriptionRegistry::CheckChangeable(db::Connection& conn, pqxx::transaction_base& txn,
                                           const std::string& subject_id,
                                           const std::optional<SubjectGateRow>& row) {
  if (!row) throw NotFound("subject_id: subject");
  if (row->state == "merged") {
    throw FailedPrecondition("subject_id: the subject was merged into " +
                             conn.Exec(txn, kMergedInto, subject_id)[0][0].as<std::string>() +
                             "; use that id");
  }
  if (row->state != "active") {
    throw FailedPrecondition("subject_id: the subject was destroyed or depersonalized");
  }
}

void SubscriptionRegistry::RecomputeConsentState(db::Connection& conn, pqxx::transaction_base& txn,
                                                 const std::string& subject_id, int kind,
                                                 int channel, Timestamp now) {
  auto latest = conn.Exec(txn, kLatestConsent, subject_id, kind, channel);
  bool granted = !latest.empty() && latest[0][0].as<bool>();
  switch (kind) {
    case v1::PROCESSING:
      // A withdrawn consent to processing is a revocation (152-FZ art. 9 p. 2).
      if (latest.empty()) return;
      conn.Exec(txn, kSetProcessing, subject_id, granted, ToIso8601(now));
      break;
    case v1::MARKETING:
      conn.Exec(txn, kSetMarketing, subject_id, channel, granted, ToIso8601(now));
      break;
    case v1::CROSS_BORDER:
      conn.Exec(txn, kSetCrossBorder, subject_id, granted, ToIso8601(now));
      break;
  }
}

void SubscriptionRegistry::LiftSuppressions(db::Connection& conn, pqxx::transaction_base& txn,
                                            const std::string& subject_id, Channel channel,
                                            Timestamp consent_time, int64_t event_id,
                                            Timestamp now) {
  AddressKind kind = KindOf(channel);
  std::vector<std::string> hashes;
  for (const auto& row : conn.Exec(txn, kSubjectAddressKeys, subject_id)) {
    if (row[0].as<int>() != static_cast<int>(kind)) continue;
    for (const auto& h : hasher_.All(KindName(kind), row[1].as<std::string>())) {
      hashes.push_back(crypto::ToHex(h.hash));
    }
  }
  LiftSuppressionsByConsent(conn, txn, hashes, channel, consent_time, event_id, now);
}

SubscriptionRegistry::AppendedConsent SubscriptionRegistry::AppendConsent(
    db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id, int kind,
    int channel, bool granted, const CheckedProof& proof, const std::string& actor, Timestamp now) {
  nlohmann::json details = {{"kind", v1::ConsentKind_Name(static_cast<v1::ConsentKind>(kind))},
                            {"granted", granted},
                            {"form_id", proof.form_id},
                            {"document_version", proof.document_version}};
  if (channel != kAnyChannel) details["channel"] = ChannelName(static_cast<Channel>(channel));
  if (!proof.message_id.empty()) details["message_id"] = proof.message_id;
  if (!proof.recording_reference.empty()) {
    details["recording_reference"] = proof.recording_reference;
  }
  nlohmann::json personal = nlohmann::json::object();
  if (!proof.ip.empty()) personal["ip"] = proof.ip;
  if (!proof.user_agent.empty()) personal["user_agent"] = proof.user_agent;
  AppendedConsent out;
  out.event_id = AppendEvent(conn, txn,
                             {subject_id, std::nullopt,
                              granted ? EventType::kConsentGranted : EventType::kConsentWithdrawn,
                              actor, proof.source, proof.occurred_at, now, details, personal});
  auto row = conn.Exec(txn, kInsertConsent, subject_id, kind, channel, granted, proof.source,
                       proof.form_id, proof.document_version, ToIso8601(proof.occurred_at),
                       ToIso8601(now), actor, out.event_id, proof.recording_reference)[0];
  out.id = row[0].as<int64_t>();
  out.record_time = row[1].as<std::string>();
  RecomputeConsentState(conn, txn, subject_id, kind, channel, now);
  return out;
}

v1::RecordConsentResponse SubscriptionRegistry::RecordConsent(const Caller& caller,
                                                              const v1::RecordConsentRequest& r) {
  std::string subject_id = validation::RequireUuid("subject_id", r.subject_id());
  if (r.kind() == v1::CONSENT_KIND_UNSPECIFIED || !v1::ConsentKind_IsValid(r.kind())) {
    throw InvalidArgument("kind", "required (PROCESSING, MARKETING or CROSS_BORDER)");
  }
  int channel = kAnyChannel;
  if (r.kind() == v1::MARKETING) {
    channel = static_cast<int>(validation::RequireChannel("channel", r.channel()));
  } else if (r.channel() != v1::CHANNEL_UNSPECIFIED) {
    throw InvalidArgument("channel", "only marketing consent is per channel");
  }
  Timestamp now = clock_.Now();
  CheckedProof proof = CheckProof("proof", r.proof(), now, r.granted());
  // A withdrawal is never held: it acts at once.
  if (hold_ && r.granted() && hold_sources_.count(proof.source) > 0) {
    if (auto held = hold_(caller, r)) return *held;
  }
  db::IdempotencyKey idem(caller, "RecordConsent", r.idempotency_key(), r);

  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  std::optional<nlohmann::json> stored = idem.Claim(*conn, txn, now);
  v1::RecordConsentResponse resp;
  v1::Consent* c = resp.mutable_consent();
  if (!stored) {
    LockSubjectForChange(*conn, txn, subject_id, now);
    AppendedConsent row = AppendConsent(*conn, txn, subject_id, r.kind(), channel, r.granted(),
                                        proof, caller.client_id, now);
    if (r.kind() == v1::MARKETING && r.granted()) {
      // A newer consent with proof lifts the address suppressions it postdates (DESIGN).
      LiftSuppressions(*conn, txn, subject_id, static_cast<Channel>(channel), proof.occurred_at,
                       row.event_id, now);
    }
    c->set_id(std::to_string(row.id));
    SetTimestamp(c->mutable_record_time(), row.record_time);
    idem.Complete(*conn, txn,
                  {{"consent_id", c->id()},
                   {"record_time", ToIso8601(now)},
                   {"occurred_at", ToIso8601(proof.occurred_at)}});
  } else {
    c->set_id((*stored)["consent_id"]);
    SetTimestamp(c->mutable_record_time(), (*stored)["record_time"]);
    // A replay answers the first call's time of the act, not its own: a proof without one
    // took the first call's time. Answers stored without it defaulted to their record time.
    proof.occurred_at =
        ParseTimestamp(stored->value("occurred_at", (*stored)["record_time"].get<std::string>()));
  }
  c->set_subject_id(subject_id);
  c->set_kind(r.kind());
  c->set_channel(r.channel());
  c->set_granted(r.granted());
  *c->mutable_proof() = r.proof();
  if (!r.proof().has_occurred_at()) {
    SetTimestamp(c->mutable_proof()->mutable_occurred_at(), ToIso8601(proof.occurred_at));
  }
  c->set_actor(caller.client_id);
  txn.commit();
  return resp;
}

}  // namespace herald::subscriptions
