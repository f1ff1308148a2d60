#include "services/privacy/subject_erasure.h"

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/domain/enums.h"
#include "common/error.h"
#include "common/validation/input_checks.h"
#include "herald/v1/common.pb.h"
#include "services/dispatch/ledger/message_ledger.h"
#include "services/subscriptions/event_log.h"

namespace herald::privacy {
namespace {

// The gate row first, exactly as the registry's opt-outs take it: a claim that locked it
// FOR SHARE has committed before this point, and every later claim sees the new state.
constexpr db::Statement kLockSubject{
    "erasure.lock_subject",
    "UPDATE subjects SET gate_version = gate_version + 1 WHERE id = $1::uuid"
    " RETURNING state, surname, given_name, patronymic, external_id IS NOT NULL"};
constexpr db::Statement kAddresses{
    "erasure.addresses",
    "SELECT kind, match_key FROM addresses WHERE subject_id = $1::uuid ORDER BY id"};
constexpr db::Statement kBumpAddressGate{
    "erasure.bump_address_gate",
    "INSERT INTO address_gates (address_key, version) VALUES (decode($1, 'hex'), 1)"
    " ON CONFLICT (address_key) DO UPDATE SET version = address_gates.version + 1"};
constexpr db::Statement kCoveringSuppression{
    "erasure.covering_suppression",
    "SELECT 1 FROM suppressions WHERE address_key IN"
    " (SELECT decode(k, 'hex') FROM unnest($1::text[]) AS k) AND lifted_at IS NULL"
    " AND channel = 0 AND topic = '' LIMIT 1"};
constexpr db::Statement kInsertSuppression{
    "erasure.insert_suppression",
    "INSERT INTO suppressions (key_id, address_key, channel, topic, reason, source, created_at,"
    " event_id) VALUES ($1, decode($2, 'hex'), 0, '', $3, $4, $5, $6)"};
// Personal values behind the subject's events and consents, and behind events about its
// addresses (address opt-outs keep the address and the click's IP there).
constexpr db::Statement kDeletePersonal{
    "erasure.delete_event_personal",
    "DELETE FROM event_personal WHERE subject_id = $1::uuid"
    " OR address_key IN (SELECT decode(k, 'hex') FROM unnest($2::text[]) AS k)"};
constexpr db::Statement kDeleteAddresses{"erasure.delete_addresses",
                                         "DELETE FROM addresses WHERE subject_id = $1::uuid"};
constexpr db::Statement kDeletePreferences{"erasure.delete_preferences",
                                           "DELETE FROM preferences WHERE subject_id = $1::uuid"};
constexpr db::Statement kBlankSubject{
    "erasure.blank_subject",
    "UPDATE subjects SET surname = '', given_name = '', patronymic = '', external_id = NULL,"
    " state = $2, updated_at = $3 WHERE id = $1::uuid"};
constexpr db::Statement kInsertRecord{
    "erasure.insert_destruction_record",
    "INSERT INTO destruction_records (id, subject_id, subject_full_name, categories,"
    " information_system, reason, method, performed_at, performed_by, purge_after)"
    " VALUES (gen_random_uuid(), $1::uuid, $2, $3::text[], $4, $5, $6, $7, $8,"
    " $7::timestamptz + make_interval(years => $9)) RETURNING id::text"};

std::string Join(std::initializer_list<std::string> parts) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

}  // namespace

SubjectErasure::SubjectErasure(db::Pool& pool, const Clock& clock,
                               const crypto::SuppressionHasher& hasher, ErasureSettings settings)
    : pool_(pool), clock_(clock), hasher_(hasher), settings_(std::move(settings)) {}

std::string SubjectErasure::Destroy(const std::string& subject_id, const std::string& reason,
                                    const std::string& performed_by) {
  return Run(subject_id, reason, performed_by, Mode::kDestroy, nullptr).record_id;
}

SubjectErasure::Erased SubjectErasure::Destroy(const std::string& subject_id,
                                               const std::string& reason,
                                               const std::string& performed_by,
                                               db::IdempotencyKey& idem) {
  return Run(subject_id, reason, performed_by, Mode::kDestroy, &idem);
}

SubjectErasure::Erased SubjectErasure::Depersonalize(const std::string& subject_id,
                                                     const std::string& reason,
                                                     const std::string& performed_by,
                                                     db::IdempotencyKey& idem) {
  return Run(subject_id, reason, performed_by, Mode::kDepersonalize, &idem);
}

std::string SubjectErasure::Depersonalize(const std::string& subject_id, const std::string& reason,
                                          const std::string& performed_by) {
  return Run(subject_id, reason, performed_by, Mode::kDepersonalize, nullptr).record_id;
}

SubjectErasure::Erased SubjectErasure::Run(const std::string& subject_id_in,
                                           const std::string& reason,
                                           const std::string& performed_by, Mode mode,
                                           db::IdempotencyKey* idem) {
  std::string subject_id = validation::RequireUuid("subject_id", subject_id_in);
  validation::CheckText("reason", reason, 1000);
  if (reason.empty()) throw InvalidArgument("reason", "required (it goes into the act)");
  validation::CheckText("performed_by", performed_by, 256);
  if (performed_by.empty()) throw InvalidArgument("performed_by", "required");
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  if (idem) {
    if (auto stored = idem->Claim(*conn, txn, now)) {
      txn.commit();
      return {(*stored)["record_id"], ParseTimestamp((*stored)["at"].get<std::string>())};
    }
  }
  Outcome out = Erase(*conn, txn, subject_id, performed_by, mode, now);
  bool destroy = mode == Mode::kDestroy;
  std::string record_id =
      conn->Exec(txn, kInsertRecord, subject_id, out.full_name, db::ToArrayLiteral(out.categories),
                 settings_.information_system, reason,
                 std::string(destroy ? kDestroyMethod : kDepersonalizeMethod), ToIso8601(now),
                 performed_by, settings_.destruction_record_years)[0][0]
          .as<std::string>();
  subscriptions::AppendEvent(
      *conn, txn,
      {subject_id,
       std::nullopt,
       destroy ? "subject.destroyed" : "subject.depersonalized",
       performed_by,
       v1::OPERATOR,
       now,
       now,
       {{"destruction_record_id", record_id}, {"categories", out.categories}},
       nlohmann::json::object()});
  if (idem) idem->Complete(*conn, txn, {{"record_id", record_id}, {"at", ToIso8601(now)}});
  txn.commit();
  return {record_id, now};
}

SubjectErasure::Outcome SubjectErasure::Erase(db::Connection& conn, pqxx::transaction_base& txn,
                                              const std::string& subject_id,
                                              const std::string& performed_by, Mode mode,
                                              Timestamp now) {
  auto locked = conn.Exec(txn, kLockSubject, subject_id);
  if (locked.empty()) throw NotFound("subject_id: subject");
  std::string state = locked[0][0].as<std::string>();
  if (state == "destroyed") {
    throw FailedPrecondition("subject_id: the subject was already destroyed");
  }
  if (mode == Mode::kDepersonalize && state == "depersonalized") {
    throw FailedPrecondition("subject_id: the subject was already depersonalized");
  }
  Outcome out;
  out.full_name = Join({locked[0][1].as<std::string>(), locked[0][2].as<std::string>(),
                        locked[0][3].as<std::string>()});
  bool had_external_id = locked[0][4].as<bool>();

  // Every address becomes a suppression under its keyed hash before it is deleted.
  std::vector<std::string> kinds, match_keys, all_hashes;
  int emails = 0, phones = 0;
  for (const auto& row : conn.Exec(txn, kAddresses, subject_id)) {
    auto kind = static_cast<AddressKind>(row[0].as<int>());
    std::string match_key = row[1].as<std::string>();
    (kind == AddressKind::kEmail ? emails : phones)++;
    kinds.push_back(std::to_string(static_cast<int>(kind)));
    match_keys.push_back(match_key);
    std::vector<std::string> hashes;
    for (const auto& h : hasher_.All(KindName(kind), match_key)) {
      hashes.push_back(crypto::ToHex(h.hash));
    }
    all_hashes.insert(all_hashes.end(), hashes.begin(), hashes.end());
    crypto::SuppressionHash current = hasher_.Current(KindName(kind), match_key);
    conn.Exec(txn, kBumpAddressGate, crypto::ToHex(current.hash));
    if (!conn.Exec(txn, kCoveringSuppression, db::ToArrayLiteral(hashes)).empty()) continue;
    int64_t event_id = subscriptions::AppendEvent(
        conn, txn,
        {std::nullopt,
         current.hash,
         "suppression.added",
         performed_by,
         v1::OPERATOR,
         now,
         now,
         {{"scope", "ALL_MARKETING"},
          {"kind", KindName(kind)},
          {"reason", "REVOKED"},
          {"cause", mode == Mode::kDestroy ? "subject destroyed" : "subject depersonalized"}},
         nlohmann::json::object()});
    conn.Exec(txn, kInsertSuppression, current.key_id, crypto::ToHex(current.hash), 5 /* REVOKED */,
              static_cast<int>(v1::OPERATOR), ToIso8601(now), event_id);
  }

  auto personal = conn.Exec(txn, kDeletePersonal, subject_id, db::ToArrayLiteral(all_hashes));
  // The subject's messages, and messages to its addresses under no or another subject id.
  // Messages a worker holds right now are left to the retention sweep, which scrubs them once
  // they settle: their worker still needs the recipient for the one attempt in flight.
  const dispatch::ledger::Recipient recipient{subject_id, kinds, match_keys};
  dispatch::ledger::CancelForErasure(conn, txn, recipient, now);
  auto scrubbed = dispatch::ledger::ScrubForErasure(conn, txn, recipient, now);
  conn.Exec(txn, kDeleteAddresses, subject_id);
  int64_t preferences = 0;
  if (mode == Mode::kDestroy) {
    preferences = conn.Exec(txn, kDeletePreferences, subject_id).affected_rows();
  }
  conn.Exec(txn, kBlankSubject, subject_id,
            std::string(mode == Mode::kDestroy ? "destroyed" : "depersonalized"), ToIso8601(now));

  // Categories of data destroyed, in the words of the act.
  if (!out.full_name.empty()) out.categories.push_back("full name");
  if (had_external_id) out.categories.push_back("CRM identifier");
  if (emails) out.categories.push_back("e-mail addresses");
  if (phones) out.categories.push_back("phone numbers");
  if (personal.affected_rows()) {
    out.categories.push_back(
        "personal values in the event trail (IP addresses, user agents, names, addresses)");
  }
  if (scrubbed.messages) {
    out.categories.push_back("message recipient addresses and content");
  }
  if (scrubbed.attempt_details) out.categories.push_back("provider responses");
  if (preferences) out.categories.push_back("subscription preferences");
  return out;
}

}  // namespace herald::privacy
