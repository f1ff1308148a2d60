#include "services/subscriptions/gate/gate_rows.h"

#include <set>

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"

namespace herald::subscriptions {
namespace {

// Takes the row FOR NO KEY UPDATE and marks the CRM write-back, in one round trip; the
// function (migration V017) is shared with the one-call opt-out (herald_opt_out_subject).
constexpr db::Statement kLockSubjectForChange{"gate_rows.lock_subject_for_change", R"sql(
  SELECT state, blocked, revoked, marketing_channels
  FROM herald_lock_subject_for_change($1::uuid, $2::timestamptz)
)sql"};
// The bump (and, given the address, its owners' CRM mark) is herald_lock_address_for_change
// (migration V020), shared with the one-call opt-out by address.
constexpr db::Statement kLockAddressForChange{"gate_rows.lock_address_for_change", R"sql(
  SELECT herald_lock_address_for_change(decode($1, 'hex'), $2::smallint, $3, $4::timestamptz)
)sql"};

constexpr db::Statement kLockSubjectsForClaim{"gate_rows.lock_subjects_for_claim", R"sql(
  SELECT id
  FROM subjects
  WHERE id IN (
    SELECT unnest($1::uuid[])
    UNION
    SELECT a.subject_id
    FROM unnest($2::smallint[], $3::text[]) AS r(kind, mk)
    JOIN addresses a ON a.kind = r.kind AND a.match_key = r.mk
  )
  ORDER BY id
  FOR SHARE
)sql",
                                              /*plan_each_call=*/true};
constexpr db::Statement kEnsureAddressRows{"gate_rows.ensure_address_rows", R"sql(
  INSERT INTO address_gates (address_key, version)
  SELECT decode(k, 'hex'), 0
  FROM unnest($1::text[]) AS k
  ORDER BY 1
  ON CONFLICT (address_key)
  DO NOTHING
)sql"};
constexpr db::Statement kLockAddressesForClaim{"gate_rows.lock_addresses_for_claim", R"sql(
  SELECT 1
  FROM address_gates
  WHERE address_key IN (SELECT decode(k, 'hex') FROM unnest($1::text[]) AS k)
  ORDER BY address_key
  FOR SHARE
)sql",
                                               /*plan_each_call=*/true};

}  // namespace

std::optional<SubjectGateRow> LockSubjectForChange(db::Connection& conn,
                                                   pqxx::transaction_base& txn,
                                                   const std::string& subject_id, Timestamp now) {
  auto rows = conn.Exec(txn, kLockSubjectForChange, subject_id, ToIso8601(now));
  if (rows[0][0].is_null()) return std::nullopt;
  return SubjectGateRow{rows[0][0].as<std::string>(), rows[0][1].as<bool>(), rows[0][2].as<bool>(),
                        rows[0][3].as<int>()};
}

void LockAddressForChange(db::Connection& conn, pqxx::transaction_base& txn,
                          const std::string& key_hex) {
  const std::optional<std::string> none;  // no address: no owners to mark
  conn.Exec(txn, kLockAddressForChange, key_hex, none, none, none);
}

void LockAddressForChange(db::Connection& conn, pqxx::transaction_base& txn,
                          const std::string& key_hex, AddressKind kind,
                          const std::string& match_key, Timestamp now) {
  conn.Exec(txn, kLockAddressForChange, key_hex, static_cast<int>(kind), match_key, ToIso8601(now));
}

void LockForClaim(db::Connection& conn, pqxx::transaction_base& txn,
                  const crypto::SuppressionHasher& hasher,
                  const std::vector<ClaimRecipient>& recipients) {
  std::vector<std::optional<std::string>> subject_ids;
  std::vector<std::string> kinds, match_keys;
  std::set<std::string> gate_key_set;
  for (const auto& r : recipients) {
    if (!r.subject_id.empty()) subject_ids.push_back(r.subject_id);
    AddressKind kind = KindOf(r.channel);
    kinds.push_back(std::to_string(static_cast<int>(kind)));
    match_keys.push_back(r.match_key);
    gate_key_set.insert(crypto::ToHex(hasher.Current(KindName(kind), r.match_key).hash));
  }
  std::vector<std::string> gate_keys(gate_key_set.begin(), gate_key_set.end());
  conn.Exec(txn, kLockSubjectsForClaim, db::ToArrayLiteral(subject_ids), db::ToArrayLiteral(kinds),
            db::ToArrayLiteral(match_keys));
  conn.Exec(txn, kEnsureAddressRows, db::ToArrayLiteral(gate_keys));
  conn.Exec(txn, kLockAddressesForClaim, db::ToArrayLiteral(gate_keys));
}

}  // namespace herald::subscriptions
