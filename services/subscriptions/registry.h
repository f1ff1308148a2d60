#pragma once

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/idempotency.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "common/grpc/caller.h"
#include "herald/v1/subscriptions.pb.h"
#include "services/subscriptions/gate/check_coalescer.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/gate/gate_rows.h"
#include "services/subscriptions/proof_checks.h"

namespace herald::subscriptions {

// The consent and subscription registry: subjects, addresses, consents, preferences,
// opt-outs and suppressions, the event trail, and eligibility through the gate.
//
// A plain class: it takes its dependencies here and knows nothing of gRPC; the transport
// (grpc_service.h) authenticates, then calls it. Requests and answers are the contract's
// messages. Errors are herald::Error; every check runs before anything is written, and each
// operation is one transaction.
class SubscriptionRegistry {
 public:
  SubscriptionRegistry(db::Pool& pool, const Clock& clock, const TopicCatalog& topics,
                       const crypto::SuppressionHasher& hasher, const EligibilityGate& gate);
  ~SubscriptionRegistry();

  // Runs CheckEligibility on a CheckCoalescer: min(half the pool, the cores) threads, each
  // taking up to `max_batch` queued checks into one gate run (max_batch <= 1: each check
  // alone). Until this is called, each check runs on the caller's thread. Call before
  // serving.
  void CoalesceChecks(int max_batch);

  v1::UpsertSubjectResponse UpsertSubject(const Caller& caller, const v1::UpsertSubjectRequest& r);

