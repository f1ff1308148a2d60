#include "services/dispatch/outbox/outbox.h"

#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "services/dispatch/ledger/message_ledger.h"
#include "services/subscriptions/gate/frequency_slots.h"
#include "services/subscriptions/gate/gate_rows.h"

namespace herald::dispatch {
namespace {

// Due messages, and SENDING ones whose lease ran out (their worker died): both are
// (re)claimed under a new lease and decided by the gate again. Each kind is taken in its own
// index order up to the limit and locked there (one OR over both made PostgreSQL
// fetch, join and sort every due message, templates included, for each claim, so a campaign
// of N recipients cost O(N) per batch). The locked rows' own columns are returned from the
// locking scans, so a row changed since the statement's snapshot is read as locked. Leases
// run out by PostgreSQL's clock (ledger::RecordClaims), read once per claim so that a claim's
// leases, which share one expiry, are reclaimed together; $3 false leaves them for now. A
// campaign's content is not read here: it is the same for all its messages, and the worker
// compiles it once per campaign (CampaignService::CompiledContent), so a batch no longer
// carries a copy of it in every row.
constexpr db::Statement kClaimDue{"outbox.claim_due", R"sql(
  WITH due AS (
    SELECT m.id, m.campaign_id, m.subject_id, m.address, m.match_key, m.channel, m.topic,
      m.attempts, m.subject_template, m.text_template, m.html_template, m.variables,
      m.status, m.first_attempt_at, m.next_attempt_at, m.reply_to_inbound,
      m.confirms_capture
    FROM messages m LEFT JOIN campaigns c ON c.id = m.campaign_id
    WHERE m.status IN ('queued', 'retrying') AND m.next_attempt_at <= $1
      AND (m.campaign_id IS NULL OR c.status IN ('running', 'cancelled'))
    ORDER BY m.next_attempt_at
    LIMIT $2
    FOR UPDATE OF m SKIP LOCKED
  ),
  expired AS (
    SELECT m.id, m.campaign_id, m.subject_id, m.address, m.match_key, m.channel, m.topic,
      m.attempts, m.subject_template, m.text_template, m.html_template, m.variables,
      m.status, m.first_attempt_at, m.next_attempt_at, m.reply_to_inbound,
      m.confirms_capture
    FROM messages m
    WHERE $3 AND m.status = 'sending' AND m.lease_expires_at <= (SELECT clock_timestamp())
    ORDER BY m.lease_expires_at
    LIMIT $2
    FOR UPDATE OF m SKIP LOCKED
  ),
  d AS (SELECT * FROM due UNION ALL SELECT * FROM expired)
  SELECT d.id::text, coalesce(d.campaign_id::text, ''), coalesce(d.subject_id::text, ''),
    d.address, d.match_key, d.channel, d.topic, d.attempts,
    coalesce(d.subject_template, ''), coalesce(d.text_template, ''),
    coalesce(d.html_template, ''), d.variables::text, d.status,
    coalesce(s.surname, ''), coalesce(s.given_name, ''), coalesce(s.patronymic, ''),
    coalesce(s.locale, ''), coalesce(c.rate_per_second, 0), coalesce(c.status, ''),
    coalesce(d.first_attempt_at, $1::timestamptz)::text, d.reply_to_inbound,
    (SELECT i.provider FROM inbound_sms i WHERE i.id = d.reply_to_inbound),
    d.confirms_capture::text, d.first_attempt_at IS NOT NULL
  FROM d
    LEFT JOIN campaigns c ON c.id = d.campaign_id
    LEFT JOIN subjects s ON s.id = d.subject_id
  ORDER BY d.next_attempt_at
  LIMIT $2
)sql"};

// The completion's commit does not wait for its WAL to reach the disk. Each outcome is
// recorded before its lane sends again, so a worker commits a few times per message batch it
// sends, and waiting for the flush every time cut the campaign rate to a quarter. What this
// risks: a PostgreSQL crash (not a restart: a clean shutdown flushes the WAL) forgets the
// outcomes of its last moments (wal_writer_delay, 200 ms by default); those messages are
// reclaimed after their lease and go out again. An opt-out's own commit is synchronous and
// flushes every commit before it, so no opt-out is ever ordered after a completion that is
// then forgotten.
constexpr db::Statement kAsyncCommit{"outbox.async_commit", R"sql(
  SELECT set_config('synchronous_commit', 'off', true)
)sql"};

// Recipients of outcomes that do not carry theirs (Outcome::recipient).
constexpr db::Statement kRecipientsOf{"outbox.recipients_of", R"sql(
  SELECT coalesce(subject_id::text, ''), channel, coalesce(match_key, '')
  FROM messages
  WHERE id IN (SELECT unnest($1::uuid[]))
)sql"};

// Provider text is stored as given but must be valid UTF-8 without NUL (PostgreSQL refuses
// both): anything else becomes '?'. At most 300 bytes, cut at a character boundary.
std::string StorableText(const std::string& in) {
  std::string out;
  size_t i = 0;
  while (i < in.size() && out.size() < 300) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= in.size() && c != 0;
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(in[i + k]) & 0xc0) == 0x80;
    }
    if (ok && len > 1) {
      // Overlong forms and surrogates are invalid too.
      unsigned char c1 = static_cast<unsigned char>(in[i + 1]);
      ok = !(c == 0xc0 || c == 0xc1 || (c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 >= 0xa0) ||
             (c == 0xf0 && c1 < 0x90) || c > 0xf4 || (c == 0xf4 && c1 >= 0x90));
    }
    if (!ok) {
      out.push_back('?');
      ++i;
      continue;
    }
    if (out.size() + len > 300) break;
    out.append(in, i, len);
    i += len;
  }
  return out;
}

}  // namespace

