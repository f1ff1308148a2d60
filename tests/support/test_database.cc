#include "tests/support/test_database.h"

#include <unistd.h>

#include <pqxx/pqxx>
#include <random>

#include "common/db/migrations.h"

namespace herald::testing {

bool InCi() {
  const char* ci = std::getenv("CI");
  return ci && *ci && std::string(ci) != "0" && std::string(ci) != "false";
}

std::string WithDatabase(const std::string& admin_dsn, const std::string& dbname) {
  auto scheme = admin_dsn.find("://");
  auto slash = admin_dsn.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  auto query = admin_dsn.find('?');
  std::string base = slash == std::string::npos ? admin_dsn : admin_dsn.substr(0, slash);
  std::string rest = query == std::string::npos ? "" : admin_dsn.substr(query);
  return base + "/" + dbname + rest;
}

std::unique_ptr<TestDatabase> TestDatabase::Create() {
  const char* url = std::getenv("HERALD_TEST_DATABASE_URL");
  if (!url || !*url) return nullptr;
  std::random_device rd;
  std::string name = "herald_test_" + std::to_string(getpid()) + "_" + std::to_string(rd() % 100000);
  {
    pqxx::connection admin(url);
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + name);
  }
  std::string dsn = WithDatabase(url, name);
  pqxx::connection conn(dsn);
  db::ApplyMigrations(conn, db::BuiltInMigrations());
  return std::unique_ptr<TestDatabase>(new TestDatabase(url, dsn, name));
}

TestDatabase::TestDatabase(std::string admin_dsn, std::string dsn, std::string name)
    : admin_dsn_(std::move(admin_dsn)), dsn_(std::move(dsn)), name_(std::move(name)) {}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection admin(admin_dsn_);
    pqxx::nontransaction(admin).exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (const std::exception&) {
    // Best effort: a leftover database in a throwaway cluster is harmless.
  }
}

std::string TestDatabase::Scalar(const std::string& sql) const {
  pqxx::connection conn(dsn_);
  pqxx::nontransaction txn(conn);
  auto r = txn.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

void TestDatabase::Exec(const std::string& sql) const {
  pqxx::connection conn(dsn_);
  pqxx::nontransaction(conn).exec(sql);
}

}  // namespace herald::testing
