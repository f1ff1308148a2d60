#include "services/dispatch/ledger/message_ledger.h"

#include <map>

#include "common/db/sql_array.h"
#include "common/db/statement.h"

namespace herald::dispatch::ledger {
namespace {

// deny_reason 0 means none throughout: it is stored as NULL.

constexpr db::Statement kEnqueue{"ledger.enqueue", R"sql(
WITH m AS (
  INSERT INTO messages (id, client_id, subject_id, address, match_key, channel, topic,
    subject_template, text_template, html_template, variables, status, deny_reason,
    next_attempt_at, sms_encoding, sms_segments, reply_to_inbound, created_at, updated_at)
  VALUES (gen_random_uuid(), $1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11,
    nullif($12, 0), $13, $14, $15, $16, $13, $13)
  RETURNING id, status, deny_reason)
INSERT INTO message_history (message_id, status, deny_reason, note, at)
SELECT id, status, deny_reason, $17, $13 FROM m
RETURNING message_id::text
)sql"};

// Message ids are time-ordered (UUID version 7 layout: 48-bit Unix milliseconds of the
// clock's now, version 7, 40 random bits drawn once per statement, the variant, then a 32-bit
// counter in insertion order). Random v4 ids put every insertion into a random leaf of
// messages_pkey; ordered ids append at its right edge, where PostgreSQL's btree skips the
// descent. Rows are inserted in (match_key, row_no) order, which is also the order of the
// campaign uniqueness index, so both indexes grow at one place per stream.
//
// A campaign's first stream (nothing of the channel queued yet) inserts without ON CONFLICT:
// the speculative insertion behind ON CONFLICT DO NOTHING (a probe of the arbiter index, a
// speculative-insertion lock and its confirmation per row) took about half of the statement.
// This is safe because this is the only writer of campaign messages and its caller holds the
// campaign row FOR UPDATE: no other stream of the campaign can add rows meanwhile, and the
// stage is already distinct by match_key. Later streams keep ON CONFLICT;
// messages_campaign_recipient enforces uniqueness either way.
//
// Campaign messages get no history row when queued: their creation is created_at, and a
// million-row stream would double its writes.
constexpr db::Statement kCampaignHasChannel{"ledger.campaign_has_channel", R"sql(
SELECT EXISTS (SELECT 1 FROM messages WHERE campaign_id = $1::uuid AND channel = $2)
)sql"};
#define HERALD_QUEUE_STAGE_SQL                                                            \
  "INSERT INTO messages (id, campaign_id, client_id, subject_id, address, match_key,\n"   \
  "  channel, topic, variables, status, next_attempt_at, created_at, updated_at)\n"       \
  "SELECT (lpad(to_hex((extract(epoch FROM $5::timestamptz) * 1000)::bigint), 12, '0')\n" \
  "    || '7' || p.r || lpad(to_hex(d.n % 4294967296), 8, '0'))::uuid,\n"                 \
  "  $1::uuid, $2, nullif(d.subject_id, '')::uuid, d.address, d.match_key,\n"             \
  "  $3, $4, d.variables::jsonb, 'queued', $5, $5, $5\n"                                  \
  "FROM (SELECT *, row_number() OVER () AS n FROM (SELECT DISTINCT ON (match_key) *\n"    \
  "      FROM recipients_stage ORDER BY match_key, row_no) u) d,\n"                       \
  "     (SELECT substr(h, 14, 3) || substr(h, 17, 8) AS r\n"                              \
  "      FROM replace(gen_random_uuid()::text, '-', '') h) p\n"
constexpr db::Statement kQueueStage{
    "ledger.queue_campaign_stage", HERALD_QUEUE_STAGE_SQL
    "ON CONFLICT (campaign_id, channel, match_key) WHERE campaign_id IS NOT NULL DO NOTHING"};
constexpr db::Statement kQueueStageFresh{"ledger.queue_campaign_stage_fresh",
                                         HERALD_QUEUE_STAGE_SQL};
#undef HERALD_QUEUE_STAGE_SQL

constexpr db::Statement kCancelCampaign{"ledger.cancel_campaign", R"sql(
WITH c AS (
  UPDATE messages SET status = 'cancelled', updated_at = $2
  WHERE campaign_id = $1::uuid AND status IN ('queued', 'retrying')
  RETURNING id)
INSERT INTO message_history (message_id, status, note, at)
SELECT id, 'cancelled', 'campaign cancelled', $2 FROM c
)sql"};

constexpr db::Statement kMarkClaimed{"ledger.mark_claimed", R"sql(
UPDATE messages m SET
  status = u.status,
  deny_reason = nullif(u.reason, 0),
  provider = nullif(u.provider, ''),
  attempts = m.attempts + CASE WHEN u.status = 'sending' THEN 1 ELSE 0 END,
  lease_owner = CASE WHEN u.status = 'sending' THEN $5 END,
  lease_expires_at = CASE WHEN u.status = 'sending' THEN $6::timestamptz END,
  next_attempt_at = CASE WHEN u.status = 'retrying' THEN $8::timestamptz
                    ELSE m.next_attempt_at END,
  first_attempt_at = CASE WHEN u.status = 'sending' THEN coalesce(m.first_attempt_at, $7)
                     ELSE m.first_attempt_at END,
  updated_at = $7
FROM unnest($1::uuid[], $2::text[], $3::smallint[], $4::text[])
  AS u(id, status, reason, provider)
WHERE m.id = u.id
)sql"};

constexpr db::Statement kHistory{"ledger.history", R"sql(
INSERT INTO message_history (message_id, status, deny_reason, note, at)
SELECT id, status, nullif(reason, 0), note, $5
FROM unnest($1::uuid[], $2::text[], $3::smallint[], $4::text[]) AS u(id, status, reason, note)
)sql"};

constexpr db::Statement kAttempts{"ledger.attempts", R"sql(
INSERT INTO message_attempts (message_id, number, provider, started_at, ended_at, outcome,
  code, enhanced_status, provider_code, detail, provider_message_id)
SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[],
  $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[])
)sql"};

// Only the attempt that still holds the message may complete it: a reclaimed message belongs
// to its new attempt (attempts moved on). A report may have settled the held message already
// (a bounce while SENDING): the completion keeps that status and still ends the lease. In SET,
// m.status is the status before this statement; RETURNING shows the one after it.
constexpr db::Statement kComplete{"ledger.complete", R"sql(
UPDATE messages m SET
  status = CASE WHEN m.status = 'sending' THEN u.status ELSE m.status END,
  next_attempt_at = CASE WHEN m.status = 'sending' THEN u.next_at ELSE m.next_attempt_at END,
  attempts = m.attempts - u.uncounted,
  lease_owner = NULL,
  lease_expires_at = NULL,
  updated_at = $5,
  sms_encoding = coalesce(nullif(u.enc, ''), m.sms_encoding),
  sms_segments = coalesce(nullif(u.seg, 0), m.sms_segments)
FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $6::text[], $7::int[],
            $8::int[]) AS u(id, attempt, status, next_at, enc, seg, uncounted)
WHERE m.id = u.id AND m.attempts = u.attempt
  AND (m.status = 'sending'
       OR (m.status IN ('delivered', 'undelivered') AND m.lease_owner IS NOT NULL))
RETURNING m.id::text, m.status, m.status <> u.status
)sql"};

