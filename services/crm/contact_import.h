#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "common/clock.h"
#include "common/db/pool.h"
#include "herald/v1/crm.pb.h"
#include "services/crm/creatio_client.h"
#include "services/crm/creatio_settings.h"
#include "services/subscriptions/registry.h"

namespace herald::crm {

// The first import: learns from Creatio who already opted out before Herald sends anything.
//
// A run (a crm_imports row) pages through Creatio's contacts by Id (keyset paging, so a
// contact added meanwhile cannot shift a page), then through the Unsubscribed
// BulkEmailSubscription rows. Each contact becomes a subject (external_id = its Contact Id,
// its e-mail and mobile phone when they are usable addresses) WITHOUT any consent: Creatio
// holds no proof of one (STANDARDS S3), unless the operator supplies it (ImportConsent:
// the channels and the document the contacts agreed to), in which case each contact gets
// processing consent and marketing consent on those channels its card does not flag. Every
// DoNotUse* flag becomes an opt-out of all marketing on that channel, every Unsubscribed row of a
// mapped BulkEmailType a topic opt-out on e-mail; both with source CRM and the run named in the
// proof's form_id. What was read is recorded as what the card holds (card_state.h), so the
// write-back does not rewrite it.
//
// A run is resumable: a page's counts and cursor commit after the page's contacts are done,
// and every step of a page is idempotent, so a crash or a Creatio failure redoes at most one
// page. A dry run reads and counts the same way and changes nothing but its own row.
// Thread-safe; several processes may call Step at once (the running row is locked while a
// page is worked on, and another process skips it).
class ContactImport {
 public:
  ContactImport(db::Pool& pool, CreatioClient& client,
                subscriptions::SubscriptionRegistry& registry, const CreatioSettings& settings,
                const Clock& clock);

  // Starts a run, recording `consent` (ImportConsent) for its contacts when it names
  // channels. kInvalidArgument for a consent without a document version or with channels
  // that are not EMAIL, SMS or CALL; kFailedPrecondition when crm.enabled is off or a run is
  // already running.
  v1::CrmImport Start(bool dry_run, const v1::ImportConsent& consent = {});
  // The run `id`, or the newest when id is 0; kNotFound.
  v1::CrmImport Get(int64_t id);
  // Cancels the run if it is running (a page being worked on finishes first); a finished run
  // is returned as it is. id 0: the newest. kNotFound.
  v1::CrmImport Cancel(int64_t id);

  // Works one page of the running import. Returns false when there is nothing to step (no
  // run, or another process is stepping it). After a Creatio failure that is worth retrying
  // (429, 5xx, timeout) the run stays running, true is returned without advancing, and
  // Steps before next_attempt() return true at once: a caller's loop should wait until then.
  bool Step();
  Timestamp next_attempt() const;

 private:
  struct Run;
  struct PageResult;
  // Work one page and add its counts to `run`, moving its cursor and phase on.
  PageResult ContactsPage(db::Connection& conn, pqxx::transaction_base& txn, Run& run);
  PageResult SubscriptionsPage(db::Connection& conn, pqxx::transaction_base& txn, Run& run);
  // A Creatio answer that is not a page: kRetryLater (after arming the backoff) or kFailed.
  PageResult NotAPage(const ODataAnswer& answer, const std::string& what);
  void BackOff(const ODataAnswer& answer);

  db::Pool& pool_;
  CreatioClient& client_;
  subscriptions::SubscriptionRegistry& registry_;
  const CreatioSettings& settings_;
  const Clock& clock_;

  mutable std::mutex mu_;
  Timestamp next_attempt_{};             // guarded by mu_
  std::chrono::milliseconds backoff_{};  // guarded by mu_; 0: no failure since the last page
};

}  // namespace herald::crm
