#include "common/db/migrations.h"

#include "common/log/log.h"

namespace herald::db {
namespace {

// pg_advisory_lock key: "herald migrations".
constexpr long long kMigrationLockKey = 0x6865726d6967LL;

constexpr char kCreateTable[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)";

int MaxApplied(pqxx::transaction_base& txn) {
  auto r = txn.exec(
      "SELECT coalesce(max(version), 0) FROM schema_migrations");
  return r[0][0].as<int>();
}

}  // namespace

int ApplyMigrations(pqxx::connection& conn, const std::vector<Migration>& migrations) {
  pqxx::nontransaction(conn).exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
  int applied = 0;
  try {
    {
      pqxx::work w(conn);
      w.exec(kCreateTable);
      w.commit();
    }
    for (const auto& m : migrations) {
      pqxx::work w(conn);
      if (MaxApplied(w) >= m.version) continue;
      w.exec(m.sql);
      // Migration bookkeeping is the one place that reads the server clock: it records
      // operations on the schema, not facts about people.
      w.exec_params("INSERT INTO schema_migrations (version, name, applied_at) "
                    "VALUES ($1, $2, clock_timestamp())",
                    m.version, m.name);
      w.commit();
      ++applied;
      log::Info("migration applied", {{"version", m.version}, {"name", m.name}});
    }
  } catch (...) {
    pqxx::nontransaction(conn).exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    throw;
  }
  pqxx::nontransaction(conn).exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
  return applied;
}

bool MigrationsCurrent(pqxx::connection& conn, const std::vector<Migration>& migrations) {
  pqxx::read_transaction r(conn);
  auto exists = r.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return false;
  int max = MaxApplied(r);
  return migrations.empty() || max >= migrations.back().version;
}

}  // namespace herald::db
