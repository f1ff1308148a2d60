#include "services/dispatch/ledger/message_ledger.h"

#include <map>
#include <utility>

#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/domain/enums.h"

namespace herald::dispatch::ledger {
namespace {

// deny_reason 0 means none throughout: it is stored as NULL.
//
// Where a transition is recorded (V010__message_transitions.sql): the routine claim
// (queued or retrying -> sending) and completion (sending -> sent) on the attempt row, every
// other transition as a message_history row. Both draw their place in the message's history
// from message_history_id_seq; kTransitions reads them back in that order.

constexpr db::Statement kEnqueue{"ledger.enqueue", R"sql(
  WITH m AS (
    INSERT INTO messages (id, client_id, subject_id, address, match_key, channel, topic,
      subject_template, text_template, html_template, variables, status, deny_reason,
      next_attempt_at, sms_encoding, sms_segments, reply_to_inbound, confirms_capture,
      created_at, updated_at)
    VALUES (gen_random_uuid(), $1, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11,
      nullif($12, 0), $13, $14, $15, $16, $18::uuid, $13, $13)
    RETURNING id, status, deny_reason
  )
  INSERT INTO message_history (message_id, status, deny_reason, note, at)
  SELECT id, status, deny_reason, $17, $13 FROM m
  RETURNING message_id::text
)sql"};

// Message ids are time-ordered (UUID version 7 layout: 48-bit Unix milliseconds of the
// clock's now, version 7, 40 random bits drawn once per statement, the variant, then a 32-bit
// counter in insertion order). Random v4 ids put every insertion into a random leaf of
// messages_pkey; ordered ids append at its right edge, where PostgreSQL's btree skips the
// descent. Rows are inserted in (match_key, row_no) order, which is also the order of the
// campaign uniqueness index, so both indexes grow at one place per upload.
//
// A campaign's first upload (nothing of the channel queued yet) inserts without ON CONFLICT:
// the speculative insertion behind ON CONFLICT DO NOTHING (a probe of the arbiter index, a
// speculative-insertion lock and its confirmation per row) took about half of the statement.
// This is safe because this is the only writer of campaign messages and its caller holds the
// campaign row FOR UPDATE: no other upload of the campaign can add rows meanwhile, and the
// statement keeps one row per match_key (DISTINCT ON). Later uploads keep ON CONFLICT;
// messages_campaign_recipient enforces uniqueness either way.
//
// Campaign messages get no history row when queued: their creation is created_at, and a
// million-row upload would double its writes.
constexpr db::Statement kCampaignHasChannel{"ledger.campaign_has_channel", R"sql(
  SELECT EXISTS (SELECT 1 FROM messages WHERE campaign_id = $1::uuid AND channel = $2)
)sql"};
// The same insertion with and without the conflict arbiter (see above): kept as two texts
// because the arbiter is what the first upload must not pay for. The rows come from the
// upload as its owner resolves them (herald_resolve_upload, inlined: one pass joins, inserts
// and reports); the answer is the number added, and the skipped rows with their reasons (one
// row with a NULL row number when none was skipped).
constexpr db::Statement kQueueUpload{"ledger.queue_campaign_upload", R"sql(
  WITH r AS MATERIALIZED (SELECT * FROM herald_resolve_upload($6::uuid, $7::smallint)),
  ins AS (
    INSERT INTO messages (id, campaign_id, client_id, subject_id, address, match_key,
      channel, topic, variables, status, next_attempt_at, created_at, updated_at)
    SELECT (lpad(to_hex((extract(epoch FROM $5::timestamptz) * 1000)::bigint), 12, '0')
        || '7' || p.r || lpad(to_hex(d.n % 4294967296), 8, '0'))::uuid,
      $1::uuid, $2, d.subject_id, d.address, d.match_key,
      $3, $4, d.variables::jsonb, 'queued', $5, $5, $5
    FROM (SELECT *, row_number() OVER () AS n
          FROM (SELECT DISTINCT ON (match_key) * FROM r
                WHERE skip IS NULL
                ORDER BY match_key, row_no) u) d,
         (SELECT substr(h, 14, 3) || substr(h, 17, 8) AS r
          FROM replace(gen_random_uuid()::text, '-', '') h) p
    ON CONFLICT (campaign_id, channel, match_key) WHERE campaign_id IS NOT NULL DO NOTHING
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM ins), s.row_no, s.skip
  FROM (SELECT 1) one
  LEFT JOIN (SELECT row_no, skip FROM r WHERE skip IS NOT NULL) s ON true
)sql"};
constexpr db::Statement kQueueUploadFresh{"ledger.queue_campaign_upload_fresh", R"sql(
  WITH r AS MATERIALIZED (SELECT * FROM herald_resolve_upload($6::uuid, $7::smallint)),
  ins AS (
    INSERT INTO messages (id, campaign_id, client_id, subject_id, address, match_key,
      channel, topic, variables, status, next_attempt_at, created_at, updated_at)
    SELECT (lpad(to_hex((extract(epoch FROM $5::timestamptz) * 1000)::bigint), 12, '0')
        || '7' || p.r || lpad(to_hex(d.n % 4294967296), 8, '0'))::uuid,
      $1::uuid, $2, d.subject_id, d.address, d.match_key,
      $3, $4, d.variables::jsonb, 'queued', $5, $5, $5
    FROM (SELECT *, row_number() OVER () AS n
          FROM (SELECT DISTINCT ON (match_key) * FROM r
                WHERE skip IS NULL
                ORDER BY match_key, row_no) u) d,
         (SELECT substr(h, 14, 3) || substr(h, 17, 8) AS r
          FROM replace(gen_random_uuid()::text, '-', '') h) p
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM ins), s.row_no, s.skip
  FROM (SELECT 1) one
  LEFT JOIN (SELECT row_no, skip FROM r WHERE skip IS NOT NULL) s ON true
)sql"};

constexpr db::Statement kCancelCampaign{"ledger.cancel_campaign", R"sql(
  WITH c AS (
    UPDATE messages SET status = 'cancelled', updated_at = $2
    WHERE campaign_id = $1::uuid AND status IN ('queued', 'retrying')
    RETURNING id
  )
  INSERT INTO message_history (message_id, status, note, at)
  SELECT id, 'cancelled', 'campaign cancelled', $2 FROM c
)sql"};

// Applies a claim's decisions ($1 ids, $2 statuses, $3 deny reasons, $4 providers, $5 notes)
// to messages the caller locked. A routine claim (QUEUED or RETRYING to SENDING) is kept on
// the message (leased_at, lease_seq) until its completion moves it onto the attempt row;
// every other decision is a history row. A message still SENDING was held by a worker whose
// lease ran out: its abandoned claim, if kept only on the message, becomes a history row in
// its own place first (so does one an older release's completion left there), and the
// reclaim itself is a history row. The messages leased ($6 the worker, $7 the lease in
// seconds, on PostgreSQL's clock) share one new lease token, returned.
constexpr db::Statement kMarkClaimed{"ledger.mark_claimed", R"sql(
  WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::smallint[], $4::text[], $5::text[],
                         $10::timestamptz[])
      AS u(id, status, reason, provider, note, defer)
  ),
  prev AS (
    SELECT m.id, m.status, m.leased_at, m.lease_seq,
      u.status = 'sending' AND m.status <> 'sending' AS routine
    FROM messages m JOIN u ON u.id = m.id
  ),
  abandoned AS (
    INSERT INTO message_history (id, message_id, status, note, at)
    SELECT b.lease_seq, b.id, 'sending', '', b.leased_at FROM prev b
    WHERE b.lease_seq IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM message_attempts a
                      WHERE a.message_id = b.id AND a.claimed_seq = b.lease_seq)
      AND NOT EXISTS (SELECT 1 FROM message_history h
                      WHERE h.message_id = b.id AND h.id = b.lease_seq)
  ),
  decided AS (
    INSERT INTO message_history (message_id, status, deny_reason, note, at)
    SELECT u.id, u.status, nullif(u.reason, 0), u.note, $8
    FROM u JOIN prev b ON b.id = u.id
    WHERE NOT b.routine
  ),
  -- Volatile, so evaluated once: one token and one expiry for the whole claim (read per
  -- row, the expiries of one claim differed by microseconds, and a reclaim at that instant
  -- took some of its messages and not the others).
  tok AS (SELECT nextval('message_lease_token_seq') AS token,
                 clock_timestamp() + make_interval(secs => $7) AS until)
  UPDATE messages m SET
    status = u.status,
    deny_reason = nullif(u.reason, 0),
    provider = nullif(u.provider, ''),
    attempts = m.attempts + CASE WHEN u.status = 'sending' THEN 1 ELSE 0 END,
    lease_owner = CASE WHEN u.status = 'sending' THEN $6 END,
    lease_expires_at = CASE WHEN u.status = 'sending' THEN tok.until END,
    lease_token = CASE WHEN u.status = 'sending' THEN tok.token END,
    leased_at = CASE WHEN b.routine THEN $8::timestamptz END,
    lease_seq = CASE WHEN b.routine THEN nextval('message_history_id_seq') END,
    next_attempt_at = CASE WHEN u.defer IS NOT NULL THEN u.defer
                           WHEN u.status = 'retrying' THEN $9::timestamptz
                      ELSE m.next_attempt_at END,
    first_attempt_at = CASE WHEN u.status = 'sending' THEN coalesce(m.first_attempt_at, $8)
                       ELSE m.first_attempt_at END,
    updated_at = $8
  FROM u JOIN prev b ON b.id = u.id, tok
  WHERE m.id = u.id
  RETURNING m.lease_token
)sql"};

