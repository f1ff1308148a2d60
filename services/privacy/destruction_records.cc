#include "services/privacy/destruction_records.h"

#include <nlohmann/json.hpp>
#include <sstream>

#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/validation/input_checks.h"
#include "common/validation/uuid.h"

namespace herald::privacy {
namespace {

// Both reads return every record column, in the order FromRow reads them.
// The page key is (performed_at, id) of the last row returned, newest first.
constexpr db::Statement kPage{"destruction_records.page", R"sql(
  SELECT id::text, subject_id::text, subject_full_name, array_to_json(categories)::text,
    information_system, reason, method, performed_at::text, performed_by, purge_after::text
  FROM destruction_records
  WHERE ($1::timestamptz IS NULL OR (performed_at, id) < ($1::timestamptz, $2::uuid))
    AND ($3::timestamptz IS NULL OR performed_at >= $3)
    AND ($4::timestamptz IS NULL OR performed_at < $4)
  ORDER BY performed_at DESC, id DESC
  LIMIT $5
)sql"};
constexpr db::Statement kGet{"destruction_records.get", R"sql(
  SELECT id::text, subject_id::text, subject_full_name, array_to_json(categories)::text,
    information_system, reason, method, performed_at::text, performed_by, purge_after::text
  FROM destruction_records
  WHERE id = $1::uuid
)sql"};

constexpr db::Statement kInsert{"destruction_records.insert", R"sql(
  INSERT INTO destruction_records (id, subject_id, subject_full_name, categories,
    information_system, reason, method, performed_at, performed_by, purge_after)
  VALUES (gen_random_uuid(), $1::uuid, $2, $3::text[], $4, $5, $6, $7, $8,
    $7::timestamptz + make_interval(years => $9))
  RETURNING id::text
)sql"};
constexpr db::Statement kPurge{"destruction_records.purge", R"sql(
  WITH d AS (
    DELETE FROM destruction_records
    WHERE id IN (SELECT id FROM destruction_records WHERE purge_after <= $1 LIMIT $2)
    RETURNING 1)
  SELECT count(*) FROM d
)sql"};

DestructionRecord FromRow(const pqxx::row& row) {
  DestructionRecord r;
  r.id = row[0].as<std::string>();
  r.subject_id = row[1].as<std::string>();
  r.subject_full_name = row[2].as<std::string>();
  for (const auto& c : nlohmann::json::parse(row[3].c_str())) {
    r.categories.push_back(c.get<std::string>());
  }
  r.information_system = row[4].as<std::string>();
  r.reason = row[5].as<std::string>();
  r.method = row[6].as<std::string>();
  r.performed_at = ParseTimestamp(row[7].as<std::string>());
  r.performed_by = row[8].as<std::string>();
  r.purge_after = ParseTimestamp(row[9].as<std::string>());
  return r;
}

}  // namespace

std::string InsertDestructionRecord(db::Connection& conn, pqxx::transaction_base& txn,
                                    const DestructionRecord& r, int keep_years) {
  return conn
      .Exec(txn, kInsert, r.subject_id, r.subject_full_name, db::ToArrayLiteral(r.categories),
            r.information_system, r.reason, r.method, ToIso8601(r.performed_at), r.performed_by,
            keep_years)[0][0]
      .as<std::string>();
}

int64_t PurgeDestructionRecords(db::Connection& conn, pqxx::transaction_base& txn, Timestamp now,
                                int limit) {
  return conn.Exec(txn, kPurge, ToIso8601(now), limit)[0][0].as<int64_t>();
}

DestructionRecords::DestructionRecords(db::Pool& pool, ErasureSettings settings)
    : pool_(pool), settings_(std::move(settings)) {}

DestructionRecordPage DestructionRecords::List(int page_size, const std::string& page_token,
                                               std::optional<Timestamp> since,
                                               std::optional<Timestamp> until) {
  if (page_size < 0) throw InvalidArgument("page_size", "must not be negative");
  int limit = validation::PageSize(page_size);
  std::optional<std::string> after_time, after_id;
  if (!page_token.empty()) {
    std::string key = validation::DecodePageToken(page_token);
    auto bar = key.find('|');
    bool ok = bar != std::string::npos && validation::IsUuid(key.substr(bar + 1));
    if (ok) {
      try {
        after_time = ToIso8601(FromUnixMicros(std::stoll(key.substr(0, bar))));
      } catch (const std::exception&) {
        ok = false;
      }
    }
    if (!ok) throw InvalidArgument("page_token", "not a token this call returned");
    after_id = key.substr(bar + 1);
  }
  if (since && until && *until <= *since) {
    throw InvalidArgument("until", "must be after since");
  }
  std::optional<std::string> since_text, until_text;
  if (since) since_text = ToIso8601(*since);
  if (until) until_text = ToIso8601(*until);
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto rows = conn->Exec(txn, kPage, after_time, after_id, since_text, until_text, limit + 1);
  DestructionRecordPage page;
  for (int i = 0; i < static_cast<int>(rows.size()) && i < limit; ++i) {
    page.records.push_back(FromRow(rows[i]));
  }
  if (static_cast<int>(rows.size()) > limit) {
    const auto& last = page.records.back();
    page.next_page_token = validation::EncodePageToken(
        std::to_string(ToUnixMicros(last.performed_at)) + "|" + last.id);
  }
  return page;
}

DestructionRecord DestructionRecords::Get(const std::string& record_id) {
  std::string id = validation::RequireUuid("record_id", record_id);
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto rows = conn->Exec(txn, kGet, id);
  if (rows.empty()) throw NotFound("record_id: destruction record");
  return FromRow(rows[0]);
}

std::string DestructionRecords::Act(const std::string& record_id) {
  return RenderAct(Get(record_id), settings_);
}

std::string DestructionRecords::RenderAct(const DestructionRecord& r, const ErasureSettings& s) {
  auto or_unset = [](const std::string& v) {
    return v.empty() ? std::string("(not configured: set operator.* in the config)") : v;
  };
  std::string date = ToIso8601(r.performed_at);
  std::ostringstream out;
  out << "ACT OF DESTRUCTION OF PERSONAL DATA\n"
      << "(152-FZ art. 21; Roskomnadzor order No. 179 of 28.10.2022)\n\n"
      << "Act No.:                 " << r.id << "\n"
      << "Date:                    " << date.substr(0, 10) << "\n\n"
      << "Operator:                " << or_unset(s.operator_name) << "\n"
      << "Operator's address:      " << or_unset(s.operator_address) << "\n"
      << "Information system:      " << r.information_system << "\n\n"
      << "Data subject:            "
      << (r.subject_full_name.empty() ? "(no name was held)" : r.subject_full_name) << "\n"
      << "Subject identifier:      " << r.subject_id << "\n"
      << "Categories destroyed:\n";
  if (r.categories.empty()) out << "  (none held)\n";
  for (const auto& c : r.categories) out << "  - " << c << "\n";
  out << "Reason:                  " << r.reason << "\n"
      << "Method:                  " << r.method << "\n"
      << "Performed at:            " << date << "\n"
      << "Performed by:            " << r.performed_by << "\n\n"
      << "This act and the matching event-log entry are kept until " << ToIso8601(r.purge_after)
      << ".\n\n"
      << "Signature: ______________________    Name: ______________________\n";
  return out.str();
}

}  // namespace herald::privacy
