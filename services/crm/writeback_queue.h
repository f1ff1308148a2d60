#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"
#include "common/domain/enums.h"

namespace herald::crm {

// The write-back outbox (crm_outbox): the only code that writes it.
//
// A row says "this linked contact's card may be out of date". Every change that can move a
// subject's derived flags marks the row in the change's own transaction (the gate rows call
// Mark* when they are taken for change), so a crash between commit and delivery loses
// nothing. A subject is linked when its external_id is a Creatio Contact Id (a GUID).
// Marks coalesce: one row per subject, a new mark bumps its revision, and a delivery that
// read revision r removes the row only if it is still r.

// Marks the subject, when it is linked. Keeps a backing-off row's due time (so a burst of
// changes cannot defeat the backoff) and a parked or dead row's state.
void MarkSubject(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                 Timestamp now);
// Every live linked subject owning an address is marked by herald_crm_mark_address_owners
// (migration V020), this queue's rule, which the gate rows' change of an address calls
// server-side (gate_rows.h, LockAddressForChange).

// One claimed row.
struct ClaimedRow {
  std::string subject_id;
  std::string contact_id;
  int64_t revision = 0;
  int attempts = 0;
};

// Leases up to `limit` due pending rows until now + lease (another worker skips them);
// nothing while the queue is parked. Claims take turns, so concurrent workers each get
// whole rounds. The caller commits at once.
std::vector<ClaimedRow> ClaimDue(db::Connection& conn, pqxx::transaction_base& txn, int limit,
                                 Timestamp now, std::chrono::milliseconds lease);

// Extends the lease of these claimed rows to `until` (a round still sending them).
void RenewLease(db::Connection& conn, pqxx::transaction_base& txn,
                const std::vector<std::string>& subject_ids, Timestamp until);

// The row's card is up to date as of `revision`: removes it, or makes it due now when a
// newer change came in meanwhile. Returns false when a newer change keeps it.
bool Finish(db::Connection& conn, pqxx::transaction_base& txn, const ClaimedRow& row,
            Timestamp now);
// The same for many rows in two statements; returns the subject ids of the rows kept (a
// newer change came in while they were out).
std::vector<std::string> FinishAll(db::Connection& conn, pqxx::transaction_base& txn,
                                   const std::vector<ClaimedRow>& rows, Timestamp now);
// Try again at `due` (backoff), keeping the oldest change's age.
void Postpone(db::Connection& conn, pqxx::transaction_base& txn, const ClaimedRow& row,
              Timestamp due, int status, const std::string& error);
// Parks the row ("parked": an unexpected answer that holds the whole queue; "parked_auth":
// Creatio refused the login) or dead-letters it ("dead": the contact is gone).
enum class StopReason { kParked, kParkedAuth, kDead };
void Stop(db::Connection& conn, pqxx::transaction_base& txn, const ClaimedRow& row,
          StopReason reason, int status, const std::string& error, Timestamp now);

struct QueueStatus {
  int64_t pending = 0, parked = 0, parked_auth = 0, dead = 0;
  std::optional<Timestamp> oldest;  // enqueued_at of the oldest row not dead
  std::string last_error;           // the newest parked row's
  bool parked_queue() const { return parked + parked_auth > 0; }
};
QueueStatus ReadStatus(db::Connection& conn, pqxx::transaction_base& txn);

// Parked (and dead, when asked) rows become pending and due now. Returns how many.
int64_t Retry(db::Connection& conn, pqxx::transaction_base& txn, bool include_dead, Timestamp now);

// Marks linked subjects by id order, after `after` (exclusive), at most `limit`; returns the
// last id marked (empty when none were left).
std::string MarkLinkedPage(db::Connection& conn, pqxx::transaction_base& txn,
                           const std::string& after, int limit, Timestamp now, int64_t* marked);
int64_t CountLinked(db::Connection& conn, pqxx::transaction_base& txn);

// Deletes parked and dead rows older than `before`; returns how many.
int64_t PurgeStopped(db::Connection& conn, pqxx::transaction_base& txn, Timestamp before);
// Forgets the subject's row (after a destroyed subject's final write).
void Forget(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id);

}  // namespace herald::crm
