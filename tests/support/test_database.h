#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace herald::testing {

// A fresh database per test, in a PostgreSQL server named by HERALD_TEST_DATABASE_URL (an
// admin DSN), copied from a template the real migrations built once (TemplateName()), and
// dropped at the end.
// Without the variable the test is skipped, except under CI, where it fails: a database
// test must never pass silently because its server did not start.
class TestDatabase {
 public:
  // Returns nullptr (after recording a skip or a failure) when no server is configured.
  static std::unique_ptr<TestDatabase> Create();
  ~TestDatabase();

  const std::string& dsn() const { return dsn_; }
  const std::string& admin_dsn() const { return admin_dsn_; }
  const std::string& name() const { return name_; }

  // Runs SQL and returns the first column of the first row as text ("" if no row).
  std::string Scalar(const std::string& sql) const;
  void Exec(const std::string& sql) const;

 private:
  TestDatabase(std::string admin_dsn, std::string dsn, std::string name);
  std::string admin_dsn_, dsn_, name_;
};

// The template database test databases are copied from: named after a digest of the built-in
// migrations, so a changed migration set builds a new one.
std::string TemplateName();

// The admin DSN with its database name replaced.
std::string WithDatabase(const std::string& admin_dsn, const std::string& dbname);

// Expands to a skip (locally) or a failure (CI) when there is no database.
#define HERALD_REQUIRE_DB(db_ptr)                                 \
  do {                                                            \
    if (!(db_ptr)) {                                              \
      if (::herald::testing::InCi()) {                            \
        FAIL() << "HERALD_TEST_DATABASE_URL is not set under CI"; \
      }                                                           \
      GTEST_SKIP() << "HERALD_TEST_DATABASE_URL is not set";      \
    }                                                             \
  } while (0)

bool InCi();

}  // namespace herald::testing
