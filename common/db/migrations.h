#pragma once

#include <pqxx/pqxx>
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

// Applies what is missing, each file in its own transaction, under a session advisory lock
// so replicas starting together do not race. Returns how many were applied.
int ApplyMigrations(pqxx::connection& conn, const std::vector<Migration>& migrations);

// Whether every migration is applied (for /readyz).
bool MigrationsCurrent(pqxx::connection& conn, const std::vector<Migration>& migrations);

}  // namespace herald::db