// Only a sent message takes a receipt; a repeated or late one changes nothing.
constexpr db::Statement kApplyReceipt{"ledger.apply_receipt", R"sql(
WITH m AS (
  UPDATE messages SET status = $2, updated_at = $3
  WHERE id = $1::uuid AND status = 'sent'
  RETURNING id, status)
INSERT INTO message_history (message_id, status, note, at)
SELECT id, status, $4, $3 FROM m
RETURNING message_id
)sql"};

constexpr db::Statement kApplyBounce{"ledger.apply_bounce", R"sql(
UPDATE messages SET status = 'undelivered', updated_at = $2
WHERE id = $1::uuid AND status IN ('sending', 'sent', 'delivered')
)sql"};

constexpr db::Statement kNoteReport{"ledger.note_report", R"sql(
INSERT INTO message_history (message_id, status, note, at)
SELECT id, status, $2, $3 FROM messages WHERE id = $1::uuid
)sql"};

// The recipient's messages: the subject's, and any to its addresses under no or another
// subject id ($1 subject, $2 address kinds, $3 match keys).
#define HERALD_MESSAGES_OF_RECIPIENT                                 \
  "(m.subject_id = $1::uuid OR (m.match_key IS NOT NULL AND\n"       \
  "   (CASE WHEN m.channel = 1 THEN 1 ELSE 2 END, m.match_key) IN\n" \
  "   (SELECT * FROM unnest($2::smallint[], $3::text[]))))\n"
