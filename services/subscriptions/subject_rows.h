#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"
#include "common/domain/enums.h"

namespace herald::subscriptions {

// Changes to the registry's own tables (subjects, consents, addresses, preferences) that
// other services make: privacy blocks, revokes, rectifies and erases subjects through these
// functions instead of writing the tables itself. Each runs in the caller's transaction, with
// the subject's gate row already taken for change (gate_rows.h); none appends an event, the
// caller does, since only it knows why.

void SetSubjectBlocked(db::Connection& conn, pqxx::transaction_base& txn,
                       const std::string& subject_id, bool blocked, Timestamp now);

// A withdrawal of consent to processing (a revocation): the consent row, with its event, and
// the subject's derived state (revoked, no processing consent).
void RecordProcessingRevocation(db::Connection& conn, pqxx::transaction_base& txn,
                                const std::string& subject_id, const std::string& actor, int source,
                                Timestamp occurred_at, int64_t event_id, Timestamp now);

struct SubjectNames {
  std::string surname;
  std::string given_name;
  std::string patronymic;
  std::string locale;
};
void RectifySubject(db::Connection& conn, pqxx::transaction_base& txn,
                    const std::string& subject_id, const SubjectNames& names, Timestamp now);

// Erasure. DeleteSubjectAddresses and DeleteSubjectPreferences remove the rows;
// BlankSubject empties the personal fields and sets the final state ("destroyed" or
// "depersonalized"). DeleteSubjectPreferences returns how many rows went.
void DeleteSubjectAddresses(db::Connection& conn, pqxx::transaction_base& txn,
                            const std::string& subject_id);
int64_t DeleteSubjectPreferences(db::Connection& conn, pqxx::transaction_base& txn,
                                 const std::string& subject_id);
void BlankSubject(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                  const std::string& state, Timestamp now);

// A read for the services that act on an address (inbound keywords, mail markers): the active
// subjects owning it, in subject id order — the order in which their gate rows are taken for
// change — with each one's locale.
struct AddressOwner {
  std::string subject_id;
  std::string locale;
};
std::vector<AddressOwner> LiveOwnersOf(db::Connection& conn, pqxx::transaction_base& txn,
                                       AddressKind kind, const std::string& match_key);

}  // namespace herald::subscriptions