Outcome OutcomeOf(const ClaimedMessage& m) {
  Outcome o;
  o.message_id = m.id;
  o.attempt = m.attempt;
  o.lease_token = m.lease_token;
  o.provider = m.provider;
  o.recipient = {m.subject_id, m.channel, m.match_key};
  return o;
}

Outbox::Outbox(db::Pool& pool, const Clock& clock, const subscriptions::EligibilityGate& gate,
               const TopicCatalog& topics, ProviderPicker picker, RetryPolicy retry)
    : pool_(pool),
      clock_(clock),
      gate_(gate),
      topics_(topics),
      picker_(std::move(picker)),
      retry_(retry) {}

std::chrono::seconds Outbox::Backoff(const std::string& message_id, int attempt,
                                     std::optional<std::chrono::seconds> retry_after) const {
  int64_t cap = retry_.base_delay.count() << std::min(attempt - 1, 20);
  cap = std::min<int64_t>(cap, retry_.max_delay.count());
  std::seed_seq seed(message_id.begin(), message_id.end());
  std::mt19937 rng(seed);
  rng.discard(attempt);
  int64_t delay = std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng);
  if (retry_after && retry_after->count() > delay) delay = retry_after->count();
  return std::chrono::seconds(delay);
}

std::vector<ClaimedMessage> Outbox::Claim(const std::string& worker, int limit,
                                          std::chrono::seconds lease, bool reclaim_expired,
                                          const Admit& admit) {
  Timestamp now = clock_.Now();
  // Before anything is asked of PostgreSQL, whose lease starts later than this.
  const auto lease_deadline = std::chrono::steady_clock::now() + lease;
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto rows = conn->Exec(txn, kClaimDue, ToIso8601(now), limit, reclaim_expired);
  if (rows.empty()) return {};

  struct Row {
    ClaimedMessage m;
    std::string match_key;
    std::optional<MessageStatus> previous_status;
    std::string campaign_status;
    Timestamp first_attempt;
    bool expired = false;
    std::optional<int64_t> reply_to_inbound;      // a keyword reply: the gate's exception
    std::string reply_provider;                   // the provider its keyword came in by
    std::optional<std::string> confirms_capture;  // a capture confirmation: exception two
    bool claimed_before = false;  // moved to SENDING once already: holds its cap slots
  };
  std::vector<Row> batch;
  for (const auto& r : rows) {
    Row row;
    row.m.id = r[0].as<std::string>();
    row.m.campaign_id = r[1].as<std::string>();
    row.m.subject_id = r[2].as<std::string>();
    row.m.address = r[3].as<std::string>();
    row.match_key = r[4].as<std::string>();
    row.m.match_key = row.match_key;
    row.m.channel = static_cast<Channel>(r[5].as<int>());
    row.m.topic = r[6].as<std::string>();
    row.m.attempt = r[7].as<int>() + 1;
    row.m.subject_template = r[8].as<std::string>();
    row.m.text_template = r[9].as<std::string>();
    row.m.html_template = r[10].as<std::string>();
    nlohmann::json vars = nlohmann::json::parse(r[11].as<std::string>());
    for (auto& [k, v] : vars.items()) row.m.variables[k] = v.get<std::string>();
    row.previous_status = ParseStatus(r[12].as<std::string>());
    const char* fields[] = {"surname", "given_name", "patronymic", "locale"};
    for (int f = 0; f < 4; ++f) row.m.variables[fields[f]] = r[13 + f].as<std::string>();
    row.m.campaign_rate = r[17].as<double>();
    row.campaign_status = r[18].as<std::string>();
    row.first_attempt = ParseTimestamp(r[19].as<std::string>());
    // Age counts from the first attempt: recipients may wait for a campaign to start.
    row.expired = now - row.first_attempt > retry_.max_age || row.m.attempt > retry_.max_attempts;
    if (!r[20].is_null()) row.reply_to_inbound = r[20].as<int64_t>();
    if (!r[21].is_null()) row.reply_provider = r[21].as<std::string>();
    if (!r[22].is_null()) row.confirms_capture = r[22].as<std::string>();
    row.claimed_before = r[23].as<bool>();
    batch.push_back(std::move(row));
  }

  // The gate rows of every recipient before the gate reads them (gate_rows.h).
  std::vector<subscriptions::ClaimRecipient> recipients;
  for (const auto& row : batch) {
    recipients.push_back({row.m.subject_id, row.m.channel, row.match_key});
  }
  subscriptions::LockForClaim(*conn, txn, gate_.hasher(), recipients);

  // The gate, in its own statements, with the chosen provider's country.
  std::vector<subscriptions::GateRequest> requests;
  std::vector<std::optional<ProviderChoice>> providers;
  for (auto& row : batch) {
    subscriptions::GateRequest g;
    if (!row.m.subject_id.empty()) g.subject_id = row.m.subject_id;
    g.address = row.m.address;
    g.channel = row.m.channel;
    g.reply_to_inbound = row.reply_to_inbound;
    g.confirms_capture = row.confirms_capture;
    g.holds_cap_slots = row.claimed_before;
    g.now = now;
    g.topic = topics_.Find(row.m.topic);
    // A topic removed from config: the message cannot be decided; it fails below.
    if (!g.topic) g.topic = topics_.Find("service");
    row.m.marketing = g.topic->marketing;
    std::optional<ProviderChoice> provider;
    if (named_picker_ && !row.reply_provider.empty()) {
      provider = named_picker_(row.reply_provider, row.m.channel);
    }
    if (!provider) provider = picker_(row.m.channel, /*foreign_ok=*/true);
    if (provider) g.provider_country = provider->country;
    providers.push_back(provider);
    requests.push_back(g);
  }
  auto decisions = gate_.Decide(*conn, txn, requests);
  // Cross-border refused: try the next domestic provider, asking the gate again.
  std::vector<size_t> retry_domestic;
  std::vector<subscriptions::GateRequest> domestic_requests;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (decisions[i].reason != DenyReason::kCrossBorderNotAllowed) continue;
    auto domestic = picker_(batch[i].m.channel, /*foreign_ok=*/false);
    if (!domestic) continue;  // none configured: the refusal stands
    providers[i] = domestic;
    if (!domestic->available) continue;  // configured but out: retried below
    requests[i].provider_country = domestic->country;
    retry_domestic.push_back(i);
    domestic_requests.push_back(requests[i]);
  }
  if (!domestic_requests.empty()) {
    auto again = gate_.Decide(*conn, txn, domestic_requests);
    for (size_t k = 0; k < retry_domestic.size(); ++k) decisions[retry_domestic[k]] = again[k];
  }

  // Fair sending: a message inside its recipient's quiet hours waits for their end; one
  // about to be sent takes its frequency-cap slots here, under the claim's locks, and is
  // capped when another claim took the last one (the gate's read above saw room).
  auto sendable = [&](size_t i) {
    const auto& row = batch[i];
    return row.campaign_status != "cancelled" && topics_.Find(row.m.topic) && !row.expired &&
           decisions[i].allowed() && providers[i] && providers[i]->available;
  };
  auto deferred = [&](size_t i) {
    return decisions[i].not_before && *decisions[i].not_before > now;
  };
  // Rate limits: a message its limits cannot send within the lease stays as it is, untouched
  // (no cap slot, no history), for a later claim; only messages about to be sent are asked.
  std::vector<bool> admitted(batch.size(), true);
  if (admit) {
    for (size_t i = 0; i < batch.size(); ++i) {
      if (sendable(i) && !deferred(i)) admitted[i] = admit(providers[i]->name, batch[i].m);
    }
  }
  std::vector<size_t> slot_idx;
  std::vector<subscriptions::SlotNeed> slot_needs;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!admitted[i] || !sendable(i) || deferred(i) || decisions[i].cap_subject_id.empty() ||
        batch[i].claimed_before) {
      continue;
    }
    slot_idx.push_back(i);
    slot_needs.push_back({decisions[i].cap_subject_id, batch[i].m.channel, batch[i].m.topic});
  }
  if (!slot_needs.empty()) {
    auto granted =
        subscriptions::TakeFrequencySlots(*conn, txn, gate_.fair_sending(), slot_needs, now);
    for (size_t k = 0; k < slot_idx.size(); ++k) {
      if (!granted[k]) decisions[slot_idx[k]].reason = DenyReason::kFrequencyCapped;
    }
  }

  std::vector<ledger::ClaimDecision> decided;
  std::vector<ClaimedMessage> claimed;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!admitted[i]) continue;
    auto& row = batch[i];
    ledger::ClaimDecision d;
    d.id = row.m.id;
    if (sendable(i) && deferred(i)) {
      // Not a refusal: it goes when the quiet hours end (DESIGN), no attempt counted.
      d.status = row.previous_status == MessageStatus::kRetrying ? MessageStatus::kRetrying
                                                                 : MessageStatus::kQueued;
      d.defer_until = decisions[i].not_before;
      d.note = "quiet hours: waits until " + ToIso8601(*decisions[i].not_before);
    } else if (row.campaign_status == "cancelled") {
      d.status = MessageStatus::kCancelled;
      d.note = "campaign cancelled";
    } else if (!topics_.Find(row.m.topic)) {
      d.status = MessageStatus::kFailed;
      d.note = "topic no longer configured";
    } else if (row.expired) {
      d.status = MessageStatus::kFailed;
      d.note = "gave up: too many attempts or too old";
    } else if (decisions[i].reason == DenyReason::kCrossBorderNotAllowed && providers[i] &&
               !providers[i]->available) {
      // The domestic provider exists but is out for now: wait for it, do not suppress.
      d.status = MessageStatus::kRetrying;
      d.note = "domestic provider unavailable";
    } else if (!decisions[i].allowed()) {
      d.status = MessageStatus::kSuppressed;
      d.deny_reason = static_cast<int>(decisions[i].unknown_subject ? DenyReason::kSubjectDestroyed
                                                                    : decisions[i].reason);
    } else if (!providers[i] || !providers[i]->available) {
      // No provider can take it now (none configured or all circuits open): try later.
      d.status = MessageStatus::kRetrying;
      d.note = "no provider available";
    } else {
      d.status = MessageStatus::kSending;
      row.m.provider = providers[i]->name;
      row.m.lease_deadline = lease_deadline;
      if (row.previous_status == MessageStatus::kSending) d.note = "lease expired; reclaimed";
      claimed.push_back(row.m);
    }
    d.provider = providers[i] ? providers[i]->name : "";
    decided.push_back(std::move(d));
  }
  const int64_t token =
      ledger::RecordClaims(*conn, txn, decided, worker, lease, now + retry_.base_delay, now);
  txn.commit();
  for (auto& m : claimed) m.lease_token = token;
  return claimed;
}