// History rows of completions: $6 is the row's place when it was drawn already (a claim
// kept on the message until now), NULL for a new one.
constexpr db::Statement kHistory{"ledger.history", R"sql(
  INSERT INTO message_history (id, message_id, status, deny_reason, note, at)
  SELECT coalesce(u.seq, nextval('message_history_id_seq')), u.id, u.status,
    nullif(u.reason, 0), u.note, u.at
  FROM unnest($1::uuid[], $2::text[], $3::smallint[], $4::text[], $5::timestamptz[],
              $6::bigint[]) AS u(id, status, reason, note, at, seq)
)sql"};

// $12..$13: the claim kept on the message (NULL when it is a history row); $14..$15: the
// completion when it is the routine move to SENT (its place is drawn here), at $16. An
// attempt recorded already (same message, number and start) is not recorded twice: a worker
// records again when it cannot tell whether its commit went through.
constexpr db::Statement kAttempts{"ledger.attempts", R"sql(
  INSERT INTO message_attempts (message_id, number, provider, started_at, ended_at, outcome,
    code, enhanced_status, provider_code, detail, provider_message_id, claimed_at,
    claimed_seq, sent_at, sent_seq, sent_note)
  SELECT u.id, u.number, u.provider, u.started, u.ended, u.outcome, u.code, u.enhanced,
    u.pcode, u.detail, u.pid, u.claimed_at, u.claimed_seq,
    CASE WHEN u.sent THEN $16::timestamptz END,
    CASE WHEN u.sent THEN nextval('message_history_id_seq') END,
    CASE WHEN u.sent THEN u.sent_note ELSE '' END
  FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $5::timestamptz[],
              $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[],
              $12::timestamptz[], $13::bigint[], $14::boolean[], $15::text[])
    AS u(id, number, provider, started, ended, outcome, code, enhanced, pcode, detail, pid,
         claimed_at, claimed_seq, sent, sent_note)
  WHERE NOT EXISTS (SELECT 1 FROM message_attempts a
                    WHERE a.message_id = u.id AND a.number = u.number
                      AND a.started_at = u.started)
)sql",
                                  /*plan_each_call=*/true};

