#include "services/privacy/subject_erasure.h"

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/domain/enums.h"
#include "common/error.h"
#include "common/validation/input_checks.h"
#include "herald/v1/common.pb.h"
#include "services/dispatch/ledger/message_ledger.h"
#include "services/privacy/crm_card_destruction.h"
#include "services/privacy/destruction_records.h"
#include "services/privacy/request_store.h"
#include "services/privacy/subject_state.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/gate/gate_rows.h"
#include "services/subscriptions/subject_rows.h"
#include "services/subscriptions/suppressions.h"

namespace herald::privacy {
namespace {

constexpr db::Statement kAddresses{"erasure.addresses", R"sql(
  SELECT kind, match_key FROM addresses WHERE subject_id = $1::uuid ORDER BY id
)sql"};

std::string Join(std::initializer_list<std::string> parts) {
  std::string out;
  for (const auto& p : parts) {
    if (p.empty()) continue;
    if (!out.empty()) out += ' ';
    out += p;
  }
  return out;
}

}  // namespace

SubjectErasure::SubjectErasure(db::Pool& pool, const Clock& clock,
                               const crypto::SuppressionHasher& hasher, ErasureSettings settings)
    : pool_(pool), clock_(clock), hasher_(hasher), settings_(std::move(settings)) {}

std::string SubjectErasure::Destroy(const std::string& subject_id, const std::string& reason,
                                    const std::string& performed_by) {
  return Run(subject_id, reason, performed_by, Mode::kDestroy, nullptr, "").record_id;
}

std::string SubjectErasure::DestroyScheduled(const std::string& request_id,
                                             const std::string& subject_id,
                                             const std::string& reason,
                                             const std::string& performed_by) {
  if (request_id.empty()) throw InvalidArgument("request_id", "required");
  return Run(subject_id, reason, performed_by, Mode::kDestroy, nullptr, request_id,
             /*scheduled=*/true)
      .record_id;
}

SubjectErasure::Erased SubjectErasure::Destroy(const std::string& subject_id,
                                               const std::string& reason,
                                               const std::string& performed_by,
                                               db::IdempotencyKey& idem,
                                               const std::string& request_id) {
  return Run(subject_id, reason, performed_by, Mode::kDestroy, &idem, request_id);
}

SubjectErasure::Erased SubjectErasure::Depersonalize(const std::string& subject_id,
                                                     const std::string& reason,
                                                     const std::string& performed_by,
                                                     db::IdempotencyKey& idem,
                                                     const std::string& request_id) {
  return Run(subject_id, reason, performed_by, Mode::kDepersonalize, &idem, request_id);
}

std::string SubjectErasure::Depersonalize(const std::string& subject_id, const std::string& reason,
                                          const std::string& performed_by) {
  return Run(subject_id, reason, performed_by, Mode::kDepersonalize, nullptr, "").record_id;
}

SubjectErasure::Erased SubjectErasure::Run(const std::string& subject_id_in,
                                           const std::string& reason,
                                           const std::string& performed_by, Mode mode,
                                           db::IdempotencyKey* idem,
                                           const std::string& request_id_in, bool scheduled) {
  std::string subject_id = validation::RequireUuid("subject_id", subject_id_in);
  std::string request_id;
  if (!request_id_in.empty()) request_id = validation::RequireUuid("request_id", request_id_in);
  validation::CheckText("reason", reason, 1000);
  if (reason.empty()) throw InvalidArgument("reason", "required (it goes into the act)");
  validation::CheckText("performed_by", performed_by, 256);
  if (performed_by.empty()) throw InvalidArgument("performed_by", "required");
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  if (idem) {
    if (auto stored = idem->Claim(*conn, txn, now)) {
      txn.commit();
      return {(*stored)["record_id"], ParseTimestamp((*stored)["at"].get<std::string>())};
    }
  }
  bool destroy = mode == Mode::kDestroy;
  auto gate_row = subscriptions::LockSubjectForChange(*conn, txn, subject_id, now);
  if (!gate_row) throw NotFound("subject_id: subject");
  if (!request_id.empty()) {
    // Checked before anything is erased; the subject's gate row is taken first, as every
    // privacy operation takes them.
    if (scheduled) {
      LoadAnsweredRequest(*conn, txn, request_id, subject_id, {RequestKind::kRevoke}, now);
      // Read under the gate row, so no consent or erasure lands between the check and the
      // erasure. Consent given again is a new legal basis (152-FZ art. 21 p. 5): the job
      // closes such a request without destroying.
      if (gate_row->state != "active") {
        throw FailedPrecondition("subject_id: the subject is no longer active");
      }
      if (!gate_row->revoked) {
        throw FailedPrecondition("subject_id: consent was given again after the revocation");
      }
    } else if (destroy) {
      LoadAnsweredRequest(*conn, txn, request_id, subject_id,
                          {RequestKind::kRevoke, RequestKind::kDestroy}, now);
    } else {
      LoadAnsweredRequest(
          *conn, txn, request_id, subject_id,
          {RequestKind::kRevoke, RequestKind::kDestroy, RequestKind::kStopProcessing}, now);
    }
  }
  if (gate_row->state == "destroyed") {
    throw FailedPrecondition("subject_id: the subject was already destroyed");
  }
  if (!destroy && gate_row->state == "depersonalized") {
    throw FailedPrecondition("subject_id: the subject was already depersonalized");
  }
  if (deadlines_) {
    // Before Erase: it blanks the external_id that names the contact.
    OpenCrmCardDestruction(*conn, txn, subject_id, v1::OPERATOR,
                           deadlines_->DueAt(RequestKind::kCrmDestroy, now), now);
  }
  Outcome out = Erase(*conn, txn, subject_id, performed_by, mode, now);
  std::string record_id = InsertDestructionRecord(
      *conn, txn,
      {"", subject_id, out.full_name, out.categories, settings_.information_system, reason,
       std::string(destroy ? kDestroyMethod : kDepersonalizeMethod), now, performed_by, now},
      settings_.destruction_record_years);
  subscriptions::AppendEvent(
      *conn, txn,
      {subject_id,
       std::nullopt,
       destroy ? subscriptions::EventType::kSubjectDestroyed
               : subscriptions::EventType::kSubjectDepersonalized,
       performed_by,
       v1::OPERATOR,
       now,
       now,
       {{"destruction_record_id", record_id}, {"categories", out.categories}},
       nlohmann::json::object()});
  if (scheduled) {
    CloseAsDestroyed(*conn, txn, request_id, record_id, performed_by, now);
  } else if (!request_id.empty()) {
    CloseRequest(*conn, txn, request_id, "done", performed_by,
                 {{"note", destroy ? "subject destroyed" : "subject depersonalized"}}, now);
  }
  if (idem) idem->Complete(*conn, txn, {{"record_id", record_id}, {"at", ToIso8601(now)}});
  txn.commit();
  return {record_id, now};
}

SubjectErasure::Outcome SubjectErasure::Erase(db::Connection& conn, pqxx::transaction_base& txn,
                                              const std::string& subject_id,
                                              const std::string& performed_by, Mode mode,
                                              Timestamp now) {
  Outcome out;
  PersonalFields names = ReadPersonalFields(conn, txn, subject_id);
  out.full_name = Join({names.surname, names.given_name, names.patronymic});
  bool had_external_id = names.has_external_id;

  // Every address becomes a suppression under its keyed hash before it is deleted.
  std::vector<std::string> kinds, match_keys, all_hashes;
  int emails = 0, phones = 0;
  for (const auto& row : conn.Exec(txn, kAddresses, subject_id)) {
    auto kind = static_cast<AddressKind>(row[0].as<int>());
    std::string match_key = row[1].as<std::string>();
    (kind == AddressKind::kEmail ? emails : phones)++;
    kinds.push_back(std::to_string(static_cast<int>(kind)));
    match_keys.push_back(match_key);
    std::vector<std::string> hashes;
    for (const auto& h : hasher_.All(KindName(kind), match_key)) {
      hashes.push_back(crypto::ToHex(h.hash));
    }
    all_hashes.insert(all_hashes.end(), hashes.begin(), hashes.end());
    crypto::SuppressionHash current = hasher_.Current(KindName(kind), match_key);
    subscriptions::LockAddressForChange(conn, txn, crypto::ToHex(current.hash));
    const subscriptions::SuppressionScope all_marketing{0, ""};
    if (subscriptions::CoveringSuppressionExists(conn, txn, hashes, all_marketing,
                                                 SuppressionReason::kRevoked)) {
      continue;
    }
    int64_t event_id = subscriptions::AppendEvent(
        conn, txn,
        {std::nullopt,
         current.hash,
         subscriptions::EventType::kSuppressionAdded,
         performed_by,
         v1::OPERATOR,
         now,
         now,
         {{"scope", "ALL_MARKETING"},
          {"kind", KindName(kind)},
          {"reason", "REVOKED"},
          {"cause", mode == Mode::kDestroy ? "subject destroyed" : "subject depersonalized"}},
         nlohmann::json::object()});
    subscriptions::InsertSuppression(
        conn, txn,
        {current.key_id, crypto::ToHex(current.hash), all_marketing, SuppressionReason::kRevoked,
         static_cast<int>(v1::OPERATOR), now, event_id});
  }

  int64_t personal = subscriptions::DeletePersonalValues(conn, txn, subject_id, all_hashes);
  // The subject's messages, and messages to its addresses under no or another subject id.
  // Messages a worker holds right now are left to the retention sweep, which scrubs them once
  // they settle: their worker still needs the recipient for the one attempt in flight.
  const dispatch::ledger::Recipient recipient{subject_id, kinds, match_keys};
  dispatch::ledger::CancelForErasure(conn, txn, recipient, now);
  auto scrubbed = dispatch::ledger::ScrubForErasure(conn, txn, recipient, now);
  subscriptions::DeleteSubjectAddresses(conn, txn, subject_id);
  int64_t preferences = 0;
  if (mode == Mode::kDestroy) {
    preferences = subscriptions::DeleteSubjectPreferences(conn, txn, subject_id);
  }
  subscriptions::BlankSubject(conn, txn, subject_id,
                              mode == Mode::kDestroy ? "destroyed" : "depersonalized", now);

  // Categories of data destroyed, in the words of the act.
  if (!out.full_name.empty()) out.categories.push_back("full name");
  if (had_external_id) out.categories.push_back("CRM identifier");
  if (emails) out.categories.push_back("e-mail addresses");
  if (phones) out.categories.push_back("phone numbers");
  if (personal) {
    out.categories.push_back(
        "personal values in the event trail (IP addresses, user agents, names, addresses)");
  }
  if (scrubbed.messages) {
    out.categories.push_back("message recipient addresses and content");
  }
  if (scrubbed.attempt_details) out.categories.push_back("provider responses");
  if (preferences) out.categories.push_back("subscription preferences");
  return out;
}

}  // namespace herald::privacy