constexpr db::Statement kCancelForErasure{
    "ledger.cancel_for_erasure",
    "WITH c AS (\n"
    "  UPDATE messages m SET status = 'cancelled', next_attempt_at = NULL, updated_at = $4\n"
    "  WHERE " HERALD_MESSAGES_OF_RECIPIENT
    "    AND m.status IN ('queued', 'retrying')\n"
    "  RETURNING m.id)\n"
    "INSERT INTO message_history (message_id, status, note, at)\n"
    "SELECT id, 'cancelled', $5, $4 FROM c\n"};
// Held messages are left until their lease runs out: their worker still reads the recipient
// to end its attempt.
constexpr db::Statement kScrubForErasure{
    "ledger.scrub_for_erasure",
    "WITH m AS (\n"
    "  UPDATE messages m SET address = NULL, match_key = NULL, subject_template = NULL,\n"
    "    text_template = NULL, html_template = NULL, variables = '{}', updated_at = $4\n"
    "  WHERE " HERALD_MESSAGES_OF_RECIPIENT
    "    AND m.status <> 'sending'\n"
    "    AND (m.lease_owner IS NULL OR m.lease_expires_at <= $4)\n"
    "  RETURNING m.id),\n"
    " a AS (\n"
    "  UPDATE message_attempts SET detail = ''\n"
    "  WHERE message_id IN (SELECT id FROM m) AND detail <> '' RETURNING 1),\n"
    " h AS (\n"
    "  UPDATE message_history SET note = ''\n"
    "  WHERE message_id IN (SELECT id FROM m) AND note <> '' AND note <> $5 RETURNING 1)\n"
    "SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM a)\n"};
#undef HERALD_MESSAGES_OF_RECIPIENT

// Settled: nothing will render or send this message again.
constexpr db::Statement kPurgeSettledContent{"ledger.purge_settled_content", R"sql(
WITH m AS (
  UPDATE messages SET subject_template = NULL, text_template = NULL, html_template = NULL,
    variables = '{}'
  WHERE id IN (
    SELECT id FROM messages
    WHERE updated_at < $1
      AND status IN ('suppressed', 'cancelled', 'sent', 'delivered', 'undelivered', 'failed')
      AND (subject_template IS NOT NULL OR text_template IS NOT NULL
           OR html_template IS NOT NULL OR variables <> '{}'::jsonb)
    LIMIT $2)
  RETURNING id),
 a AS (
  UPDATE message_attempts SET detail = ''
  WHERE message_id IN (SELECT id FROM m) AND detail <> '' RETURNING 1)
SELECT count(*) FROM m
)sql"};

// Erasure leaves a held message to finish its one attempt; once it has settled (or its lease
// ran out: its worker died), its address and content go like the rest of the subject's.
constexpr db::Statement kScrubErased{"ledger.scrub_erased", R"sql(
WITH m AS (
  UPDATE messages SET address = NULL, match_key = NULL, subject_template = NULL,
    text_template = NULL, html_template = NULL, variables = '{}'
  WHERE id IN (
    SELECT m.id FROM messages m JOIN subjects s ON s.id = m.subject_id
    WHERE s.state <> 'active' AND m.status NOT IN ('sending', 'queued', 'retrying')
      AND (m.lease_owner IS NULL OR m.lease_expires_at <= $2)
      AND (m.address IS NOT NULL OR m.match_key IS NOT NULL)
    LIMIT $1)
  RETURNING id),
 a AS (
  UPDATE message_attempts SET detail = ''
  WHERE message_id IN (SELECT id FROM m) AND detail <> '' RETURNING 1),
 h AS (
  UPDATE message_history SET note = ''
  WHERE message_id IN (SELECT id FROM m) AND note <> '' RETURNING 1)
SELECT count(*) FROM m
)sql"};

}  // namespace

