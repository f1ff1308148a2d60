#pragma once

#include <string>
#include <vector>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/idempotency.h"
#include "common/db/pool.h"
#include "services/privacy/deadlines.h"
#include "services/privacy/erasure_settings.h"
#include "services/privacy/subject_destroyer.h"

namespace herald::privacy {

// Irreversible removal of a subject's personal data: destruction (with a destruction record,
// Roskomnadzor order 179) and depersonalisation (152-FZ art. 3 p. 9).
//
// Each operation is one transaction that first takes the subject's gate row for change
// (services/subscriptions/gate/gate_rows.h), so the gate refuses the subject from the commit
// on and no claim is half-way through. Personal values are removed
// from every table that holds them (docs/privacy-destruction.md lists them); the event
// trail, consent records and message rows stay without their personal side, so counts stay
// right; each address the subject had is kept as an address suppression under its keyed
// hash, so the same address imported again is still suppressed (L3).
class SubjectErasure final : public SubjectDestroyer {
 public:
  SubjectErasure(db::Pool& pool, const Clock& clock, const crypto::SuppressionHasher& hasher,
                 ErasureSettings settings);

  // With a policy, erasing a linked subject also puts "destroy the contact in the CRM" on
  // the officer's due list (crm_card_destruction.h), due as a DESTROY request would be.
  void SetDeadlines(const DeadlinePolicy* deadlines) { deadlines_ = deadlines; }

  // Returns the destruction record's id. NOT_FOUND for an unknown subject,
  // FAILED_PRECONDITION when it was already destroyed; nothing changes then.
  std::string Destroy(const std::string& subject_id, const std::string& reason,
                      const std::string& performed_by);

  // The destruction a due revocation scheduled (SubjectDestroyer): the privacy job's.
  std::string DestroyScheduled(const std::string& request_id, const std::string& subject_id,
                               const std::string& reason, const std::string& performed_by) override;

  // Replaces the personal fields so the record can no longer be tied to a person; the
  // subject's state becomes `depersonalized`. Also written down as a destruction record
  // (its method says depersonalization); returns its id. FAILED_PRECONDITION when the
  // subject was already destroyed or depersonalized.
  std::string Depersonalize(const std::string& subject_id, const std::string& reason,
                            const std::string& performed_by);

  // The same two as the RPCs run them. With an idempotency key: a repeat returns the first
  // answer. With the tracked request they answer (`request_id`, empty for none): it must be
  // open, about this subject and of a kind the operation answers (destruction: REVOKE or
  // DESTROY; depersonalization also STOP_PROCESSING), else FAILED_PRECONDITION and nothing
  // changes; it is closed as done in the erasure's own transaction.
  struct Erased {
    std::string record_id;
    Timestamp at;
  };
  Erased Destroy(const std::string& subject_id, const std::string& reason,
                 const std::string& performed_by, db::IdempotencyKey& idem,
                 const std::string& request_id = "");
  Erased Depersonalize(const std::string& subject_id, const std::string& reason,
                       const std::string& performed_by, db::IdempotencyKey& idem,
                       const std::string& request_id = "");

  // The methods written into destruction records.
  static constexpr char kDestroyMethod[] =
      "automated erasure in the information system's database: personal values deleted or "
      "overwritten in one transaction, irreversibly";
  static constexpr char kDepersonalizeMethod[] =
      "automated depersonalization in the information system's database: identifying values "
      "deleted or overwritten in one transaction; the remaining record cannot be tied to a "
      "person without additional data";

 private:
  enum class Mode { kDestroy, kDepersonalize };
  struct Outcome {
    std::string full_name;
    std::vector<std::string> categories;
  };
  // `scheduled`: a destruction the revocation `request_id` scheduled (DestroyScheduled).
  Erased Run(const std::string& subject_id, const std::string& reason,
             const std::string& performed_by, Mode mode, db::IdempotencyKey* idem,
             const std::string& request_id, bool scheduled = false);
  // Removes the personal values; the caller holds the subject's gate row and checked its
  // state.
  Outcome Erase(db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id,
                const std::string& performed_by, Mode mode, Timestamp now);

  db::Pool& pool_;
  const Clock& clock_;
  const crypto::SuppressionHasher& hasher_;
  ErasureSettings settings_;
  const DeadlinePolicy* deadlines_ = nullptr;
};

}  // namespace herald::privacy