// Only the claim that still holds the message may complete it (its lease token, $9): a
// reclaimed message belongs to its new claim, and a repeated completion (a commit whose
// outcome was in doubt, recorded again) finds the lease ended and changes nothing. The lease
// may have run out meanwhile: while nobody reclaimed the message, its worker's word stands. A
// report may have settled the held message already (a bounce while SENDING): the completion keeps
// that status and still ends the lease. In SET, m.status is the status before this statement;
// RETURNING shows the one after it, and (from `held`, the row as this statement found it) the claim
// kept on the message for the completion to record. Only a claim changes the lease columns, and it
// also moves attempts on, so a row changed under this statement no longer matches at all.
constexpr db::Statement kComplete{"ledger.complete", R"sql(
  UPDATE messages m SET
    status = CASE WHEN m.status = 'sending' THEN u.status ELSE m.status END,
    next_attempt_at = CASE WHEN m.status = 'sending' THEN u.next_at ELSE m.next_attempt_at END,
    attempts = m.attempts - u.uncounted,
    lease_owner = NULL,
    lease_expires_at = NULL,
    lease_token = NULL,
    updated_at = $5,
    leased_at = NULL,
    lease_seq = NULL,
    sms_encoding = coalesce(nullif(u.enc, ''), m.sms_encoding),
    sms_segments = coalesce(nullif(u.seg, 0), m.sms_segments)
  FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $6::text[], $7::int[],
              $8::int[], $9::bigint[]) AS u(id, attempt, status, next_at, enc, seg, uncounted, token)
    JOIN messages held ON held.id = u.id
  WHERE m.id = u.id AND m.lease_token = u.token AND m.attempts = u.attempt
    AND (m.status = 'sending'
         OR (m.status IN ('delivered', 'undelivered') AND m.lease_owner IS NOT NULL))
  RETURNING m.id::text, m.status, m.status <> u.status, held.leased_at::text, held.lease_seq
)sql"};

