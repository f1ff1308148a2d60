#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"
#include "services/dispatch/ledger/message_status.h"

// The message ledger: the only code that writes `messages`, `message_history` and
// `message_attempts`. Every status transition goes through one of these functions, which
// records it in the same statement or transaction: the routine path (a claim from QUEUED or
// RETRYING to SENDING, and that attempt's completion to SENT) on the attempt row, so the
// common case writes no history rows; every other transition as a history row. An attempt
// that reached a provider is an attempt row. History() reads all of it back as one history.
// Callers keep their own transactions and locks (the gate rows, the campaign row): each
// function runs inside the caller's `txn`.
//
// A message is held by a worker while `lease_owner` is set: from the claim that moves it to
// SENDING until that attempt's completion. A report (bounce, receipt) may settle a held
// message before its worker completes; the completion then still clears the lease and records
// its outcome, and the report's status stays (it says more about the message than "sent").
// Nothing scrubs a held message before its lease runs out: its worker still reads its
// recipient.
namespace herald::dispatch::ledger {

// A message to create: a single send, a keyword reply or a confirmation mail. Its status is
// QUEUED or SUPPRESSED (the gate refused it at once; `deny_reason` says why).
struct NewMessage {
  std::string client_id;
  std::optional<std::string> subject_id;
  std::optional<std::string> address, match_key;
  int channel = 0;  // Channel
  std::string topic;
  std::optional<std::string> subject_template, text_template, html_template;
  std::string variables_json = "{}";
  MessageStatus status = MessageStatus::kQueued;
  int deny_reason = 0;  // 0: none
  std::optional<std::string> sms_encoding;
  std::optional<int> sms_segments;
  std::optional<int64_t> reply_to_inbound;  // a keyword reply: the inbound SMS it answers
  std::string note;                         // the history row's note
  // The confirmation of this pending capture request (a UUID); at most one message per
  // request ever exists (a second Enqueue violates messages_confirms_capture).
  std::optional<std::string> confirms_capture;
};

// Inserts the message and its first history row; returns its id.
std::string Enqueue(db::Connection& conn, pqxx::transaction_base& txn, const NewMessage& m,
                    Timestamp now);

// Queues a received upload's rows as the campaign's messages, resolved by the upload's owner
// (herald_resolve_upload): rows that cannot be sent to are not queued and come back with
// their reasons, and of the rest one per match key (the first by row number) is queued,
// unless the campaign already has a message to that recipient on the channel. Reads the
// upload's rows and leaves them; the caller holds the campaign row FOR UPDATE.
struct QueuedUpload {
  int64_t added = 0;
  std::vector<std::pair<int64_t, std::string>> skipped;  // row number, reason
};
QueuedUpload EnqueueCampaignUpload(db::Connection& conn, pqxx::transaction_base& txn,
                                   const std::string& upload_id, int address_kind,
                                   const std::string& campaign_id, const std::string& client_id,
                                   int channel, const std::string& topic, Timestamp now);

// A cancelled campaign's messages that no worker holds: QUEUED and RETRYING become CANCELLED.
int64_t CancelCampaignMessages(db::Connection& conn, pqxx::transaction_base& txn,
                               const std::string& campaign_id, Timestamp now);

// What a claim decided for one locked message.
struct ClaimDecision {
  std::string id;
  // SENDING (leased to the worker), SUPPRESSED, CANCELLED, FAILED or RETRYING; or QUEUED
  // (or RETRYING) with defer_until: allowed, but held back until then (quiet hours).
  MessageStatus status = MessageStatus::kSending;
  int deny_reason = 0;
  std::string provider;  // may be empty
  std::string note;
  std::optional<Timestamp> defer_until;
};

// Applies a claim's decisions to messages the caller locked. SENDING takes the lease and
// counts an attempt; RETRYING waits until `retry_at`; a deferred one until its defer_until. A
// routine claim is kept on the message until its completion records it on the attempt row (or, when
// no attempt row follows, as a history row); so a message whose worker died mid-send still shows
// SENDING in History().
//
// The messages moved to SENDING are leased to `worker` for `lease` from now by PostgreSQL's
// clock (so no process's clock decides when a lease has run out), under one new lease token:
// returned (0 when nothing was leased). Only a completion carrying that token ends them.
int64_t RecordClaims(db::Connection& conn, pqxx::transaction_base& txn,
                     const std::vector<ClaimDecision>& decisions, const std::string& worker,
                     std::chrono::seconds lease, Timestamp retry_at, Timestamp now);

// One attempt that reached a provider (texts already storable: valid UTF-8, bounded).
struct AttemptRecord {
  std::string message_id;
  int number = 0;
  std::string provider;
  Timestamp started, ended;
  std::string outcome;
  int code = 0;
  std::string enhanced_status, provider_code, detail, provider_message_id;
};

// A worker's end of one attempt.
struct Completion {
  std::string message_id;
  int attempt = 0;
  int64_t lease_token = 0;  // the claim's (RecordClaims); a completion of another claim is void
  MessageStatus status = MessageStatus::kSent;  // SENT, RETRYING or FAILED
  Timestamp next_attempt_at;                    // RETRYING only
  std::string note;
  std::string sms_encoding;  // empty: unchanged
  int sms_segments = 0;      // 0: unchanged
  bool counted = true;       // false: it never reached a provider; the attempt is given back
  std::optional<AttemptRecord> attempt_record;
};

struct Completed {
  std::string message_id;
  MessageStatus status;            // the message's status now
  bool settled_by_report = false;  // a report settled it first; its status stayed
};

// Records attempts and ends each attempt whose claim still holds its message (by lease token,
// even when the lease has run out but nobody reclaimed the message). A message reclaimed
// meanwhile (another claim holds it) is left alone: only its attempt row is written. Recording
// the same completions again changes nothing, so a caller that cannot tell whether its commit
// went through may simply record them again. SENT
// (unless a report settled the message first) is recorded on the attempt row; RETRYING,
// FAILED and a report's status are history rows.
std::vector<Completed> RecordCompletions(db::Connection& conn, pqxx::transaction_base& txn,
                                         const std::vector<Completion>& completions, Timestamp now);

// A provider's final delivery receipt: SENT becomes DELIVERED or UNDELIVERED. False when
// the message is not SENT (a repeated or late receipt): nothing is written.
bool ApplyReceipt(db::Connection& conn, pqxx::transaction_base& txn, const std::string& message_id,
                  MessageStatus outcome, const std::string& note, Timestamp now);

// A permanent bounce: SENDING, SENT or DELIVERED become UNDELIVERED. A history row is written
// either way (what arrived is kept); returns whether the status changed. A bounce of a held
// message leaves its lease to the worker's completion.
bool ApplyBounce(db::Connection& conn, pqxx::transaction_base& txn, const std::string& message_id,
                 const std::string& note, Timestamp now);

// A report that changes nothing (a delay, a success notice, a complaint): a history row
// under the message's current status.
void NoteReport(db::Connection& conn, pqxx::transaction_base& txn, const std::string& message_id,
                const std::string& note, Timestamp now);

// Messages of an erased recipient: the subject's, and any to its addresses given as
// (address kind, match key) pairs.
struct Recipient {
  std::string subject_id;
  std::vector<std::string> kinds;  // AddressKind numbers, as text
  std::vector<std::string> match_keys;
};
inline constexpr char kErasedNote[] = "recipient erased";

// QUEUED and RETRYING messages of the recipient become CANCELLED ("recipient erased").
int64_t CancelForErasure(db::Connection& conn, pqxx::transaction_base& txn, const Recipient& r,
                         Timestamp now);

struct Scrubbed {
  int64_t messages = 0;
  int64_t attempt_details = 0;
};
// Clears the recipient's addresses, content, provider texts and history notes from every
// message no worker holds (held ones are left to ScrubErasedMessages once they settle).
Scrubbed ScrubForErasure(db::Connection& conn, pqxx::transaction_base& txn, const Recipient& r,
                         Timestamp now);

// Retention: content and provider texts of up to `limit` settled messages not updated since
// `cutoff`; returns how many messages.
int64_t PurgeSettledContent(db::Connection& conn, pqxx::transaction_base& txn, Timestamp cutoff,
                            int64_t limit);
// Expired capture requests (`request_ids`, UUIDs): their confirmations that no worker holds
// are cancelled when still queued, and lose address, content and provider texts. Returns the
// requests whose confirmation a worker holds now (try again once its lease ends).
inline constexpr char kExpiredCaptureNote[] = "capture request expired";
std::vector<std::string> ForgetCaptureConfirmations(db::Connection& conn,
                                                    pqxx::transaction_base& txn,
                                                    const std::vector<std::string>& request_ids,
                                                    Timestamp now);

// Retention: up to `limit` settled messages of erased subjects still carrying an address or
// content (they were held when the subject was erased, and their lease has ended or run out
// by PostgreSQL's clock); returns how many.
int64_t ScrubErasedMessages(db::Connection& conn, pqxx::transaction_base& txn, int64_t limit);

// One entry of a message's history.
struct Transition {
  MessageStatus status = MessageStatus::kQueued;
  int deny_reason = 0;
  std::string note;
  std::string at;  // PostgreSQL's timestamptz text
};

// The message's every status transition in the order they happened, wherever each is
// recorded (history rows, attempt rows, the claim of a message still held). The only reader
// of the history: GetMessage and the subject export (through the same view) show this.
std::vector<Transition> History(db::Connection& conn, pqxx::transaction_base& txn,
                                const std::string& message_id);

}  // namespace herald::dispatch::ledger
