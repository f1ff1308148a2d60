#include "tests/support/test_database.h"

#include <unistd.h>

#include <atomic>
#include <pqxx/pqxx>
#include <random>

#include "common/crypto/hash.h"
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

std::string TemplateName() {
  std::string all;
  for (const auto& m : db::BuiltInMigrations()) {
    all += std::to_string(m.version) + '\n' + m.name + '\n' + m.sql + '\n';
  }
  return "herald_template_" + crypto::ToHex(crypto::Sha256(all)).substr(0, 16);
}

namespace {

// The template every test database is copied from: the migrations run once per cluster and
// migration set (its name carries their digest), not once per test. Test processes run in
// parallel (ctest -j, one process per TEST), so it is built under an advisory lock on the
// admin database, into a side name renamed into place once complete: a process that died
// half-way leaves no template that looks finished.
void EnsureTemplate(const std::string& admin_url, const std::string& name) {
  pqxx::connection admin(admin_url);
  pqxx::nontransaction txn(admin);
  txn.exec("SELECT pg_advisory_lock(hashtext('herald_test_template'))");
  if (!txn.exec_params("SELECT 1 FROM pg_database WHERE datname = $1", name).empty()) return;
  const std::string building = name + "_building";
  txn.exec("DROP DATABASE IF EXISTS " + building + " WITH (FORCE)");
  txn.exec("CREATE DATABASE " + building);
  {
    pqxx::connection conn(WithDatabase(admin_url, building));
    db::ApplyMigrations(conn, db::BuiltInMigrations());
  }
  txn.exec("ALTER DATABASE " + building + " RENAME TO " + name);
  // Templates of older migration sets are dead weight in a long-lived cluster.
  for (const auto& row :
       txn.exec_params("SELECT datname FROM pg_database WHERE datname LIKE 'herald\\_template\\_%'"
                       " AND datname <> $1",
                       name)) {
    txn.exec("DROP DATABASE IF EXISTS " + row[0].as<std::string>() + " WITH (FORCE)");
  }
}  // closing the connection releases the lock

}  // namespace

std::unique_ptr<TestDatabase> TestDatabase::Create() {
  const char* url = std::getenv("HERALD_TEST_DATABASE_URL");
  if (!url || !*url) return nullptr;
  static const std::string template_name = [&] {
    std::string name = TemplateName();
    EnsureTemplate(url, name);
    return name;
  }();
  // Unique within the process (the counter) and across processes of the cluster (pid and a
  // random part, for pids reused by later runs whose databases a crash left behind).
  static std::atomic<int> counter{0};
  std::random_device rd;
  std::string name = "herald_test_" + std::to_string(getpid()) + "_" + std::to_string(++counter) +
                     "_" + std::to_string(rd() % 100000);
  {
    pqxx::connection admin(url);
    pqxx::nontransaction(admin).exec("CREATE DATABASE " + name + " TEMPLATE " + template_name);
  }
  return std::unique_ptr<TestDatabase>(new TestDatabase(url, WithDatabase(url, name), name));
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