// Only a sent message takes a receipt; a repeated or late one changes nothing.
constexpr db::Statement kApplyReceipt{"ledger.apply_receipt", R"sql(
  WITH m AS (
    UPDATE messages SET status = $2, updated_at = $3
    WHERE id = $1::uuid AND status = 'sent'
    RETURNING id, status
  )
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

// A recipient's messages ($1 subject, $2 channels, $3 match keys: the Recipient's address
// kinds expanded to the channels that send to them): the subject's, and any to its addresses
// under no or another subject id.
constexpr db::Statement kCancelForErasure{"ledger.cancel_for_erasure", R"sql(
  WITH c AS (
    UPDATE messages m SET status = 'cancelled', next_attempt_at = NULL, updated_at = $4
    WHERE m.status IN ('queued', 'retrying')
      AND (m.subject_id = $1::uuid
           OR (m.match_key IS NOT NULL
               AND (m.channel, m.match_key) IN (SELECT * FROM unnest($2::smallint[], $3::text[]))))
    RETURNING m.id
  )
  INSERT INTO message_history (message_id, status, note, at)
  SELECT id, 'cancelled', $5, $4 FROM c
)sql"};
// Held messages are left until their lease runs out: their worker still reads the recipient
// to end its attempt. The provider's words (detail) are counted apart from the notes.
constexpr db::Statement kScrubForErasure{"ledger.scrub_for_erasure", R"sql(
  WITH m AS (
    UPDATE messages m SET address = NULL, match_key = NULL, subject_template = NULL,
      text_template = NULL, html_template = NULL, variables = '{}', updated_at = $4
    WHERE m.status <> 'sending'
      AND (m.lease_owner IS NULL OR m.lease_expires_at <= clock_timestamp())
      AND (m.subject_id = $1::uuid
           OR (m.match_key IS NOT NULL
               AND (m.channel, m.match_key) IN (SELECT * FROM unnest($2::smallint[], $3::text[]))))
    RETURNING m.id
  ),
  details AS (
    SELECT count(*) AS n FROM message_attempts
    WHERE message_id IN (SELECT id FROM m) AND detail <> ''
  ),
  a AS (
    UPDATE message_attempts SET detail = '', sent_note = ''
    WHERE message_id IN (SELECT id FROM m) AND (detail <> '' OR sent_note <> '')
    RETURNING 1
  ),
  h AS (
    UPDATE message_history SET note = ''
    WHERE message_id IN (SELECT id FROM m) AND note <> '' AND note <> $5
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM m), (SELECT n FROM details)
)sql"};

// The confirmations of expired capture requests that no worker holds: a queued one is
// cancelled, and each loses its address, content and provider texts as an erased
// recipient's messages do. Returns the requests whose confirmation is held (left for later).
constexpr db::Statement kForgetConfirmations{"ledger.forget_confirmations", R"sql(
  WITH target AS (
    SELECT m.id, m.status
    FROM messages m
    WHERE m.confirms_capture = ANY($1::uuid[])
      AND m.status <> 'sending'
      AND (m.lease_owner IS NULL OR m.lease_expires_at <= clock_timestamp())
    FOR UPDATE
  ),
  m AS (
    UPDATE messages m SET address = NULL, match_key = NULL, subject_template = NULL,
      text_template = NULL, html_template = NULL, variables = '{}',
      status = CASE WHEN t.status IN ('queued', 'retrying') THEN 'cancelled' ELSE m.status END,
      next_attempt_at = CASE WHEN t.status IN ('queued', 'retrying') THEN NULL
                             ELSE m.next_attempt_at END,
      updated_at = $2
    FROM target t
    WHERE m.id = t.id
    RETURNING m.id, t.status AS was
  ),
  c AS (
    INSERT INTO message_history (message_id, status, note, at)
    SELECT id, 'cancelled', $3, $2 FROM m WHERE was IN ('queued', 'retrying')
  ),
  a AS (
    UPDATE message_attempts SET detail = '', sent_note = ''
    WHERE message_id IN (SELECT id FROM m) AND (detail <> '' OR sent_note <> '')
    RETURNING 1
  ),
  h AS (
    UPDATE message_history SET note = ''
    WHERE message_id IN (SELECT id FROM m) AND note <> ''
    RETURNING 1
  )
  SELECT held.confirms_capture::text
  FROM messages held
  WHERE held.confirms_capture = ANY($1::uuid[])
    AND held.id NOT IN (SELECT id FROM m)
)sql"};

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
      LIMIT $2
    )
    RETURNING id
  ),
  a AS (
    UPDATE message_attempts SET detail = ''
    WHERE message_id IN (SELECT id FROM m) AND detail <> ''
    RETURNING 1
  )
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
        AND (m.lease_owner IS NULL OR m.lease_expires_at <= clock_timestamp())
        AND (m.address IS NOT NULL OR m.match_key IS NOT NULL)
      LIMIT $1
    )
    RETURNING id
  ),
  a AS (
    UPDATE message_attempts SET detail = '', sent_note = ''
    WHERE message_id IN (SELECT id FROM m) AND (detail <> '' OR sent_note <> '')
    RETURNING 1
  ),
  h AS (
    UPDATE message_history SET note = ''
    WHERE message_id IN (SELECT id FROM m) AND note <> ''
    RETURNING 1
  )
  SELECT count(*) FROM m
)sql"};

