#pragma once

// The scan behind the destruction proof (STANDARDS L1, L3): row_to_json(t)::text of
// every row of every ordinary table outside the system schemas, found in pg_catalog (never a
// list kept by hand, so a table added later is scanned too), searched for every needle as
// stored and ASCII-lower-cased. Shared by the db-level test and the end-to-end one.
#include <cctype>
#include <cstdint>
#include <pqxx/pqxx>
#include <set>
#include <string>
#include <vector>

namespace herald::testing {

struct PersonalDataHit {
  std::string table;   // schema.table
  std::string needle;  // the form of the data found
};

struct PersonalDataScan {
  int tables = 0;
  int64_t rows = 0;
  std::vector<PersonalDataHit> hits;

  std::set<std::string> TablesHit() const {
    std::set<std::string> out;
    for (const auto& h : hits) out.insert(h.table);
    return out;
  }
};

inline std::string AsciiLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

inline PersonalDataScan ScanEveryTable(const std::string& dsn,
                                       const std::vector<std::string>& needles) {
  pqxx::connection conn(dsn);
  pqxx::work txn(conn);
  PersonalDataScan scan;
  auto tables = txn.exec(
      "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c"
      " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p')"
      " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
      " AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1");
  std::vector<std::string> lowered;
  for (const auto& n : needles) lowered.push_back(AsciiLower(n));
  for (const auto& t : tables) {
    std::string table = t[0].as<std::string>();
    ++scan.tables;
    for (const auto& row : txn.exec("SELECT row_to_json(t)::text FROM " + table + " t")) {
      ++scan.rows;
      std::string text = row[0].as<std::string>();
      std::string lower = AsciiLower(text);
      for (size_t i = 0; i < needles.size(); ++i) {
        if (text.find(needles[i]) != std::string::npos ||
            lower.find(lowered[i]) != std::string::npos) {
          scan.hits.push_back({table, needles[i]});
        }
      }
    }
  }
  return scan;
}

}  // namespace herald::testing