std::string Enqueue(db::Connection& conn, pqxx::transaction_base& txn, const NewMessage& m,
                    Timestamp now) {
  return conn
      .Exec(txn, kEnqueue, m.client_id, m.subject_id, m.address, m.match_key, m.channel, m.topic,
            m.subject_template, m.text_template, m.html_template, m.variables_json,
            std::string(StatusText(m.status)), m.deny_reason, ToIso8601(now), m.sms_encoding,
            m.sms_segments, m.reply_to_inbound, m.note)[0][0]
      .as<std::string>();
}

int64_t EnqueueCampaignRecipients(db::Connection& conn, pqxx::transaction_base& txn,
                                  const std::string& campaign_id, const std::string& client_id,
                                  int channel, const std::string& topic, Timestamp now) {
  bool fresh = !conn.Exec(txn, kCampaignHasChannel, campaign_id, channel)[0][0].as<bool>();
  auto added = conn.Exec(txn, fresh ? kQueueStageFresh : kQueueStage, campaign_id, client_id,
                         channel, topic, ToIso8601(now));
  return static_cast<int64_t>(added.affected_rows());
}

int64_t CancelCampaignMessages(db::Connection& conn, pqxx::transaction_base& txn,
                               const std::string& campaign_id, Timestamp now) {
  return static_cast<int64_t>(
      conn.Exec(txn, kCancelCampaign, campaign_id, ToIso8601(now)).affected_rows());
}

void RecordClaims(db::Connection& conn, pqxx::transaction_base& txn,
                  const std::vector<ClaimDecision>& decisions, const std::string& worker,
                  Timestamp lease_until, Timestamp retry_at, Timestamp now) {
  if (decisions.empty()) return;
  std::vector<std::string> ids, statuses, reasons, providers, notes;
  for (const auto& d : decisions) {
    ids.push_back(d.id);
    statuses.emplace_back(StatusText(d.status));
    reasons.push_back(std::to_string(d.deny_reason));
    providers.push_back(d.provider);
    notes.push_back(d.note);
  }
  std::string ids_lit = db::ToArrayLiteral(ids), statuses_lit = db::ToArrayLiteral(statuses),
              reasons_lit = db::ToArrayLiteral(reasons);
  conn.Exec(txn, kMarkClaimed, ids_lit, statuses_lit, reasons_lit, db::ToArrayLiteral(providers),
            worker, ToIso8601(lease_until), ToIso8601(now), ToIso8601(retry_at));
  conn.Exec(txn, kHistory, ids_lit, statuses_lit, reasons_lit, db::ToArrayLiteral(notes),
            ToIso8601(now));
}

