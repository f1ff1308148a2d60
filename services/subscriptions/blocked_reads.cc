#include "services/subscriptions/blocked_reads.h"

#include "common/db/statement.h"
#include "common/error.h"

namespace herald::subscriptions {
namespace {

constexpr db::Statement kBlocked{"subjects.blocked", R"sql(
  SELECT blocked
  FROM subjects
  WHERE id = $1::uuid
)sql"};

}  // namespace

void RefuseBlockedRead(const Caller& caller, bool blocked) {
  if (blocked && !caller.privacy_scope) throw FailedPrecondition("subject is blocked");
}

bool RefuseBlockedRead(db::Connection& conn, pqxx::transaction_base& txn, const Caller& caller,
                       const std::string& subject_id) {
  auto rows = conn.Exec(txn, kBlocked, subject_id);
  if (rows.empty()) return false;
  RefuseBlockedRead(caller, rows[0][0].as<bool>());
  return true;
}

}  // namespace herald::subscriptions
