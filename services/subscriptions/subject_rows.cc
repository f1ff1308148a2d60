#include "services/subscriptions/subject_rows.h"

#include "common/db/statement.h"
#include "common/domain/enums.h"
#include "herald/v1/subscriptions.pb.h"

namespace herald::subscriptions {
namespace {

constexpr db::Statement kSetBlocked{"subjects.set_blocked", R"sql(
  UPDATE subjects
  SET blocked = $2, updated_at = $3
  WHERE id = $1::uuid
)sql"};
// $2: the processing consent kind; $8: the any-channel number, as processing consent is not
// per channel.
constexpr db::Statement kInsertWithdrawal{"consents.insert_withdrawal", R"sql(
  INSERT INTO consents (
    subject_id, kind, channel, granted, source, occurred_at, recorded_at, actor, event_id
  )
  VALUES ($1::uuid, $2, $8, false, $3, $4, $5, $6, $7)
)sql"};
constexpr db::Statement kSetRevoked{"subjects.set_revoked", R"sql(
  UPDATE subjects
  SET revoked = true, processing_consent = false, updated_at = $2
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kRectify{"subjects.rectify", R"sql(
  UPDATE subjects
  SET surname = $2, given_name = $3, patronymic = $4, locale = $5, updated_at = $6
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kDeleteAddresses{"addresses.delete_of_subject", R"sql(
  DELETE FROM addresses
  WHERE subject_id = $1::uuid
)sql"};
constexpr db::Statement kDeletePreferences{"preferences.delete_of_subject", R"sql(
  DELETE FROM preferences
  WHERE subject_id = $1::uuid
)sql"};
constexpr db::Statement kBlank{"subjects.blank", R"sql(
  UPDATE subjects
  SET surname = '', given_name = '', patronymic = '', external_id = NULL, time_zone = NULL,
      state = $2,
      updated_at = $3
  WHERE id = $1::uuid
)sql"};

constexpr db::Statement kLiveOwners{"addresses.live_owners", R"sql(
  SELECT a.subject_id::text, s.locale
  FROM addresses a
  JOIN subjects s ON s.id = a.subject_id AND s.state = 'active'
  WHERE a.kind = $1
    AND a.match_key = $2
  ORDER BY a.subject_id
)sql"};

}  // namespace

void SetSubjectBlocked(db::Connection& conn, pqxx::transaction_base& txn,
                       const std::string& subject_id, bool blocked, Timestamp now) {
  conn.Exec(txn, kSetBlocked, subject_id, blocked, ToIso8601(now));
}

void RecordProcessingRevocation(db::Connection& conn, pqxx::transaction_base& txn,
                                const std::string& subject_id, const std::string& actor, int source,
                                Timestamp occurred_at, int64_t event_id, Timestamp now) {
  conn.Exec(txn, kInsertWithdrawal, subject_id, static_cast<int>(v1::PROCESSING), source,
            ToIso8601(occurred_at), ToIso8601(now), actor, event_id, kAnyChannel);
  conn.Exec(txn, kSetRevoked, subject_id, ToIso8601(now));
}

void RectifySubject(db::Connection& conn, pqxx::transaction_base& txn,
                    const std::string& subject_id, const SubjectNames& names, Timestamp now) {
  conn.Exec(txn, kRectify, subject_id, names.surname, names.given_name, names.patronymic,
            names.locale, ToIso8601(now));
}

void DeleteSubjectAddresses(db::Connection& conn, pqxx::transaction_base& txn,
                            const std::string& subject_id) {
  conn.Exec(txn, kDeleteAddresses, subject_id);
}

int64_t DeleteSubjectPreferences(db::Connection& conn, pqxx::transaction_base& txn,
                                 const std::string& subject_id) {
  return conn.Exec(txn, kDeletePreferences, subject_id).affected_rows();
}

void BlankSubject(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                  const std::string& state, Timestamp now) {
  conn.Exec(txn, kBlank, subject_id, state, ToIso8601(now));
}

std::vector<AddressOwner> LiveOwnersOf(db::Connection& conn, pqxx::transaction_base& txn,
                                       AddressKind kind, const std::string& match_key) {
  std::vector<AddressOwner> out;
  for (const auto& row : conn.Exec(txn, kLiveOwners, static_cast<int>(kind), match_key)) {
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>()});
  }
  return out;
}

}  // namespace herald::subscriptions