std::vector<Completed> RecordCompletions(db::Connection& conn, pqxx::transaction_base& txn,
                                         const std::vector<Completion>& completions,
                                         Timestamp now) {
  if (completions.empty()) return {};
  std::vector<std::string> a_ids, a_providers, a_starts, a_ends, a_outcomes, a_enhanced, a_pcodes,
      a_details, a_pids;
  std::vector<long long> a_numbers, a_codes;
  std::vector<std::string> ids, statuses, next_at, encodings;
  std::vector<long long> attempts, segments, uncounted;
  std::map<std::string, const Completion*> by_id;
  for (const auto& c : completions) {
    if (c.attempt_record) {
      const auto& a = *c.attempt_record;
      a_ids.push_back(a.message_id);
      a_numbers.push_back(a.number);
      a_providers.push_back(a.provider);
      a_starts.push_back(ToIso8601(a.started));
      a_ends.push_back(ToIso8601(a.ended));
      a_outcomes.push_back(a.outcome);
      a_codes.push_back(a.code);
      a_enhanced.push_back(a.enhanced_status);
      a_pcodes.push_back(a.provider_code);
      a_details.push_back(a.detail);
      a_pids.push_back(a.provider_message_id);
    }
    ids.push_back(c.message_id);
    attempts.push_back(c.attempt);
    statuses.emplace_back(StatusText(c.status));
    next_at.push_back(ToIso8601(c.status == MessageStatus::kRetrying ? c.next_attempt_at : now));
    encodings.push_back(c.sms_encoding);
    segments.push_back(c.sms_segments);
    uncounted.push_back(c.counted ? 0 : 1);
    by_id[c.message_id] = &c;
  }
  if (!a_ids.empty()) {
    conn.Exec(
        txn, kAttempts, db::ToArrayLiteral(a_ids), db::ToArrayLiteral(a_numbers),
        db::ToArrayLiteral(a_providers), db::ToArrayLiteral(a_starts), db::ToArrayLiteral(a_ends),
        db::ToArrayLiteral(a_outcomes), db::ToArrayLiteral(a_codes), db::ToArrayLiteral(a_enhanced),
        db::ToArrayLiteral(a_pcodes), db::ToArrayLiteral(a_details), db::ToArrayLiteral(a_pids));
  }
  auto done = conn.Exec(txn, kComplete, db::ToArrayLiteral(ids), db::ToArrayLiteral(attempts),
                        db::ToArrayLiteral(statuses), db::ToArrayLiteral(next_at), ToIso8601(now),
                        db::ToArrayLiteral(encodings), db::ToArrayLiteral(segments),
                        db::ToArrayLiteral(uncounted));
  std::vector<Completed> out;
  std::vector<std::string> h_ids, h_status, h_reason, h_note;
  for (const auto& r : done) {
    Completed c;
    c.message_id = r[0].as<std::string>();
    c.status = ParseStatus(r[1].as<std::string>()).value_or(MessageStatus::kFailed);
    c.settled_by_report = r[2].as<bool>();
    const Completion& in = *by_id.at(c.message_id);
    h_ids.push_back(c.message_id);
    h_status.emplace_back(StatusText(c.status));
    h_reason.push_back("0");
    h_note.push_back(c.settled_by_report ? in.note + "; a report had settled the message"
                                         : in.note);
    out.push_back(c);
  }
  if (!h_ids.empty()) {
    conn.Exec(txn, kHistory, db::ToArrayLiteral(h_ids), db::ToArrayLiteral(h_status),
              db::ToArrayLiteral(h_reason), db::ToArrayLiteral(h_note), ToIso8601(now));
  }
  return out;
}

bool ApplyReceipt(db::Connection& conn, pqxx::transaction_base& txn, const std::string& message_id,
                  MessageStatus outcome, const std::string& note, Timestamp now) {
  return !conn.Exec(txn, kApplyReceipt, message_id, std::string(StatusText(outcome)),
                    ToIso8601(now), note)
              .empty();
}

bool ApplyBounce(db::Connection& conn, pqxx::transaction_base& txn, const std::string& message_id,
                 const std::string& note, Timestamp now) {
  bool marked = conn.Exec(txn, kApplyBounce, message_id, ToIso8601(now)).affected_rows() > 0;
  NoteReport(conn, txn, message_id, note, now);
  return marked;
}

void NoteReport(db::Connection& conn, pqxx::transaction_base& txn, const std::string& message_id,
                const std::string& note, Timestamp now) {
  conn.Exec(txn, kNoteReport, message_id, note, ToIso8601(now));
}

int64_t CancelForErasure(db::Connection& conn, pqxx::transaction_base& txn, const Recipient& r,
                         Timestamp now) {
  return static_cast<int64_t>(
      conn.Exec(txn, kCancelForErasure, r.subject_id, db::ToArrayLiteral(r.kinds),
                db::ToArrayLiteral(r.match_keys), ToIso8601(now), std::string(kErasedNote))
          .affected_rows());
}

Scrubbed ScrubForErasure(db::Connection& conn, pqxx::transaction_base& txn, const Recipient& r,
                         Timestamp now) {
  auto row =
      conn.Exec(txn, kScrubForErasure, r.subject_id, db::ToArrayLiteral(r.kinds),
                db::ToArrayLiteral(r.match_keys), ToIso8601(now), std::string(kErasedNote))[0];
  return {row[0].as<int64_t>(), row[1].as<int64_t>()};
}

int64_t PurgeSettledContent(db::Connection& conn, pqxx::transaction_base& txn, Timestamp cutoff,
                            int64_t limit) {
  return conn.Exec(txn, kPurgeSettledContent, ToIso8601(cutoff), limit)[0][0].as<int64_t>();
}

int64_t ScrubErasedMessages(db::Connection& conn, pqxx::transaction_base& txn, int64_t limit,
                            Timestamp now) {
  return conn.Exec(txn, kScrubErased, limit, ToIso8601(now))[0][0].as<int64_t>();
}

}  // namespace herald::dispatch::ledger