  // Address rectification for the privacy service (152-FZ art. 21 p. 1-2). The registry owns
  // the addresses; the caller records the change (old and new values in the personal side
  // table) and answers the request.
  //
  // `input` as an address of `kind`, normalized as UpsertSubject normalizes it; throws
  // INVALID_ARGUMENT naming `field` (never the value).
  std::pair<std::string, std::string> NormalizeAddressOf(AddressKind kind, const std::string& field,
                                                         const std::string& input) const;
  // UpsertSubject's lock on each (kind, match key), so no upsert gives one of them to another
  // subject meanwhile. Take it before the subject's gate row, in the upsert's order.
  void LockAddressesForChange(
      db::Connection& conn, pqxx::transaction_base& txn,
      const std::vector<std::pair<AddressKind, std::string>>& match_keys) const;
  // With the subject's gate row taken for change: the subject's address of `kind` whose
  // match key is `old_match_key` becomes (`value`, `match_key`), and both addresses' gate
  // rows are bumped. Suppressions stay under their keyed hashes (the old address's remain
  // in place). Returns the old stored value. NOT_FOUND when the subject has no such address;
  // ALREADY_EXISTS when another live subject holds the new one; FAILED_PRECONDITION when
  // the subject already holds it as another address.
  std::string ReplaceAddressWithin(db::Connection& conn, pqxx::transaction_base& txn,
                                   const std::string& subject_id, AddressKind kind,
                                   const std::string& old_match_key, const std::string& value,
                                   const std::string& match_key, Timestamp now);
  v1::GetSubjectResponse GetSubject(const Caller& caller, const v1::GetSubjectRequest& r);
  v1::FindSubjectsResponse FindSubjects(const Caller& caller, const v1::FindSubjectsRequest& r);
  v1::RecordConsentResponse RecordConsent(const Caller& caller, const v1::RecordConsentRequest& r);
  // Granted consents whose proof's source is in `sources` (herald.v1.Source) go to `hold`
  // once checked; an answer from it is RecordConsent's (the consent waits for the subject's
  // confirmation), nullopt records the consent as usual (the confirmed consent itself). Set
  // once, before serving (capture.require_confirmation).
  using ConsentHold = std::function<std::optional<v1::RecordConsentResponse>(
      const Caller&, const v1::RecordConsentRequest&)>;
  void HoldConsentsFrom(std::set<int> sources, ConsentHold hold) {
    hold_sources_ = std::move(sources);
    hold_ = std::move(hold);
  }
  v1::SetPreferencesResponse SetPreferences(const Caller& caller,
                                            const v1::SetPreferencesRequest& r);
  // SetPreferences, unless anything was recorded for the subject or about one of its
  // addresses (what ListSubjectEvents lists) after `since`: nullopt then, and nothing
  // changed. The check and the change are one transaction under the subject's gate row, so a
  // change to the subject recorded meanwhile is never overridden (an address's suppression
  // is not under that row, but no preference overrides a suppression). For a recipient's
  // undo (RecipientLinks); an idempotency key is refused (INVALID_ARGUMENT): a repeat would
  // find its own change and answer nullopt.
  std::optional<v1::SetPreferencesResponse> SetPreferencesUnlessChangedSince(
      const Caller& caller, const v1::SetPreferencesRequest& r, Timestamp since);
  v1::GetPreferencesResponse GetPreferences(const Caller& caller,
                                            const v1::GetPreferencesRequest& r);
  v1::OptOutResponse OptOut(const Caller& caller, const v1::OptOutRequest& r);
  // Opt-out of a bare address known only by its keyed hash (a link token's address key,
  // raw 32 bytes, made under the suppression key `address_key_id`, "" when the token does not
  // say): unsubscribes `topic` (empty: all marketing) on `channel`. Idempotent: changed is
  // false when an equal or broader unsubscribe is already active.
  v1::OptOutResponse OptOutAddressKey(const Caller& caller, const std::string& address_key,
                                      const std::string& address_key_id, Channel channel,
                                      const std::string& topic, const v1::Proof& proof);
  // The same opt-out inside the caller's transaction, for callers that must change several
  // things at once (an inbound refusal: the address and every subject owning it). The
  // idempotency key is not used: the caller dedupes.
  v1::OptOutResponse OptOutWithin(db::Connection& conn, pqxx::transaction_base& txn,
                                  const Caller& caller, const v1::OptOutRequest& r, Timestamp now);
  v1::CheckEligibilityResponse CheckEligibility(const Caller& caller,
                                                const v1::CheckEligibilityRequest& r);
  // The same without holding the caller's thread while the gate runs: checks the request at
  // once (throws as CheckEligibility does), then fills `resp` and calls `done` with nullptr,
  // or calls it with the error, on the coalescer's thread.
  void CheckEligibilityAsync(const Caller& caller, const v1::CheckEligibilityRequest& r,
                             v1::CheckEligibilityResponse* resp,
                             std::function<void(std::exception_ptr)> done);
  v1::CheckEligibilityBatchResponse CheckEligibilityBatch(
      const Caller& caller, const v1::CheckEligibilityBatchRequest& r);
  v1::ListSubjectEventsResponse ListSubjectEvents(const Caller& caller,
                                                  const v1::ListSubjectEventsRequest& r);
  v1::ListTopicsResponse ListTopics(const Caller& caller, const v1::ListTopicsRequest& r);
  // Folds merged_id into survivor_id (registry_merge.cc); a repeat answers changed=false.
  v1::MergeSubjectsResponse MergeSubjects(const Caller& caller, const v1::MergeSubjectsRequest& r);
  // What the person said on a call to one of the subject's numbers, and what follows from it,
  // each effect through its owner: the trail, an opt-out, a consent record, the number's
  // removal (registry_calls.cc; docs/calls.md).
  v1::RecordCallOutcomeResponse RecordCallOutcome(const Caller& caller,
                                                  const v1::RecordCallOutcomeRequest& r);

  static constexpr int kMaxBatch = 10000;

 private:
  // Preference rows of one subject: (channel, topic) -> (subscribed, seq, updated_at).
  struct PreferenceRow {
    bool subscribed;
    int64_t seq;
    std::string updated_at;
  };
  using PreferenceRows = std::map<std::pair<int, std::string>, PreferenceRow>;