// A message's whole history, wherever each transition is recorded, in the order they
// happened.
constexpr db::Statement kTransitions{"ledger.transitions", R"sql(
  SELECT status, coalesce(deny_reason, 0), note, at::text
  FROM message_transitions
  WHERE message_id = $1::uuid
  ORDER BY seq
)sql"};

// Recipient's (address kind, match key) pairs as (channel, match key): every channel that
// sends to that kind of address.
std::pair<std::string, std::string> ChannelsAndKeys(const Recipient& r) {
  std::vector<long long> channels;
  std::vector<std::string> keys;
  for (size_t i = 0; i < r.kinds.size() && i < r.match_keys.size(); ++i) {
    for (Channel c : kAllChannels) {
      if (std::to_string(static_cast<int>(KindOf(c))) == r.kinds[i]) {
        channels.push_back(static_cast<long long>(c));
        keys.push_back(r.match_keys[i]);
      }
    }
  }
  return {db::ToArrayLiteral(channels), db::ToArrayLiteral(keys)};
}

}  // namespace

std::string Enqueue(db::Connection& conn, pqxx::transaction_base& txn, const NewMessage& m,
                    Timestamp now) {
  return conn
      .Exec(txn, kEnqueue, m.client_id, m.subject_id, m.address, m.match_key, m.channel, m.topic,
            m.subject_template, m.text_template, m.html_template, m.variables_json,
            std::string(StatusText(m.status)), m.deny_reason, ToIso8601(now), m.sms_encoding,
            m.sms_segments, m.reply_to_inbound, m.note, m.confirms_capture)[0][0]
      .as<std::string>();
}

