#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "common/clock.h"
#include "common/db/connection.h"

namespace herald::privacy {

// The flags of a subject that privacy operations change, read with its gate row taken for
// change (services/subscriptions/gate/gate_rows.h).
struct SubjectFlags {
  std::string state;  // active, destroyed, depersonalized
  bool blocked = false;
  bool revoked = false;
};

// The personal fields a subject is named by, read once its gate row is taken (rectification
// compares them, erasure names the subject in the act).
struct PersonalFields {
  std::string surname;
  std::string given_name;
  std::string patronymic;
  std::string locale;
  bool has_external_id = false;
};
PersonalFields ReadPersonalFields(db::Connection& conn, pqxx::transaction_base& txn,
                                  const std::string& subject_id);

// NOT_FOUND for an unknown subject.
SubjectFlags LockSubject(db::Connection& conn, pqxx::transaction_base& txn,
                         const std::string& subject_id, Timestamp now);

// Sets `blocked` and appends subject.blocked / subject.unblocked (non-personal details).
void SetBlocked(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                bool blocked, const std::string& actor, int source, const std::string& reason,
                const std::optional<std::string>& request_id, Timestamp now);

// Revocation of consent to processing (152-FZ art. 9 p. 2): a consent withdrawal record
// with its event, subject.revoked = true. Every dispatch decided after commit is denied
// CONSENT_REVOKED.
void RecordRevocation(db::Connection& conn, pqxx::transaction_base& txn,
                      const std::string& subject_id, const std::string& actor, int source,
                      Timestamp occurred_at, Timestamp now);

}  // namespace herald::privacy
