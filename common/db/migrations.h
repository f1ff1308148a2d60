#pragma once

#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <vector>

namespace herald::db {

struct Migration {
  int version;
  std::string name;
  std::string sql;
};

// The numbered files of common/db/migrations, compiled into the binary (V001__name.sql).
const std::vector<Migration>& BuiltInMigrations();

// What stops start-up: the binary's list has a gap or a number out of order, a version below
// the highest applied one never ran, or an applied file's text changed since it ran. The
// message names the version and what is wrong.
class MigrationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Lower-case hex SHA-256 of the migration's SQL text, as schema_migrations.checksum keeps it.
std::string MigrationChecksum(const Migration& m);

// Checks the binary's migrations against the database's record (throws MigrationError), then
// applies what is missing, each file in its own transaction, under a session advisory lock so
// replicas starting together do not race. Applied rows recorded without a checksum (by an
// older binary) get theirs. Versions applied beyond the binary's highest (an older binary
// during a rolling upgrade) are logged and allowed. Returns how many were applied.
int ApplyMigrations(pqxx::connection& conn, const std::vector<Migration>& migrations);

// Whether every migration of the binary is applied unchanged (for /readyz); versions newer
// than the binary's do not make it false.
bool MigrationsCurrent(pqxx::connection& conn, const std::vector<Migration>& migrations);

}  // namespace herald::db
