#include "services/subscriptions/blocked_reads.h"

#include "common/db/statement.h"
#include "common/error.h"

namespace herald::subscriptions {
namespace {

constexpr db::Statement kBlocked{"subjects.blocked",
                                 "SELECT blocked FROM subjects WHERE id = $1::uuid"};

}  // namespace

void RefuseBlockedRead(const Caller& caller, bool blocked) {
  if (blocked && !caller.privacy_scope) throw FailedPrecondition("subject is blocked");
}

void RefuseBlockedRead(db::Connection& conn, pqxx::transaction_base& txn, const Caller& caller,
                       const std::string& subject_id) {
  if (caller.privacy_scope) return;
  auto rows = conn.Exec(txn, kBlocked, subject_id);
  if (!rows.empty()) RefuseBlockedRead(caller, rows[0][0].as<bool>());
}

}  // namespace herald::subscriptions
