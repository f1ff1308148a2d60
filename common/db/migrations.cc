#include "common/db/migrations.h"

#include <cstdio>
#include <map>
#include <optional>

#include "common/crypto/hash.h"
#include "common/log/log.h"

namespace herald::db {
namespace {

// pg_advisory_lock key: "herald migrations".
constexpr long long kMigrationLockKey = 0x6865726d6967LL;

constexpr char kCreateTable[] = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL,
  checksum   text
))sql";
// Tables created before checksums were kept.
constexpr char kAddChecksum[] = R"sql(
ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text)sql";

std::string Label(int version) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "V%03d", version);
  return buf;
}

std::string Label(const Migration& m) { return Label(m.version) + " (" + m.name + ")"; }

struct Applied {
  std::optional<std::string> checksum;
};

std::map<int, Applied> ReadApplied(pqxx::transaction_base& txn) {
  std::map<int, Applied> out;
  for (const auto& r : txn.exec("SELECT version, checksum FROM schema_migrations")) {
    Applied a;
    if (!r[1].is_null()) a.checksum = r[1].as<std::string>();
    out[r[0].as<int>()] = a;
  }
  return out;
}

// The binary's own list: versions 1, 2, 3, ... each once, ascending.
void CheckSequence(const std::vector<Migration>& migrations) {
  for (size_t i = 1; i < migrations.size(); ++i) {
    if (migrations[i].version <= migrations[i - 1].version) {
      throw MigrationError("migrations out of order: " + Label(migrations[i]) + " comes after " +
                           Label(migrations[i - 1]));
    }
  }
  int expected = 1;
  for (const auto& m : migrations) {
    if (m.version != expected) {
      throw MigrationError("migration " + Label(expected) + " is missing: the binary goes from " +
                           (expected == 1 ? std::string("nothing") : Label(expected - 1)) + " to " +
                           Label(m));
    }
    ++expected;
  }
}

// An applied file must not change, and none may be skipped: a version below the highest
// applied one that never ran would stay missing for good.
void CheckAgainstApplied(const std::vector<Migration>& migrations,
                         const std::map<int, Applied>& applied) {
  int highest = applied.empty() ? 0 : applied.rbegin()->first;
  for (const auto& m : migrations) {
    auto it = applied.find(m.version);
    if (it == applied.end()) {
      if (m.version < highest) {
        throw MigrationError("migration " + Label(m) + " is not applied but " + Label(highest) +
                             " is: a migration added below the highest applied number never "
                             "runs; renumber it after " +
                             Label(highest));
      }
      continue;
    }
    if (it->second.checksum && *it->second.checksum != MigrationChecksum(m)) {
      throw MigrationError("migration " + Label(m) +
                           ": checksum differs from the applied file's (it was edited after "
                           "it ran); restore it and put the change in a new migration");
    }
  }
}

}  // namespace

std::string MigrationChecksum(const Migration& m) { return crypto::ToHex(crypto::Sha256(m.sql)); }

int ApplyMigrations(pqxx::connection& conn, const std::vector<Migration>& migrations) {
  CheckSequence(migrations);
  pqxx::nontransaction(conn).exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
  int applied_now = 0;
  try {
    std::map<int, Applied> applied;
    {
      pqxx::work w(conn);
      w.exec(kCreateTable);
      w.exec(kAddChecksum);
      applied = ReadApplied(w);
      CheckAgainstApplied(migrations, applied);
      for (const auto& m : migrations) {
        auto it = applied.find(m.version);
        if (it != applied.end() && !it->second.checksum) {
          w.exec_params("UPDATE schema_migrations SET checksum = $2 WHERE version = $1", m.version,
                        MigrationChecksum(m));
        }
      }
      w.commit();
    }
    int known = migrations.empty() ? 0 : migrations.back().version;
    if (!applied.empty() && applied.rbegin()->first > known) {
      log::Warn("the database has migrations newer than this binary; running on the older schema",
                {{"applied", applied.rbegin()->first}, {"known", known}});
    }
    for (const auto& m : migrations) {
      if (applied.count(m.version)) continue;
      pqxx::work w(conn);
      w.exec(m.sql);
      // Migration bookkeeping is the one place that reads the server clock: it records
      // operations on the schema, not facts about people.
      w.exec_params(
          "INSERT INTO schema_migrations (version, name, applied_at, checksum) "
          "VALUES ($1, $2, clock_timestamp(), $3)",
          m.version, m.name, MigrationChecksum(m));
      w.commit();
      ++applied_now;
      log::Info("migration applied", {{"version", m.version}, {"name", m.name}});
    }
  } catch (...) {
    pqxx::nontransaction(conn).exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    throw;
  }
  pqxx::nontransaction(conn).exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
  return applied_now;
}

bool MigrationsCurrent(pqxx::connection& conn, const std::vector<Migration>& migrations) {
  pqxx::read_transaction r(conn);
  auto exists = r.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (!exists[0][0].as<bool>()) return false;
  bool has_checksum = r.exec(
                           "SELECT EXISTS (SELECT 1 FROM information_schema.columns"
                           " WHERE table_name = 'schema_migrations' AND column_name = 'checksum'"
                           " AND table_schema = current_schema())")[0][0]
                          .as<bool>();
  std::map<int, Applied> applied;
  if (has_checksum) {
    applied = ReadApplied(r);
  } else {
    for (const auto& row : r.exec("SELECT version FROM schema_migrations")) {
      applied[row[0].as<int>()] = Applied{};
    }
  }
  for (const auto& m : migrations) {
    auto it = applied.find(m.version);
    if (it == applied.end()) return false;
    if (it->second.checksum && *it->second.checksum != MigrationChecksum(m)) return false;
  }
  return true;
}

}  // namespace herald::db