QueuedUpload EnqueueCampaignUpload(db::Connection& conn, pqxx::transaction_base& txn,
                                   const std::string& upload_id, int address_kind,
                                   const std::string& campaign_id, const std::string& client_id,
                                   int channel, const std::string& topic, Timestamp now) {
  bool fresh = !conn.Exec(txn, kCampaignHasChannel, campaign_id, channel)[0][0].as<bool>();
  QueuedUpload out;
  for (const auto& row :
       conn.Exec(txn, fresh ? kQueueUploadFresh : kQueueUpload, campaign_id, client_id, channel,
                 topic, ToIso8601(now), upload_id, address_kind)) {
    out.added = row[0].as<int64_t>();
    if (!row[1].is_null()) out.skipped.emplace_back(row[1].as<int64_t>(), row[2].as<std::string>());
  }
  return out;
}

int64_t CancelCampaignMessages(db::Connection& conn, pqxx::transaction_base& txn,
                               const std::string& campaign_id, Timestamp now) {
  return static_cast<int64_t>(
      conn.Exec(txn, kCancelCampaign, campaign_id, ToIso8601(now)).affected_rows());
}

int64_t RecordClaims(db::Connection& conn, pqxx::transaction_base& txn,
                     const std::vector<ClaimDecision>& decisions, const std::string& worker,
                     std::chrono::seconds lease, Timestamp retry_at, Timestamp now) {
  if (decisions.empty()) return 0;
  std::vector<std::string> ids, statuses, reasons, providers, notes;
  std::vector<std::optional<std::string>> defers;
  for (const auto& d : decisions) {
    ids.push_back(d.id);
    statuses.emplace_back(StatusText(d.status));
    reasons.push_back(std::to_string(d.deny_reason));
    providers.push_back(d.provider);
    notes.push_back(d.note);
    defers.push_back(d.defer_until ? std::optional(ToIso8601(*d.defer_until)) : std::nullopt);
  }
  auto rows = conn.Exec(txn, kMarkClaimed, db::ToArrayLiteral(ids), db::ToArrayLiteral(statuses),
                        db::ToArrayLiteral(reasons), db::ToArrayLiteral(providers),
                        db::ToArrayLiteral(notes), worker, static_cast<double>(lease.count()),
                        ToIso8601(now), ToIso8601(retry_at), db::ToArrayLiteral(defers));
  for (const auto& r : rows) {
    if (!r[0].is_null()) return r[0].as<int64_t>();
  }
  return 0;
}

