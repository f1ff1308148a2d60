#include "services/crm/writeback_queue.h"

#include <set>

#include "common/db/sql_array.h"
#include "common/db/statement.h"

namespace herald::crm {
namespace {

// A subject is linked when its external_id is a Creatio Contact Id: a GUID (the pattern in
// every statement below).

// The insert is herald_crm_mark_subject (migrations V017, V019), so the gate row's server-side lock
// (herald_lock_subject_for_change) marks with the same text.
constexpr db::Statement kMarkSubject{"crm_outbox.mark_subject", R"sql(
  SELECT herald_crm_mark_subject($1::uuid, $2::timestamptz)
)sql"};
// Claims take turns (for the claiming transaction only, which is short): two workers
// claiming at once from a short queue would otherwise split it between them and send two
// part-filled $batch requests where one full one would do.
constexpr db::Statement kClaimTurn{"crm_outbox.claim_turn", R"sql(
  SELECT pg_advisory_xact_lock(hashtext('herald.crm_outbox.claim'))
)sql"};
// The rows are picked by the (due_at, subject_id) index and updated through the primary key:
// joining the picked ids to the table instead hashed every row of the queue on each claim.
constexpr db::Statement kClaim{"crm_outbox.claim", R"sql(
  UPDATE crm_outbox o
  SET due_at = $3, attempts = o.attempts + 1
  WHERE o.subject_id = ANY(ARRAY(
    SELECT subject_id
    FROM crm_outbox
    WHERE state = 'pending' AND due_at <= $2
      AND NOT EXISTS (SELECT 1 FROM crm_outbox p WHERE p.state IN ('parked', 'parked_auth'))
    ORDER BY due_at, subject_id
    LIMIT $1
    FOR UPDATE SKIP LOCKED))
  RETURNING o.subject_id, o.contact_id, o.revision, o.attempts
)sql"};
constexpr db::Statement kRenew{"crm_outbox.renew", R"sql(
  UPDATE crm_outbox SET due_at = $2 WHERE subject_id = ANY($1::uuid[]) AND state = 'pending'
)sql"};
constexpr db::Statement kFinish{"crm_outbox.finish", R"sql(
  DELETE FROM crm_outbox o
  USING unnest($1::uuid[], $2::bigint[]) AS r(subject_id, revision)
  WHERE o.subject_id = r.subject_id AND o.revision = r.revision
  RETURNING o.subject_id
)sql"};
// A newer change came in while this one was out: send again now, the age of the oldest
// unsent change being that newer change's (close enough: it is at most this old).
constexpr db::Statement kAgain{"crm_outbox.again", R"sql(
  UPDATE crm_outbox
  SET due_at = $2, attempts = 0, last_status = NULL, last_error = ''
  WHERE subject_id = ANY($1::uuid[])
  RETURNING subject_id
)sql"};
constexpr db::Statement kPostpone{"crm_outbox.postpone", R"sql(
  UPDATE crm_outbox
  SET due_at = $2, last_status = NULLIF($3, 0), last_error = $4
  WHERE subject_id = $1::uuid
)sql"};
constexpr db::Statement kStop{"crm_outbox.stop", R"sql(
  UPDATE crm_outbox
  SET state = $2, last_status = NULLIF($3, 0), last_error = $4, parked_at = $5
  WHERE subject_id = $1::uuid
)sql"};
constexpr db::Statement kStatus{"crm_outbox.status", R"sql(
  SELECT
    count(*) FILTER (WHERE state = 'pending'),
    count(*) FILTER (WHERE state = 'parked'),
    count(*) FILTER (WHERE state = 'parked_auth'),
    count(*) FILTER (WHERE state = 'dead'),
    to_char(min(enqueued_at) FILTER (WHERE state <> 'dead') AT TIME ZONE 'UTC',
            'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    (SELECT last_error FROM crm_outbox WHERE state IN ('parked', 'parked_auth')
     ORDER BY parked_at DESC LIMIT 1)
  FROM crm_outbox
)sql"};
constexpr db::Statement kRetry{"crm_outbox.retry", R"sql(
  UPDATE crm_outbox
  SET state = 'pending', due_at = $1, attempts = 0, parked_at = NULL
  WHERE state IN ('parked', 'parked_auth') OR ($2 AND state = 'dead')
)sql"};
constexpr db::Statement kMarkLinkedPage{"crm_outbox.mark_linked_page", R"sql(
  WITH page AS (
    SELECT id, lower(external_id)::uuid AS contact_id
    FROM subjects
    WHERE id > $1::uuid AND state = 'active'
      AND external_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
    ORDER BY id
    LIMIT $2
  ), marked AS (
    INSERT INTO crm_outbox (subject_id, contact_id, enqueued_at, due_at)
    SELECT id, contact_id, $3, $3 FROM page
    ON CONFLICT (subject_id)
    DO UPDATE SET revision = crm_outbox.revision + 1
    RETURNING 1
  )
  SELECT (SELECT max(id::text) FROM page), (SELECT count(*) FROM marked)
)sql"};
constexpr db::Statement kCountLinked{"crm_outbox.count_linked", R"sql(
  SELECT count(*) FROM subjects
  WHERE state = 'active'
    AND external_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
)sql"};
constexpr db::Statement kPurge{"crm_outbox.purge", R"sql(
  DELETE FROM crm_outbox WHERE state IN ('parked', 'parked_auth', 'dead') AND parked_at < $1
)sql"};
constexpr db::Statement kForget{"crm_outbox.forget", R"sql(
  DELETE FROM crm_outbox WHERE subject_id = $1::uuid
)sql"};

const char* StateName(StopReason reason) {
  switch (reason) {
    case StopReason::kParked:
      return "parked";
    case StopReason::kParkedAuth:
      return "parked_auth";
    case StopReason::kDead:
      return "dead";
  }
  return "parked";
}

}  // namespace

void MarkSubject(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                 Timestamp now) {
  conn.Exec(txn, kMarkSubject, subject_id, ToIso8601(now));
}

std::vector<ClaimedRow> ClaimDue(db::Connection& conn, pqxx::transaction_base& txn, int limit,
                                 Timestamp now, std::chrono::milliseconds lease) {
  std::vector<ClaimedRow> rows;
  conn.Exec(txn, kClaimTurn);
  for (const auto& r : conn.Exec(txn, kClaim, limit, ToIso8601(now), ToIso8601(now + lease))) {
    rows.push_back(
        {r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<int64_t>(), r[3].as<int>()});
  }
  return rows;
}

void RenewLease(db::Connection& conn, pqxx::transaction_base& txn,
                const std::vector<std::string>& subject_ids, Timestamp until) {
  if (subject_ids.empty()) return;
  conn.Exec(txn, kRenew, db::ToArrayLiteral(subject_ids), ToIso8601(until));
}

bool Finish(db::Connection& conn, pqxx::transaction_base& txn, const ClaimedRow& row,
            Timestamp now) {
  return FinishAll(conn, txn, {row}, now).empty();
}

std::vector<std::string> FinishAll(db::Connection& conn, pqxx::transaction_base& txn,
                                   const std::vector<ClaimedRow>& rows, Timestamp now) {
  std::vector<std::string> kept;
  if (rows.empty()) return kept;
  std::vector<std::string> subjects;
  std::vector<long long> revisions;
  for (const auto& r : rows) {
    subjects.push_back(r.subject_id);
    revisions.push_back(r.revision);
  }
  std::set<std::string> removed;
  for (const auto& r :
       conn.Exec(txn, kFinish, db::ToArrayLiteral(subjects), db::ToArrayLiteral(revisions))) {
    removed.insert(r[0].as<std::string>());
  }
  std::vector<std::string> newer;
  for (const auto& id : subjects) {
    if (!removed.count(id)) newer.push_back(id);
  }
  if (newer.empty()) return kept;
  for (const auto& r : conn.Exec(txn, kAgain, db::ToArrayLiteral(newer), ToIso8601(now))) {
    kept.push_back(r[0].as<std::string>());
  }
  return kept;
}

void Postpone(db::Connection& conn, pqxx::transaction_base& txn, const ClaimedRow& row,
              Timestamp due, int status, const std::string& error) {
  conn.Exec(txn, kPostpone, row.subject_id, ToIso8601(due), status, error);
}

void Stop(db::Connection& conn, pqxx::transaction_base& txn, const ClaimedRow& row,
          StopReason reason, int status, const std::string& error, Timestamp now) {
  conn.Exec(txn, kStop, row.subject_id, StateName(reason), status, error, ToIso8601(now));
}

QueueStatus ReadStatus(db::Connection& conn, pqxx::transaction_base& txn) {
  auto r = conn.Exec(txn, kStatus)[0];
  QueueStatus s;
  s.pending = r[0].as<int64_t>();
  s.parked = r[1].as<int64_t>();
  s.parked_auth = r[2].as<int64_t>();
  s.dead = r[3].as<int64_t>();
  if (!r[4].is_null()) s.oldest = ParseTimestamp(r[4].as<std::string>());
  if (!r[5].is_null()) s.last_error = r[5].as<std::string>();
  return s;
}

int64_t Retry(db::Connection& conn, pqxx::transaction_base& txn, bool include_dead, Timestamp now) {
  return conn.Exec(txn, kRetry, ToIso8601(now), include_dead).affected_rows();
}

std::string MarkLinkedPage(db::Connection& conn, pqxx::transaction_base& txn,
                           const std::string& after, int limit, Timestamp now, int64_t* marked) {
  auto r = conn.Exec(txn, kMarkLinkedPage,
                     after.empty() ? std::string("00000000-0000-0000-0000-000000000000") : after,
                     limit, ToIso8601(now))[0];
  *marked = r[1].as<int64_t>();
  return r[0].is_null() ? std::string() : r[0].as<std::string>();
}

int64_t CountLinked(db::Connection& conn, pqxx::transaction_base& txn) {
  return conn.Exec(txn, kCountLinked)[0][0].as<int64_t>();
}

int64_t PurgeStopped(db::Connection& conn, pqxx::transaction_base& txn, Timestamp before) {
  return conn.Exec(txn, kPurge, ToIso8601(before)).affected_rows();
}

void Forget(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id) {
  conn.Exec(txn, kForget, subject_id);
}

}  // namespace herald::crm