void Outbox::Complete(const std::vector<Outcome>& outcomes) {
  if (outcomes.empty()) return;
  Timestamp now = clock_.Now();
  std::vector<ledger::Completion> completions;
  // The recipients' gate rows: those the worker kept from the claim, the others read back.
  std::vector<subscriptions::ClaimRecipient> recipients;
  std::vector<std::string> unknown_recipients;
  for (const auto& o : outcomes) {
    ledger::Completion c;
    c.message_id = o.message_id;
    c.attempt = o.attempt;
    c.lease_token = o.lease_token;
    c.sms_encoding = o.sms_encoding;
    c.sms_segments = o.sms_segments;
    // Attempt rows only for what reached a provider; a message refused by an open circuit
    // gets its attempt back and is retried soon, so an outage cannot use up its attempts.
    c.counted = !o.result.not_attempted;
    if (c.counted) {
      c.attempt_record = ledger::AttemptRecord{o.message_id,
                                               o.attempt,
                                               o.provider,
                                               o.started,
                                               o.ended,
                                               DeliveryOutcomeName(o.result.outcome),
                                               o.result.code,
                                               StorableText(o.result.enhanced_status),
                                               StorableText(o.result.provider_code),
                                               StorableText(o.result.detail),
                                               StorableText(o.result.provider_message_id)};
    }
    switch (o.result.outcome) {
      case DeliveryOutcome::kSent:
      // The provider may have the message: sending it again could deliver it twice. The
      // attempt row keeps MAYBE_SENT for the operator.
      case DeliveryOutcome::kMaybeSent:
        c.status = MessageStatus::kSent;
        break;
      case DeliveryOutcome::kRetry:
        c.status = MessageStatus::kRetrying;
        c.next_attempt_at = o.result.not_attempted
                                ? now + std::min(retry_.base_delay, std::chrono::seconds(5))
                                : now + Backoff(o.message_id, o.attempt, o.result.retry_after);
        break;
      case DeliveryOutcome::kFailed:
      case DeliveryOutcome::kSuppress:
        c.status = MessageStatus::kFailed;
        break;
    }
    c.note = o.result.not_attempted ? o.result.detail + "; not attempted"
                                    : std::string(DeliveryOutcomeName(o.result.outcome)) + " " +
                                          std::to_string(o.result.code);
    if (o.recipient.match_key.empty()) {
      unknown_recipients.push_back(o.message_id);
    } else {
      recipients.push_back(o.recipient);
    }
    completions.push_back(std::move(c));
  }
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  conn->Exec(txn, kAsyncCommit);
  // Leaving SENDING is ordered against opt-outs like entering it.
  // A message's recipient does not change while a claim holds it (erasure leaves held
  // messages alone), so the claim's copy names the same rows as the message does.
  if (!unknown_recipients.empty()) {
    for (const auto& r : conn->Exec(txn, kRecipientsOf, db::ToArrayLiteral(unknown_recipients))) {
      recipients.push_back(
          {r[0].as<std::string>(), static_cast<Channel>(r[1].as<int>()), r[2].as<std::string>()});
    }
  }
  subscriptions::LockForClaim(*conn, txn, gate_.hasher(), recipients);
  // A message reclaimed meanwhile keeps only this attempt's row: it belongs to its new attempt.
  ledger::RecordCompletions(*conn, txn, completions, now);
  txn.commit();
}

}  // namespace herald::dispatch