namespace {

// History rows to insert in one statement.
struct HistoryRows {
  std::vector<std::string> ids, statuses, reasons, notes, ats;
  std::vector<std::optional<std::string>> seqs;

  void Add(const std::string& id, MessageStatus status, const std::string& note,
           const std::string& at, std::optional<std::string> seq = std::nullopt) {
    ids.push_back(id);
    statuses.emplace_back(StatusText(status));
    reasons.push_back("0");
    notes.push_back(note);
    ats.push_back(at);
    seqs.push_back(std::move(seq));
  }
};

}  // namespace

std::vector<Completed> RecordCompletions(db::Connection& conn, pqxx::transaction_base& txn,
                                         const std::vector<Completion>& completions,
                                         Timestamp now) {
  if (completions.empty()) return {};
  const std::string now_text = ToIso8601(now);
  std::vector<std::string> ids, statuses, next_at, encodings;
  std::vector<long long> attempts, segments, uncounted, tokens;
  std::map<std::string, const Completion*> by_id;
  for (const auto& c : completions) {
    ids.push_back(c.message_id);
    attempts.push_back(c.attempt);
    tokens.push_back(c.lease_token);
    statuses.emplace_back(StatusText(c.status));
    next_at.push_back(ToIso8601(c.status == MessageStatus::kRetrying ? c.next_attempt_at : now));
    encodings.push_back(c.sms_encoding);
    segments.push_back(c.sms_segments);
    uncounted.push_back(c.counted ? 0 : 1);
    by_id[c.message_id] = &c;
  }
  auto done = conn.Exec(txn, kComplete, db::ToArrayLiteral(ids), db::ToArrayLiteral(attempts),
                        db::ToArrayLiteral(statuses), db::ToArrayLiteral(next_at), now_text,
                        db::ToArrayLiteral(encodings), db::ToArrayLiteral(segments),
                        db::ToArrayLiteral(uncounted), db::ToArrayLiteral(tokens));

  // The claim each completion ended, when it is kept on the message (a routine claim).
  struct Ended {
    MessageStatus status;
    bool settled_by_report;
    std::optional<std::string> claimed_at, claimed_seq;
  };
  std::map<std::string, Ended> ended;
  std::vector<Completed> out;
  for (const auto& r : done) {
    Completed c;
    c.message_id = r[0].as<std::string>();
    c.status = ParseStatus(r[1].as<std::string>()).value_or(MessageStatus::kFailed);
    c.settled_by_report = r[2].as<bool>();
    Ended e{c.status, c.settled_by_report, std::nullopt, std::nullopt};
    if (!r[4].is_null()) {
      e.claimed_at = r[3].as<std::string>();
      e.claimed_seq = r[4].as<std::string>();
    }
    ended[c.message_id] = e;
    out.push_back(c);
  }

  std::vector<std::string> a_ids, a_providers, a_starts, a_ends, a_outcomes, a_enhanced, a_pcodes,
      a_details, a_pids, a_sent, a_sent_notes;
  std::vector<std::optional<std::string>> a_claimed_at, a_claimed_seq;
  std::vector<long long> a_numbers, a_codes;
  HistoryRows history;
  for (const auto& c : completions) {
    auto it = ended.find(c.message_id);
    const Ended* e = it == ended.end() ? nullptr : &it->second;
    // The routine completion: the message went from SENDING to SENT and an attempt row records
    // both moves. Anything else that ended the attempt is a history row.
    const bool routine_sent =
        e && c.attempt_record && !e->settled_by_report && e->status == MessageStatus::kSent;
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
      // A completion that matched nothing (the message was reclaimed) ended no claim: the
      // reclaim recorded the one it abandoned.
      a_claimed_at.push_back(e ? e->claimed_at : std::nullopt);
      a_claimed_seq.push_back(e ? e->claimed_seq : std::nullopt);
      a_sent.emplace_back(routine_sent ? "t" : "f");
      a_sent_notes.push_back(routine_sent ? c.note : "");
    }
    if (!e || routine_sent) continue;
    // No attempt row: the claim kept on the message becomes a history row in its own place.
    if (!c.attempt_record && e->claimed_seq) {
      history.Add(c.message_id, MessageStatus::kSending, "", *e->claimed_at, e->claimed_seq);
    }
    history.Add(c.message_id, e->status,
                e->settled_by_report ? c.note + "; a report had settled the message" : c.note,
                now_text);
  }
  if (!a_ids.empty()) {
    conn.Exec(
        txn, kAttempts, db::ToArrayLiteral(a_ids), db::ToArrayLiteral(a_numbers),
        db::ToArrayLiteral(a_providers), db::ToArrayLiteral(a_starts), db::ToArrayLiteral(a_ends),
        db::ToArrayLiteral(a_outcomes), db::ToArrayLiteral(a_codes), db::ToArrayLiteral(a_enhanced),
        db::ToArrayLiteral(a_pcodes), db::ToArrayLiteral(a_details), db::ToArrayLiteral(a_pids),
        db::ToArrayLiteral(a_claimed_at), db::ToArrayLiteral(a_claimed_seq),
        db::ToArrayLiteral(a_sent), db::ToArrayLiteral(a_sent_notes), now_text);
  }
  if (!history.ids.empty()) {
    conn.Exec(txn, kHistory, db::ToArrayLiteral(history.ids), db::ToArrayLiteral(history.statuses),
              db::ToArrayLiteral(history.reasons), db::ToArrayLiteral(history.notes),
              db::ToArrayLiteral(history.ats), db::ToArrayLiteral(history.seqs));
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
  auto [channels, keys] = ChannelsAndKeys(r);
  return static_cast<int64_t>(conn.Exec(txn, kCancelForErasure, r.subject_id, channels, keys,
                                        ToIso8601(now), std::string(kErasedNote))
                                  .affected_rows());
}

