#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/connection.h"
#include "common/domain/enums.h"

namespace herald::subscriptions {

// The gate rows, and the rule the gate's correctness rests on. This is the only place that
// states it and the only code that writes the rows; everything else calls these functions.
//
// Each subject's row in `subjects` and each address's row in
// `address_gates` (keyed by the address's keyed hash under the newest suppression key) is a
// gate row. Two rules:
//
//   1. Change a subject, or anything that decides for an address (a suppression, a
//      preference, a consent, the addresses themselves), only after taking the gate row for
//      change: LockSubjectForChange / LockAddressForChange. The first locks the subject's row
//      FOR NO KEY UPDATE, the second writes the address's row: either lock is exclusive
//      against a claim's FOR SHARE and held until commit. In SQL, the server-side function
//      herald_lock_subject_for_change (migration V017) is the subject's half, for functions
//      that do a whole change in one call (herald_opt_out_subject).
//   2. Claim a message (move it into `sending`, or complete it out of `sending`) only after
//      locking the same rows for claim: LockForClaim, FOR SHARE, in one fixed order
//      (subjects by id, then address keys), so claims and changes cannot deadlock.
//
// So a claim that holds the rows has committed before a change takes them, every claim after
// the change's commit sees the change, and a change's count of messages in `sending` is exact
// at its commit. The gate itself (EligibilityGate) only reads; it runs after LockForClaim in
// dispatch and on its own for CheckEligibility: outside a transaction, each of its (at most
// two) statements reads the newest committed state.

// What the subject's gate row says about the subject, read while it is locked for change.
struct SubjectGateRow {
  std::string state;  // active, destroyed, depersonalized
  bool blocked = false;
  bool revoked = false;
  int marketing_channels = 0;  // bit (1 << channel) set: marketing consent on that channel
};

// Every change takes a gate row, so taking one is also where the change is announced to the
// CRM write-back (services/crm/writeback_queue.h): the subject, or the live subjects owning
// the address, are marked in the same transaction, and their cards are written after commit.

// Rule 1 for a subject: locks its row for change (gate_version is no longer bumped: nothing
// read it, and the lock alone excludes claims). nullopt when there is no such subject.
std::optional<SubjectGateRow> LockSubjectForChange(db::Connection& conn,
                                                   pqxx::transaction_base& txn,
                                                   const std::string& subject_id, Timestamp now);

// Rule 1 for an address, given its keyed hash under the newest key (hex): creates the row
// or bumps its version, and marks the subjects owning the address (kind, match key).
void LockAddressForChange(db::Connection& conn, pqxx::transaction_base& txn,
                          const std::string& key_hex, AddressKind kind,
                          const std::string& match_key, Timestamp now);
// The same for an address known only by its keyed hash (a one-click link to a bare
// address): its owners cannot be found from the hash, so none are marked.
void LockAddressForChange(db::Connection& conn, pqxx::transaction_base& txn,
                          const std::string& key_hex);

// A recipient a claim is about to decide for.
struct ClaimRecipient {
  std::string subject_id;  // may be empty
  Channel channel = Channel::kEmail;
  std::string match_key;
};

// Rule 2: locks the gate rows of these recipients FOR SHARE in the fixed order: the explicit
// subjects and every subject owning one of the addresses, then the address rows (created,
// unversioned, when missing).
void LockForClaim(db::Connection& conn, pqxx::transaction_base& txn,
                  const crypto::SuppressionHasher& hasher,
                  const std::vector<ClaimRecipient>& recipients);

}  // namespace herald::subscriptions