  PreferenceRows LoadPreferences(db::Connection& conn, pqxx::transaction_base& txn,
                                 const std::string& subject_id);
  // The newest row matching (channel, topic), or nullptr: the same rule as the gate's SQL.
  static const PreferenceRow* Deciding(const PreferenceRows& rows, Channel channel,
                                       const std::string& topic,
                                       std::pair<int, std::string>* key = nullptr);
  std::optional<v1::SetPreferencesResponse> SetPreferencesIf(
      const Caller& caller, const v1::SetPreferencesRequest& r,
      std::optional<Timestamp> unchanged_since);
  // The hex keyed hashes, under every live key, of the subject's addresses.
  std::vector<std::string> SubjectAddressKeyHexes(db::Connection& conn, pqxx::transaction_base& txn,
                                                  const std::string& subject_id) const;
  std::vector<v1::Preference> BuildPreferences(db::Connection& conn, pqxx::transaction_base& txn,
                                               const std::string& subject_id);
  // Every marketing topic x channel, from the subject's preference rows and its consented
  // marketing channels (a bit per channel).
  std::vector<v1::Preference> PreferencesOf(const PreferenceRows& rows, int channels) const;
  // Takes the subject's gate row for change (gate/gate_rows.h) and returns its consented
  // marketing channels; NOT_FOUND or FAILED_PRECONDITION when it cannot change.
  int LockSubjectForChange(db::Connection& conn, pqxx::transaction_base& txn,
                           const std::string& subject_id, Timestamp now);
  // The refusal for a subject whose gate row was just taken: NOT_FOUND when there is none,
  // FAILED_PRECONDITION (naming the survivor for a merged one) when it cannot change.
  static void CheckChangeable(db::Connection& conn, pqxx::transaction_base& txn,
                              const std::string& subject_id,
                              const std::optional<SubjectGateRow>& row);
  v1::Subject LoadSubject(db::Connection& conn, pqxx::transaction_base& txn,
                          const std::string& subject_id);
  // One consent record with its event, and the subject's consent state recomputed: the one
  // text of that write for RecordConsent and RecordCallOutcome. `actor` is who acted (the API
  // client, or a call's agent). The subject's gate row must be held (LockSubjectForChange).
  struct AppendedConsent {
    int64_t id = 0;
    int64_t event_id = 0;
    std::string record_time;
  };
  AppendedConsent AppendConsent(db::Connection& conn, pqxx::transaction_base& txn,
                                const std::string& subject_id, int kind, int channel, bool granted,
                                const CheckedProof& proof, const std::string& actor, Timestamp now);
  void RecomputeConsentState(db::Connection& conn, pqxx::transaction_base& txn,
                             const std::string& subject_id, int kind, int channel, Timestamp now);
  void LiftSuppressions(db::Connection& conn, pqxx::transaction_base& txn,
                        const std::string& subject_id, Channel channel, Timestamp consent_time,
                        int64_t event_id, Timestamp now);
  // The whole opt-out by subject in one statement; `idem` is claimed and completed by it (an
  // empty key: not idempotent).
  v1::OptOutResponse OptOutSubject(db::Connection& conn, pqxx::transaction_base& txn,
                                   const Caller& caller, const v1::OptOutRequest& r,
                                   const std::string& subject_id, Timestamp now,
                                   const db::IdempotencyKey& idem);
  // The same for an opt-out by address.
  v1::OptOutResponse OptOutAddress(db::Connection& conn, pqxx::transaction_base& txn,
                                   const Caller& caller, const v1::OptOutRequest& r, Timestamp now,
                                   const db::IdempotencyKey& idem);
  // Validates an opt-out request; returns the subject id, or "" for an address opt-out.
  std::string CheckOptOut(const v1::OptOutRequest& r, Timestamp now) const;
  GateRequest CheckEligibilityRequestOf(const v1::CheckEligibilityRequest& r) const;
  GateRequest ToGateRequest(const std::string& field, const v1::Recipient& recipient,
                            Channel channel, const TopicInfo& topic,
                            const std::string& provider_country) const;

  db::Pool& pool_;
  const Clock& clock_;
  const TopicCatalog& topics_;
  const crypto::SuppressionHasher& hasher_;
  const EligibilityGate& gate_;
  // Runs CheckEligibility's gate runs; concurrent calls share one (null: each call runs its
  // own on the caller's thread).
  std::unique_ptr<CheckCoalescer> coalescer_;
  std::set<int> hold_sources_;
  ConsentHold hold_;
};

}  // namespace herald::subscriptions