Scrubbed ScrubForErasure(db::Connection& conn, pqxx::transaction_base& txn, const Recipient& r,
                         Timestamp now) {
  auto [channels, keys] = ChannelsAndKeys(r);
  auto row = conn.Exec(txn, kScrubForErasure, r.subject_id, channels, keys, ToIso8601(now),
                       std::string(kErasedNote))[0];
  return {row[0].as<int64_t>(), row[1].as<int64_t>()};
}

int64_t PurgeSettledContent(db::Connection& conn, pqxx::transaction_base& txn, Timestamp cutoff,
                            int64_t limit) {
  return conn.Exec(txn, kPurgeSettledContent, ToIso8601(cutoff), limit)[0][0].as<int64_t>();
}

std::vector<std::string> ForgetCaptureConfirmations(db::Connection& conn,
                                                    pqxx::transaction_base& txn,
                                                    const std::vector<std::string>& request_ids,
                                                    Timestamp now) {
  std::vector<std::string> held;
  for (const auto& r : conn.Exec(txn, kForgetConfirmations, db::ToArrayLiteral(request_ids),
                                 ToIso8601(now), std::string(kExpiredCaptureNote))) {
    held.push_back(r[0].as<std::string>());
  }
  return held;
}

int64_t ScrubErasedMessages(db::Connection& conn, pqxx::transaction_base& txn, int64_t limit) {
  return conn.Exec(txn, kScrubErased, limit)[0][0].as<int64_t>();
}

std::vector<Transition> History(db::Connection& conn, pqxx::transaction_base& txn,
                                const std::string& message_id) {
  std::vector<Transition> out;
  for (const auto& r : conn.Exec(txn, kTransitions, message_id)) {
    out.push_back({ParseStatus(r[0].as<std::string>()).value_or(MessageStatus::kFailed),
                   r[1].as<int>(), r[2].as<std::string>(), r[3].as<std::string>()});
  }
  return out;
}

}  // namespace herald::dispatch::ledger
