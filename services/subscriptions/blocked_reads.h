#pragma once

#include <pqxx/pqxx>
#include <string>

#include "common/db/connection.h"
#include "common/grpc/caller.h"

namespace herald::subscriptions {

// 152-FZ art. 21 / STANDARDS L2: while a subject is blocked, CRM-facing reads of it are
// refused (FAILED_PRECONDITION "subject is blocked"); a caller with the privacy scope still
// reads it (the subject's own right of access). Unknown subjects pass: the read itself
// answers NOT_FOUND, and the returned flag says whether the subject exists (the one statement
// answers both).
bool RefuseBlockedRead(db::Connection& conn, pqxx::transaction_base& txn, const Caller& caller,
                       const std::string& subject_id);
// The same check on a flag already read.
void RefuseBlockedRead(const Caller& caller, bool blocked);

}  // namespace herald::subscriptions
