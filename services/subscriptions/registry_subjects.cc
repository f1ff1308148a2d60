// Subjects and their addresses: UpsertSubject, GetSubject, FindSubjects.
#include <algorithm>
#include <set>

#include "common/crypto/hash.h"
#include "common/db/idempotency.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/proto_time.h"
#include "common/time/local_time.h"
#include "common/validation/address.h"
#include "common/validation/input_checks.h"
#include "services/subscriptions/blocked_reads.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/subject_rows.h"

namespace herald::subscriptions {
namespace {

constexpr size_t kMaxAddresses = 20;

constexpr db::Statement kLockKey{"subjects.lock_key", R"sql(
  SELECT pg_advisory_xact_lock(hashtextextended($1, 0))
)sql"};
// A merged subject's external id stands for its survivor.
constexpr db::Statement kByExternalId{"subjects.by_external_id", R"sql(
  SELECT coalesce(v.id, s.id)::text, coalesce(v.state, s.state)
  FROM subjects s
  LEFT JOIN subjects v ON v.id = s.merged_into
  WHERE s.external_id = $1
)sql"};
constexpr db::Statement kOwners{"subjects.owners", R"sql(
  SELECT DISTINCT a.subject_id::text, s.external_id IS NULL
  FROM unnest($1::smallint[], $2::text[]) AS r(kind, mk)
  JOIN addresses a ON a.kind = r.kind
    AND a.match_key = r.mk
  JOIN subjects s ON s.id = a.subject_id
    AND s.state = 'active'
  ORDER BY 1
)sql"};
constexpr db::Statement kInsertSubject{"subjects.insert", R"sql(
  INSERT INTO subjects (
    id, external_id, surname, given_name, patronymic, locale, time_zone, created_at, updated_at
  )
  VALUES (gen_random_uuid(), $1, $2, $3, $4, $5, nullif($7, ''), $6, $6)
  RETURNING id::text
)sql"};
constexpr db::Statement kSelectForUpdate{"subjects.select_for_update", R"sql(
  SELECT external_id, surname, given_name, patronymic, locale, coalesce(time_zone, ''), state
  FROM subjects
  WHERE id = $1::uuid
  FOR UPDATE
)sql"};
constexpr db::Statement kUpdateSubject{"subjects.update", R"sql(
  UPDATE subjects
  SET external_id = $2, surname = $3, given_name = $4, patronymic = $5, locale = $6,
      time_zone = nullif($8, ''), updated_at = $7
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kInsertAddress{"addresses.insert", R"sql(
  INSERT INTO addresses (subject_id, kind, value, match_key, added_at)
  VALUES ($1::uuid, $2, $3, $4, $5)
  ON CONFLICT DO NOTHING
  RETURNING id
)sql"};
constexpr db::Statement kLoadSubject{"subjects.load", R"sql(
  SELECT id::text, coalesce(external_id, ''), surname, given_name, patronymic, locale, state,
         blocked, revoked, created_at::text, updated_at::text, coalesce(merged_into::text, ''),
         coalesce(time_zone, '')
  FROM subjects
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kLoadAddresses{"addresses.load", R"sql(
  SELECT kind, value
  FROM addresses
  WHERE subject_id = $1::uuid
  ORDER BY added_at, id
)sql"};
constexpr db::Statement kFindByAddress{"subjects.find_by_address", R"sql(
  SELECT DISTINCT subject_id::text
  FROM addresses
  WHERE kind = $1
    AND match_key = $2
    AND subject_id::text > $3
  ORDER BY 1
  LIMIT $4
)sql"};
// A merged subject's external id finds its survivor.
constexpr db::Statement kFindByExternalId{"subjects.find_by_external_id", R"sql(
  SELECT DISTINCT coalesce(merged_into, id)::text
  FROM subjects
  WHERE external_id = $1
    AND coalesce(merged_into, id)::text > $2
  ORDER BY 1
  LIMIT $3
)sql"};

// Address rectification: the subject's old address, locked, and the new one among its others.
constexpr db::Statement kOwnAddress{"addresses.own_for_update", R"sql(
  SELECT value
  FROM addresses
  WHERE subject_id = $1::uuid
    AND kind = $2
    AND match_key = $3
  FOR UPDATE
)sql"};
constexpr db::Statement kReplaceAddress{"addresses.replace", R"sql(
  UPDATE addresses
  SET value = $4, match_key = $5, added_at = $6
  WHERE subject_id = $1::uuid
    AND kind = $2
    AND match_key = $3
)sql"};

struct NewAddress {
  AddressKind kind;
  std::string value;
  std::string match_key;
};

void CheckExternalId(const std::string& id) {
  if (id.size() > 128) throw InvalidArgument("external_id", "longer than 128 characters");
  for (unsigned char c : id) {
    if (!(isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '{' || c == '}')) {
      throw InvalidArgument("external_id", "letters, digits and -_.:{} only");
    }
  }
}

std::vector<NewAddress> NormalizeAll(const v1::UpsertSubjectRequest& r, const std::string& region) {
  if (static_cast<size_t>(r.emails_size()) > kMaxAddresses) {
    throw InvalidArgument("emails", "at most 20 per call");
  }
  if (static_cast<size_t>(r.phones_size()) > kMaxAddresses) {
    throw InvalidArgument("phones", "at most 20 per call");
  }
  std::vector<NewAddress> out;
  std::set<std::pair<AddressKind, std::string>> seen;
  auto add = [&](const std::string& field, const validation::AddressResult& res, AddressKind k) {
    if (auto* err = std::get_if<validation::AddressError>(&res)) {
      throw InvalidArgument(field, err->message);
    }
    const auto& a = std::get<validation::NormalizedAddress>(res);
    if (seen.insert({k, a.match_key}).second) out.push_back({k, a.value, a.match_key});
  };
  for (int i = 0; i < r.emails_size(); ++i) {
    add("emails[" + std::to_string(i) + "]", validation::NormalizeEmail(r.emails(i)),
        AddressKind::kEmail);
  }
  for (int i = 0; i < r.phones_size(); ++i) {
    add("phones[" + std::to_string(i) + "]", validation::NormalizePhone(r.phones(i), region),
        AddressKind::kPhone);
  }
  return out;
}

}  // namespace

std::pair<std::string, std::string> SubscriptionRegistry::NormalizeAddressOf(
    AddressKind kind, const std::string& field, const std::string& input) const {
  auto res = kind == AddressKind::kEmail
                 ? validation::NormalizeEmail(input)
                 : validation::NormalizePhone(input, gate_.default_region());
  if (auto* err = std::get_if<validation::AddressError>(&res)) {
    throw InvalidArgument(field, err->message);
  }
  const auto& a = std::get<validation::NormalizedAddress>(res);
  return {a.value, a.match_key};
}

void SubscriptionRegistry::LockAddressesForChange(
    db::Connection& conn, pqxx::transaction_base& txn,
    const std::vector<std::pair<AddressKind, std::string>>& match_keys) const {
  std::vector<std::string> lock_keys;
  for (const auto& [kind, match_key] : match_keys) {
    lock_keys.push_back(std::string("subject-a:") + KindName(kind) + ":" + match_key);
  }
  std::sort(lock_keys.begin(), lock_keys.end());
  lock_keys.erase(std::unique(lock_keys.begin(), lock_keys.end()), lock_keys.end());
  for (const auto& k : lock_keys) conn.Exec(txn, kLockKey, k);
}

std::string SubscriptionRegistry::ReplaceAddressWithin(
    db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
    AddressKind kind, const std::string& old_match_key, const std::string& value,
    const std::string& match_key, Timestamp now) {
  const std::string old_field = kind == AddressKind::kEmail ? "old_email" : "old_phone";
  const std::string new_field = kind == AddressKind::kEmail ? "email" : "phone";
  auto own = conn.Exec(txn, kOwnAddress, subject_id, static_cast<int>(kind), old_match_key);
  if (own.empty()) throw Error(ErrorCode::kNotFound, old_field + ": not an address of the subject");
  std::string old_value = own[0][0].as<std::string>();
  if (match_key != old_match_key) {
    for (const auto& owner : LiveOwnersOf(conn, txn, kind, match_key)) {
      if (owner.subject_id != subject_id) {
        throw AlreadyExists(new_field + ": the address belongs to another subject");
      }
      throw FailedPrecondition(new_field + ": the subject already has that address");
    }
  }
  // Both addresses' gate rows, after the subject's: a claim deciding for either is ordered
  // against the change.
  for (const std::string* key : {&old_match_key, &match_key}) {
    LockAddressForChange(conn, txn, crypto::ToHex(hasher_.Current(KindName(kind), *key).hash), kind,
                         *key, now);
    if (match_key == old_match_key) break;
  }
  conn.Exec(txn, kReplaceAddress, subject_id, static_cast<int>(kind), old_match_key, value,
            match_key, ToIso8601(now));
  return old_value;
}

v1::UpsertSubjectResponse SubscriptionRegistry::UpsertSubject(const Caller& caller,
                                                              const v1::UpsertSubjectRequest& r) {
  CheckExternalId(r.external_id());
  validation::CheckText("surname", r.surname(), 256);
  validation::CheckText("given_name", r.given_name(), 256);
  validation::CheckText("patronymic", r.patronymic(), 256);
  if (!r.locale().empty()) validation::CheckLocale("locale", r.locale());
  if (!r.time_zone().empty() && !IsKnownTimeZone(r.time_zone())) {
    throw InvalidArgument("time_zone", "not an IANA time zone name (e.g. Europe/Moscow)");
  }
  if (!v1::Source_IsValid(r.source())) throw InvalidArgument("source", "unknown");
  std::vector<NewAddress> addresses = NormalizeAll(r, gate_.default_region());
  if (r.external_id().empty() && addresses.empty()) {
    throw InvalidArgument("external_id", "give external_id or at least one address");
  }
  db::IdempotencyKey idem(caller, "UpsertSubject", r.idempotency_key(), r);
  int source = r.source() == v1::SOURCE_UNSPECIFIED ? v1::CRM : r.source();

  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  if (auto stored = idem.Claim(*conn, txn, now)) {
    v1::UpsertSubjectResponse resp;
    *resp.mutable_subject() = LoadSubject(*conn, txn, (*stored)["subject_id"]);
    resp.set_created((*stored)["created"]);
    txn.commit();
    return resp;
  }

  // Serialise upserts that could find or create the same subject; keys sorted, no deadlock.
  std::vector<std::string> lock_keys;
  if (!r.external_id().empty()) lock_keys.push_back("subject-x:" + r.external_id());
  for (const auto& a : addresses) {
    lock_keys.push_back(std::string("subject-a:") + KindName(a.kind) + ":" + a.match_key);
  }
  std::sort(lock_keys.begin(), lock_keys.end());
  for (const auto& k : lock_keys) conn->Exec(txn, kLockKey, k);

  std::string subject_id;
  if (!r.external_id().empty()) {
    auto rows = conn->Exec(txn, kByExternalId, r.external_id());
    if (!rows.empty()) {
      if (rows[0][1].as<std::string>() != "active") {
        throw FailedPrecondition("external_id: that subject was destroyed or depersonalized");
      }
      subject_id = rows[0][0].as<std::string>();
    }
  }
  if (subject_id.empty() && !addresses.empty()) {
    std::vector<std::string> kinds, keys;
    for (const auto& a : addresses) {
      kinds.push_back(std::to_string(static_cast<int>(a.kind)));
      keys.push_back(a.match_key);
    }
    auto owners = conn->Exec(txn, kOwners, db::ToArrayLiteral(kinds), db::ToArrayLiteral(keys));
    std::vector<std::string> candidates;
    for (const auto& row : owners) {
      // With an external id, only a subject that has none yet can be the same person (one
      // created from a web form); a subject of another CRM contact merely shares the address.
      if (r.external_id().empty() || row[1].as<bool>()) {
        candidates.push_back(row[0].as<std::string>());
      }
    }
    if (candidates.size() > 1) {
      throw FailedPrecondition(
          "emails/phones: the addresses belong to several subjects; give external_id");
    }
    if (candidates.size() == 1) subject_id = candidates[0];
  }

  bool created = false;
  if (!subject_id.empty()) {
    auto cur = conn->Exec(txn, kSelectForUpdate, subject_id)[0];
    // Merged or erased between the lookup and the lock: a retry finds where it went.
    if (cur[6].as<std::string>() != "active") {
      throw FailedPrecondition(
          "the subject changed while it was being updated (merged or "
          "destroyed); retry");
    }
    std::string cur_external = cur[0].is_null() ? "" : cur[0].as<std::string>();
    {
      // Empty fields in the request leave the stored value as it is.
      const char* names[] = {"surname", "given_name", "patronymic", "locale", "time_zone"};
      const std::string* given[] = {&r.surname(), &r.given_name(), &r.patronymic(), &r.locale(),
                                    &r.time_zone()};
      std::string values[5];
      nlohmann::json changed = nlohmann::json::array(), personal = nlohmann::json::object();
      for (int i = 0; i < 5; ++i) {
        values[i] = cur[i + 1].as<std::string>();
        if (!given[i]->empty() && *given[i] != values[i]) {
          values[i] = *given[i];
          changed.push_back(names[i]);
          personal[names[i]] = values[i];
        }
      }
      std::optional<std::string> external =
          cur_external.empty() && !r.external_id().empty()
              ? std::optional<std::string>(r.external_id())
              : (cur_external.empty() ? std::nullopt : std::optional<std::string>(cur_external));
      if (cur_external.empty() && external) changed.push_back("external_id");
      if (!changed.empty()) {
        conn->Exec(txn, kUpdateSubject, subject_id, external, values[0], values[1], values[2],
                   values[3], ToIso8601(now), values[4]);
        AppendEvent(*conn, txn,
                    {subject_id,
                     std::nullopt,
                     EventType::kSubjectUpdated,
                     caller.client_id,
                     source,
                     now,
                     now,
                     {{"fields", changed}},
                     personal});
      }
    }
  }
  if (subject_id.empty()) {
    std::optional<std::string> external;
    if (!r.external_id().empty()) external = r.external_id();
    subject_id = conn->Exec(txn, kInsertSubject, external, r.surname(), r.given_name(),
                            r.patronymic(), r.locale(), ToIso8601(now), r.time_zone())[0][0]
                     .as<std::string>();
    created = true;
    nlohmann::json personal = {
        {"surname", r.surname()}, {"given_name", r.given_name()}, {"patronymic", r.patronymic()}};
    if (!r.time_zone().empty()) personal["time_zone"] = r.time_zone();
    AppendEvent(*conn, txn,
                {subject_id,
                 std::nullopt,
                 EventType::kSubjectCreated,
                 caller.client_id,
                 source,
                 now,
                 now,
                 {{"locale", r.locale()}, {"has_external_id", external.has_value()}},
                 personal});
  }
  for (const auto& a : addresses) {
    auto ins = conn->Exec(txn, kInsertAddress, subject_id, static_cast<int>(a.kind), a.value,
                          a.match_key, ToIso8601(now));
    if (ins.empty()) continue;
    AppendEvent(*conn, txn,
                {subject_id,
                 std::nullopt,
                 EventType::kAddressAdded,
                 caller.client_id,
                 source,
                 now,
                 now,
                 {{"kind", KindName(a.kind)}},
                 {{"address", a.value}}});
  }
  idem.Complete(*conn, txn, {{"subject_id", subject_id}, {"created", created}});
  v1::UpsertSubjectResponse resp;
  *resp.mutable_subject() = LoadSubject(*conn, txn, subject_id);
  resp.set_created(created);
  txn.commit();
  return resp;
}

v1::Subject SubscriptionRegistry::LoadSubject(db::Connection& conn, pqxx::transaction_base& txn,
                                              const std::string& subject_id) {
  auto rows = conn.Exec(txn, kLoadSubject, subject_id);
  if (rows.empty()) throw NotFound("subject_id: subject");
  const auto& row = rows[0];
  if (!row[11].as<std::string>().empty()) {
    // Gone as a subject of its own (M4): the caller is told which one to use instead.
    throw Error(ErrorCode::kNotFound, "subject_id: the subject was merged into " +
                                          row[11].as<std::string>() + "; use that id");
  }
  v1::Subject s;
  s.set_id(row[0].as<std::string>());
  s.set_external_id(row[1].as<std::string>());
  s.set_surname(row[2].as<std::string>());
  s.set_given_name(row[3].as<std::string>());
  s.set_patronymic(row[4].as<std::string>());
  s.set_locale(row[5].as<std::string>());
  s.set_time_zone(row[12].as<std::string>());
  std::string state = row[6].as<std::string>();
  s.set_state(state == "active"      ? v1::ACTIVE
              : state == "destroyed" ? v1::DESTROYED
                                     : v1::DEPERSONALIZED);
  s.set_blocked(row[7].as<bool>());
  s.set_revoked(row[8].as<bool>());
  SetTimestamp(s.mutable_create_time(), row[9].as<std::string>());
  SetTimestamp(s.mutable_update_time(), row[10].as<std::string>());
  for (const auto& a : conn.Exec(txn, kLoadAddresses, subject_id)) {
    if (a[0].as<int>() == static_cast<int>(AddressKind::kEmail)) {
      s.add_emails(a[1].as<std::string>());
    } else {
      s.add_phones(a[1].as<std::string>());
    }
  }
  return s;
}

v1::GetSubjectResponse SubscriptionRegistry::GetSubject(const Caller& caller,
                                                        const v1::GetSubjectRequest& r) {
  std::string id = validation::RequireUuid("subject_id", r.subject_id());
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  v1::GetSubjectResponse resp;
  *resp.mutable_subject() = LoadSubject(*conn, txn, id);
  RefuseBlockedRead(caller, resp.subject().blocked());
  return resp;
}

v1::FindSubjectsResponse SubscriptionRegistry::FindSubjects(const Caller& caller,
                                                            const v1::FindSubjectsRequest& r) {
  int limit = validation::PageSize(r.page_size());
  std::string after = validation::DecodePageToken(r.page_token());
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  pqxx::result ids;
  switch (r.by_case()) {
    case v1::FindSubjectsRequest::kAddress: {
      const std::string& input = r.address();
      bool email = input.find('@') != std::string::npos;
      auto res = validation::NormalizeAddress(input, gate_.default_region());
      if (auto* err = std::get_if<validation::AddressError>(&res)) {
        throw InvalidArgument("address", err->message);
      }
      const auto& a = std::get<validation::NormalizedAddress>(res);
      ids = conn->Exec(txn, kFindByAddress,
                       static_cast<int>(email ? AddressKind::kEmail : AddressKind::kPhone),
                       a.match_key, after, limit + 1);
      break;
    }
    case v1::FindSubjectsRequest::kExternalId:
      CheckExternalId(r.external_id());
      if (r.external_id().empty()) throw InvalidArgument("external_id", "required");
      ids = conn->Exec(txn, kFindByExternalId, r.external_id(), after, limit + 1);
      break;
    default:
      throw InvalidArgument("by", "give address or external_id");
  }
  v1::FindSubjectsResponse resp;
  for (int i = 0; i < static_cast<int>(ids.size()) && i < limit; ++i) {
    *resp.add_subjects() = LoadSubject(*conn, txn, ids[i][0].as<std::string>());
    // Fail safe: one blocked subject among the matches refuses the whole answer.
    RefuseBlockedRead(caller, resp.subjects(i).blocked());
  }
  if (static_cast<int>(ids.size()) > limit) {
    resp.set_next_page_token(validation::EncodePageToken(resp.subjects(limit - 1).id()));
  }
  return resp;
}

}  // namespace herald::subscriptions
