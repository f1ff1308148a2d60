#pragma once

#include <pqxx/pqxx>
#include <string>

#include "common/clock.h"
#include "common/db/connection.h"

namespace herald::privacy {

// A linked subject (external_id a Creatio Contact Id) revoked or destroyed in Herald is still
// a contact card in Creatio, with the same personal data. Herald cannot destroy that card
// (the write-back only ticks its flags), so it puts the task on the privacy officer's due
// list: an open CRM_DESTROY request, due `due_at`, naming the contact. At most one is open
// per subject; nothing happens for a subject that is not linked.
void OpenCrmCardDestruction(db::Connection& conn, pqxx::transaction_base& txn,
                            const std::string& subject_id, int source, Timestamp due_at,
                            Timestamp now);

}  // namespace herald::privacy
