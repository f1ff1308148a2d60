#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"
#include "common/db/pool.h"
#include "services/privacy/erasure_settings.h"

namespace herald::privacy {

// One destruction (or depersonalization) as Roskomnadzor order 179 wants it recorded.
struct DestructionRecord {
  std::string id;
  std::string subject_id;
  std::string subject_full_name;
  std::vector<std::string> categories;
  std::string information_system;
  std::string reason;
  std::string method;
  Timestamp performed_at;
  std::string performed_by;
  Timestamp purge_after;
};

struct DestructionRecordPage {
  std::vector<DestructionRecord> records;
  std::string next_page_token;  // empty on the last page
};

// The table's only writers, in the caller's transaction. InsertDestructionRecord ignores the
// record's id and purge_after: it returns the new id, and the record is kept until
// performed_at plus `keep_years` (calendar years, counted by PostgreSQL).
std::string InsertDestructionRecord(db::Connection& conn, pqxx::transaction_base& txn,
                                    const DestructionRecord& r, int keep_years);
// Deletes up to `limit` records whose keeping period ended by `now`; returns how many.
int64_t PurgeDestructionRecords(db::Connection& conn, pqxx::transaction_base& txn, Timestamp now,
                                int limit);

// Reading destruction records and printing the act. The records are the only place a
// destroyed subject's name survives (L3): callers need the privacy scope.
class DestructionRecords {
 public:
  DestructionRecords(db::Pool& pool, ErasureSettings settings);

  // Newest first (performed_at, then id). page_size 0 means 50, at most 500; since is
  // inclusive, until exclusive.
  DestructionRecordPage List(int page_size, const std::string& page_token,
                             std::optional<Timestamp> since, std::optional<Timestamp> until);
  DestructionRecord Get(const std::string& record_id);
  // The act of destruction as printable text, with the operator's name and address.
  std::string Act(const std::string& record_id);

  static std::string RenderAct(const DestructionRecord& r, const ErasureSettings& settings);

 private:
  db::Pool& pool_;
  ErasureSettings settings_;
};

}  // namespace herald::privacy
