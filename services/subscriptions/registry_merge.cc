// Merges: MergeSubjects folds a duplicate subject into the one the CRM kept.
//
// The stricter state wins (docs/requirements.md M1-M5): the duplicate's opt-outs become the
// survivor's, its consent records are copied with their proof so the newest act decides,
// a block or revocation of either holds, its addresses move (their suppressions are keyed by
// the address, so they follow), and the duplicate stays only as a pointer to the survivor.
#include <algorithm>

#include "common/crypto/hash.h"
#include "common/db/idempotency.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/validation/input_checks.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/gate/gate_rows.h"
#include "services/subscriptions/proof_checks.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/shared_statements.h"
#include "services/subscriptions/subject_rows.h"

namespace herald::subscriptions {
namespace {

// An open request on the duplicate (a revocation awaiting its scheduled destruction, say)
// would be closed unanswered once the duplicate is no longer active.
constexpr db::Statement kOpenPrivacyRequest{"privacy_requests.open_of_subject", R"sql(
  SELECT 1
  FROM privacy_requests
  WHERE subject_id = $1::uuid
    AND status = 'open'
  LIMIT 1
)sql"};
// Moves the duplicate's addresses the survivor does not have yet; the rest are deleted by
// kDropAddresses. Ids and added_at stay, so each address keeps its place in the order the
// gate picks a primary address by.
constexpr db::Statement kMoveAddresses{"addresses.move_to_survivor", R"sql(
  UPDATE addresses m
  SET subject_id = $2::uuid
  WHERE m.subject_id = $1::uuid
    AND NOT EXISTS (
      SELECT 1
      FROM addresses s
      WHERE s.subject_id = $2::uuid AND s.kind = m.kind AND s.match_key = m.match_key
    )
)sql"};
constexpr db::Statement kDropAddresses{"addresses.drop_of_merged", R"sql(
  DELETE FROM addresses
  WHERE subject_id = $1::uuid
)sql"};
// Every refusing preference of the duplicate, set on the survivor under the merge event's
// seq: the newest row decides, so each refusal now outranks every narrower opt-in of the
// survivor, even one newer than the survivor's own refusal at the same key. The duplicate's
// opt-ins are not carried: they could only loosen the survivor's state.
constexpr db::Statement kCarryOptOuts{"preferences.carry_opt_outs", R"sql(
  INSERT INTO preferences (subject_id, channel, topic, subscribed, seq, updated_at)
  SELECT $2::uuid, channel, topic, false, $3, $4
  FROM preferences
  WHERE subject_id = $1::uuid
    AND NOT subscribed
  ON CONFLICT (subject_id, channel, topic)
  DO UPDATE SET subscribed = false, seq = excluded.seq, updated_at = excluded.updated_at
)sql"};
constexpr db::Statement kCountOptOuts{"preferences.count_opt_outs", R"sql(
  SELECT count(*)
  FROM preferences
  WHERE subject_id = $1::uuid
    AND NOT subscribed
)sql"};
// Consent records are append-only: the duplicate's are copied, each with its original proof
// (source, form, document, call recording, time of the act, who recorded it and when) and
// event, which holds the IP and user agent.
constexpr db::Statement kCopyConsents{"consents.copy_to_survivor", R"sql(
  INSERT INTO consents (
    subject_id, kind, channel, granted, source, form_id, document_version, occurred_at,
    recorded_at, actor, event_id, recording_reference
  )
  SELECT $2::uuid, kind, channel, granted, source, form_id, document_version, occurred_at,
         recorded_at, actor, event_id, recording_reference
  FROM consents
  WHERE subject_id = $1::uuid
  ORDER BY id
)sql"};
constexpr db::Statement kConsentKeys{"consents.keys_of_subject", R"sql(
  SELECT DISTINCT kind, channel
  FROM consents
  WHERE subject_id = $1::uuid
)sql"};
constexpr db::Statement kMarkMerged{"subjects.mark_merged", R"sql(
  UPDATE subjects
  SET state = 'merged', merged_into = $2::uuid, surname = '', given_name = '', patronymic = '',
      time_zone = NULL,
      updated_at = $3
  WHERE id = $1::uuid
)sql"};
// Subjects merged into the duplicate earlier now point at the survivor: one hop always
// reaches a subject that is not merged.
constexpr db::Statement kRepoint{"subjects.repoint_merged", R"sql(
  UPDATE subjects
  SET merged_into = $2::uuid
  WHERE merged_into = $1::uuid
)sql"};
constexpr db::Statement kRevoked{"subjects.revoked", R"sql(
  SELECT revoked
  FROM subjects
  WHERE id = $1::uuid
)sql"};

const char* Role(bool survivor) { return survivor ? "survivor_id" : "merged_id"; }

// A locked subject that may take part in a merge, or the precise refusal.
void CheckMergeable(const std::optional<SubjectGateRow>& row, bool survivor,
                    const std::string& merged_into) {
  if (!row) throw NotFound(std::string(Role(survivor)) + ": subject");
  if (row->state == "merged") {
    throw FailedPrecondition(std::string(Role(survivor)) +
                             ": the subject was already merged into " + merged_into +
                             (survivor ? "; make that subject the survivor" : ""));
  }
  if (row->state != "active") {
    throw FailedPrecondition(std::string(Role(survivor)) +
                             ": the subject was destroyed or depersonalized");
  }
}

}  // namespace

v1::MergeSubjectsResponse SubscriptionRegistry::MergeSubjects(const Caller& caller,
                                                              const v1::MergeSubjectsRequest& r) {
  std::string survivor = validation::RequireUuid("survivor_id", r.survivor_id());
  std::string merged = validation::RequireUuid("merged_id", r.merged_id());
  if (survivor == merged) throw InvalidArgument("merged_id", "must differ from survivor_id");
  Timestamp now = clock_.Now();
  CheckedProof proof = CheckProof("proof", r.proof(), now, false);
  db::IdempotencyKey idem(caller, "MergeSubjects", r.idempotency_key(), r);

  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  v1::MergeSubjectsResponse resp;
  resp.set_survivor_id(survivor);
  if (auto stored = idem.Claim(*conn, txn, now)) {
    resp.set_changed((*stored)["changed"]);
    resp.set_addresses_moved((*stored)["addresses_moved"]);
    resp.set_consents_copied((*stored)["consents_copied"]);
    resp.set_opt_outs_carried((*stored)["opt_outs_carried"]);
    resp.set_blocked((*stored)["blocked"]);
    resp.set_revoked((*stored)["revoked"]);
    txn.commit();
    return resp;
  }

  // Both gate rows, lower id first: two merges of the same pair, in either direction, or a
  // merge and a claim, never wait on each other in a circle.
  std::optional<SubjectGateRow> rows[2];
  const std::string& first = std::min(survivor, merged);
  const std::string& second = std::max(survivor, merged);
  rows[0] = subscriptions::LockSubjectForChange(*conn, txn, first, now);
  rows[1] = subscriptions::LockSubjectForChange(*conn, txn, second, now);
  const std::optional<SubjectGateRow>& s_row = first == survivor ? rows[0] : rows[1];
  const std::optional<SubjectGateRow>& m_row = first == survivor ? rows[1] : rows[0];
  auto merged_into_of = [&](const std::string& id) {
    auto res = conn->Exec(txn, kMergedInto, id);
    return res.empty() ? std::string() : res[0][0].as<std::string>();
  };

  if (m_row && m_row->state == "merged" && merged_into_of(merged) == survivor && s_row &&
      s_row->state == "active") {
    // Done before (M5): the same answer as the merge itself, without its counts.
    resp.set_changed(false);
    resp.set_blocked(s_row->blocked);
    resp.set_revoked(s_row->revoked);
  } else {
    CheckMergeable(s_row, true, s_row ? merged_into_of(survivor) : "");
    CheckMergeable(m_row, false, m_row ? merged_into_of(merged) : "");
    if (!conn->Exec(txn, kOpenPrivacyRequest, merged).empty()) {
      throw FailedPrecondition(
          "merged_id: the subject has an open privacy request; answer it first, or keep this "
          "subject as the survivor");
    }

    // The moving addresses' own gate rows too, in key order, as a claim takes them.
    std::vector<std::string> address_keys;
    for (const auto& row : conn->Exec(txn, kSubjectAddressKeys, merged)) {
      auto kind = static_cast<AddressKind>(row[0].as<int>());
      address_keys.push_back(
          crypto::ToHex(hasher_.Current(KindName(kind), row[1].as<std::string>()).hash));
    }
    std::sort(address_keys.begin(), address_keys.end());
    for (const auto& key : address_keys) LockAddressForChange(*conn, txn, key);

    int moved = static_cast<int>(conn->Exec(txn, kMoveAddresses, merged, survivor).affected_rows());
    conn->Exec(txn, kDropAddresses, merged);
    int consents =
        static_cast<int>(conn->Exec(txn, kCopyConsents, merged, survivor).affected_rows());
    int opt_outs = static_cast<int>(conn->Exec(txn, kCountOptOuts, merged)[0][0].as<int64_t>());
    nlohmann::json details = {{"survivor_id", survivor},     {"merged_id", merged},
                              {"form_id", proof.form_id},    {"addresses_moved", moved},
                              {"consents_copied", consents}, {"opt_outs_carried", opt_outs}};
    int64_t event_id =
        AppendEvent(*conn, txn,
                    {survivor, std::nullopt, EventType::kSubjectMerged, caller.client_id,
                     proof.source, proof.occurred_at, now, details, nlohmann::json::object()});
    conn->Exec(txn, kCarryOptOuts, merged, survivor, event_id, ToIso8601(now));
    DeleteSubjectPreferences(*conn, txn, merged);
    // The survivor's consent state from the joined trail: the newest act decides (M2).
    for (const auto& key : conn->Exec(txn, kConsentKeys, survivor)) {
      RecomputeConsentState(*conn, txn, survivor, key[0].as<int>(), key[1].as<int>(), now);
    }
    // A block or a revocation of either holds for the survivor (M3). The revocation is
    // written to the trail as a withdrawal at the merge, so the derived state still follows
    // the trail and a consent given after the merge lifts it as usual.
    bool blocked = s_row->blocked || m_row->blocked;
    if (blocked && !s_row->blocked) SetSubjectBlocked(*conn, txn, survivor, true, now);
    bool revoked = conn->Exec(txn, kRevoked, survivor)[0][0].as<bool>();
    if (!revoked && (s_row->revoked || m_row->revoked)) {
      RecordProcessingRevocation(*conn, txn, survivor, caller.client_id, proof.source, now,
                                 event_id, now);
      revoked = true;
    }

    conn->Exec(txn, kMarkMerged, merged, survivor, ToIso8601(now));
    conn->Exec(txn, kRepoint, merged, survivor);
    MovePersonalValues(*conn, txn, merged, survivor);
    details["blocked"] = blocked;
    details["revoked"] = revoked;
    AppendEvent(*conn, txn,
                {merged, std::nullopt, EventType::kSubjectMerged, caller.client_id, proof.source,
                 proof.occurred_at, now, details, nlohmann::json::object()});
    resp.set_changed(true);
    resp.set_addresses_moved(moved);
    resp.set_consents_copied(consents);
    resp.set_opt_outs_carried(opt_outs);
    resp.set_blocked(blocked);
    resp.set_revoked(revoked);
  }
  idem.Complete(*conn, txn,
                {{"changed", resp.changed()},
                 {"addresses_moved", resp.addresses_moved()},
                 {"consents_copied", resp.consents_copied()},
                 {"opt_outs_carried", resp.opt_outs_carried()},
                 {"blocked", resp.blocked()},
                 {"revoked", resp.revoked()}});
  txn.commit();
  return resp;
}

}  // namespace herald::subscriptions
