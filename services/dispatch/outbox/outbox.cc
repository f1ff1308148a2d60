#include "services/dispatch/outbox/outbox.h"

#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "services/subscriptions/gate/gate_rows.h"

namespace herald::dispatch {
namespace {

using subscriptions::Channel;
using subscriptions::DenyReason;

// Due messages, and SENDING ones whose lease ran out (their worker died): both are
// (re)claimed under a new lease and decided by the gate again. Each kind is taken in its own
// index order up to the limit and locked there (issue 6: one OR over both made PostgreSQL
// fetch, join and sort every due message, templates included, for each claim, so a campaign
// of N recipients cost O(N) per batch). The locked rows' own columns are returned from the
// locking scans, so a row changed since the statement's snapshot is read as locked.
constexpr db::Statement kClaimDue{
    "outbox.claim_due",
    "WITH due AS ("
    "  SELECT m.id, m.campaign_id, m.subject_id, m.address, m.match_key, m.channel, m.topic,"
    "   m.attempts, m.subject_template, m.text_template, m.html_template, m.variables,"
    "   m.status, m.first_attempt_at, m.next_attempt_at, m.reply_to_inbound"
    "  FROM messages m LEFT JOIN campaigns c ON c.id = m.campaign_id"
    "  WHERE m.status IN ('queued', 'retrying') AND m.next_attempt_at <= $1"
    "   AND (m.campaign_id IS NULL OR c.status IN ('running', 'cancelled'))"
    "  ORDER BY m.next_attempt_at LIMIT $2 FOR UPDATE OF m SKIP LOCKED),"
    " expired AS ("
    "  SELECT m.id, m.campaign_id, m.subject_id, m.address, m.match_key, m.channel, m.topic,"
    "   m.attempts, m.subject_template, m.text_template, m.html_template, m.variables,"
    "   m.status, m.first_attempt_at, m.next_attempt_at, m.reply_to_inbound"
    "  FROM messages m WHERE m.status = 'sending' AND m.lease_expires_at <= $1"
    "  ORDER BY m.lease_expires_at LIMIT $2 FOR UPDATE OF m SKIP LOCKED),"
    " d AS (SELECT * FROM due UNION ALL SELECT * FROM expired)"
    " SELECT d.id::text, coalesce(d.campaign_id::text, ''), coalesce(d.subject_id::text, ''),"
    " d.address, d.match_key, d.channel, d.topic, d.attempts,"
    " coalesce(d.subject_template, c.subject_template, ''),"
    " coalesce(d.text_template, c.text_template, ''),"
    " coalesce(d.html_template, c.html_template, ''), d.variables::text, d.status,"
    " coalesce(s.surname, ''), coalesce(s.given_name, ''), coalesce(s.patronymic, ''),"
    " coalesce(s.locale, ''), coalesce(c.rate_per_second, 0), coalesce(c.status, ''),"
    " coalesce(d.first_attempt_at, $1::timestamptz)::text, d.reply_to_inbound,"
    " (SELECT i.provider FROM inbound_sms i WHERE i.id = d.reply_to_inbound)"
    " FROM d LEFT JOIN campaigns c ON c.id = d.campaign_id"
    " LEFT JOIN subjects s ON s.id = d.subject_id"
    " ORDER BY d.next_attempt_at LIMIT $2"};

constexpr db::Statement kMarkClaimed{
    "outbox.mark_claimed",
    "UPDATE messages m SET status = u.status, deny_reason = nullif(u.reason, 0),"
    " provider = nullif(u.provider, ''),"
    " attempts = m.attempts + CASE WHEN u.status = 'sending' THEN 1 ELSE 0 END,"
    " lease_owner = CASE WHEN u.status = 'sending' THEN $5 END,"
    " lease_expires_at = CASE WHEN u.status = 'sending' THEN $6::timestamptz END,"
    " next_attempt_at = CASE WHEN u.status = 'retrying' THEN $8::timestamptz"
    "                   ELSE m.next_attempt_at END,"
    " first_attempt_at = CASE WHEN u.status = 'sending'"
    "                    THEN coalesce(m.first_attempt_at, $7) ELSE m.first_attempt_at END,"
    " updated_at = $7"
    " FROM unnest($1::uuid[], $2::text[], $3::smallint[], $4::text[])"
    "   AS u(id, status, reason, provider) WHERE m.id = u.id"};
// deny_reason 0 means none.

constexpr db::Statement kHistory{
    "outbox.history",
    "INSERT INTO message_history (message_id, status, deny_reason, note, at)"
    " SELECT id, status, nullif(reason, 0), note, $5 FROM unnest($1::uuid[], $2::text[], "
    "$3::smallint[],"
    " $4::text[]) AS u(id, status, reason, note)"};

constexpr db::Statement kAttempts{
    "outbox.attempts",
    "INSERT INTO message_attempts (message_id, number, provider, started_at, ended_at, outcome,"
    " code, enhanced_status, provider_code, detail, provider_message_id)"
    " SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[],"
    " $5::timestamptz[], $6::text[], $7::int[], $8::text[], $9::text[], $10::text[], $11::text[])"};

// Only the attempt that still holds the message may complete it: a reclaimed message
// belongs to its new attempt.
constexpr db::Statement kComplete{
    "outbox.complete",
    "UPDATE messages m SET status = u.status, next_attempt_at = u.next_at,"
    " attempts = m.attempts - u.uncounted,"
    " lease_owner = NULL, lease_expires_at = NULL, updated_at = $5,"
    " sms_encoding = coalesce(nullif(u.enc, ''), m.sms_encoding),"
    " sms_segments = coalesce(nullif(u.seg, 0), m.sms_segments)"
    " FROM unnest($1::uuid[], $2::int[], $3::text[], $4::timestamptz[], $6::text[], $7::int[],"
    "            $8::int[]) AS u(id, attempt, status, next_at, enc, seg, uncounted)"
    " WHERE m.id = u.id AND m.status = 'sending' AND m.attempts = u.attempt"
    " RETURNING m.id::text"};

constexpr db::Statement kRecipientsOf{
    "outbox.recipients_of",
    "SELECT coalesce(subject_id::text, ''), channel, match_key FROM messages"
    " WHERE id IN (SELECT unnest($1::uuid[]))"};

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

Outbox::Outbox(db::Pool& pool, const Clock& clock, const subscriptions::EligibilityGate& gate,
               const subscriptions::TopicCatalog& topics, ProviderPicker picker, RetryPolicy retry)
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
                                          std::chrono::seconds lease) {
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto rows = conn->Exec(txn, kClaimDue, ToIso8601(now), limit);
  if (rows.empty()) return {};

  struct Row {
    ClaimedMessage m;
    std::string match_key;
    std::string previous_status;
    std::string campaign_status;
    Timestamp first_attempt;
    bool expired = false;
    std::optional<int64_t> reply_to_inbound;  // a keyword reply: the gate's exception
    std::string reply_provider;               // the provider its keyword came in by
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
    row.previous_status = r[12].as<std::string>();
    const char* fields[] = {"surname", "given_name", "patronymic", "locale"};
    for (int f = 0; f < 4; ++f) row.m.variables[fields[f]] = r[13 + f].as<std::string>();
    row.m.campaign_rate = r[17].as<double>();
    row.campaign_status = r[18].as<std::string>();
    row.first_attempt = ParseTimestamp(r[19].as<std::string>());
    // Age counts from the first attempt: recipients may wait for a campaign to start.
    row.expired = now - row.first_attempt > retry_.max_age || row.m.attempt > retry_.max_attempts;
    if (!r[20].is_null()) row.reply_to_inbound = r[20].as<int64_t>();
    if (!r[21].is_null()) row.reply_provider = r[21].as<std::string>();
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

  std::vector<std::string> ids, statuses, reasons, provider_names, notes;
  std::vector<ClaimedMessage> claimed;
  for (size_t i = 0; i < batch.size(); ++i) {
    auto& row = batch[i];
    std::string status, note;
    int reason = 0;
    if (row.campaign_status == "cancelled") {
      status = "cancelled";
      note = "campaign cancelled";
    } else if (!topics_.Find(row.m.topic)) {
      status = "failed";
      note = "topic no longer configured";
    } else if (row.expired) {
      status = "failed";
      note = "gave up: too many attempts or too old";
    } else if (decisions[i].reason == DenyReason::kCrossBorderNotAllowed && providers[i] &&
               !providers[i]->available) {
      // The domestic provider exists but is out for now: wait for it, do not suppress.
      status = "retrying";
      note = "domestic provider unavailable";
    } else if (!decisions[i].allowed()) {
      status = "suppressed";
      reason = static_cast<int>(decisions[i].unknown_subject ? DenyReason::kSubjectDestroyed
                                                             : decisions[i].reason);
    } else if (!providers[i] || !providers[i]->available) {
      // No provider can take it now (none configured or all circuits open): try later.
      status = "retrying";
      note = "no provider available";
    } else {
      status = "sending";
      row.m.provider = providers[i]->name;
      row.m.lease_until = now + lease;
      if (row.previous_status == "sending") note = "lease expired; reclaimed";
      claimed.push_back(row.m);
    }
    ids.push_back(row.m.id);
    statuses.push_back(status);
    reasons.push_back(std::to_string(reason));
    provider_names.push_back(providers[i] ? providers[i]->name : "");
    notes.push_back(note);
  }
  conn->Exec(txn, kMarkClaimed, db::ToArrayLiteral(ids), db::ToArrayLiteral(statuses),
             db::ToArrayLiteral(reasons), db::ToArrayLiteral(provider_names), worker,
             ToIso8601(now + lease), ToIso8601(now), ToIso8601(now + retry_.base_delay));
  conn->Exec(txn, kHistory, db::ToArrayLiteral(ids), db::ToArrayLiteral(statuses),
             db::ToArrayLiteral(reasons), db::ToArrayLiteral(notes), ToIso8601(now));
  txn.commit();
  return claimed;
}

void Outbox::Complete(const std::vector<Outcome>& outcomes) {
  if (outcomes.empty()) return;
  Timestamp now = clock_.Now();
  std::vector<std::string> ids, statuses, next_at, notes, reasons;
  std::vector<long long> attempts, segments, uncounted;
  std::vector<std::string> encodings;
  // Attempt rows only for what reached a provider; a message refused by an open circuit
  // gets its attempt back and is retried soon, so an outage cannot use up its attempts.
  std::vector<std::string> a_ids, a_providers, a_starts, a_ends, a_outcomes, a_enhanced, a_pcodes,
      a_details, a_pids;
  std::vector<long long> a_numbers, a_codes;
  for (const auto& o : outcomes) {
    if (!o.result.not_attempted) {
      a_ids.push_back(o.message_id);
      a_numbers.push_back(o.attempt);
      a_providers.push_back(o.provider);
      a_starts.push_back(ToIso8601(o.started));
      a_ends.push_back(ToIso8601(o.ended));
      a_outcomes.push_back(DeliveryOutcomeName(o.result.outcome));
      a_codes.push_back(o.result.code);
      a_enhanced.push_back(StorableText(o.result.enhanced_status));
      a_pcodes.push_back(StorableText(o.result.provider_code));
      a_details.push_back(StorableText(o.result.detail));
      a_pids.push_back(StorableText(o.result.provider_message_id));
    }
    uncounted.push_back(o.result.not_attempted ? 1 : 0);
    ids.push_back(o.message_id);
    encodings.push_back(o.sms_encoding);
    segments.push_back(o.sms_segments);
    attempts.push_back(o.attempt);
    std::string status = "failed", next;
    switch (o.result.outcome) {
      case DeliveryOutcome::kSent:
        status = "sent";
        break;
      case DeliveryOutcome::kRetry:
        status = "retrying";
        next = o.result.not_attempted
                   ? ToIso8601(now + std::min(retry_.base_delay, std::chrono::seconds(5)))
                   : ToIso8601(now + Backoff(o.message_id, o.attempt, o.result.retry_after));
        break;
      case DeliveryOutcome::kFailed:
      case DeliveryOutcome::kSuppress:
        status = "failed";
        break;
    }
    statuses.push_back(status);
    next_at.push_back(next.empty() ? ToIso8601(now) : next);
    notes.push_back(o.result.not_attempted ? o.result.detail + "; not attempted"
                                           : std::string(DeliveryOutcomeName(o.result.outcome)) +
                                                 " " + std::to_string(o.result.code));
    reasons.push_back("0");
  }
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  // Leaving SENDING is ordered against opt-outs like entering it.
  std::vector<subscriptions::ClaimRecipient> recipients;
  for (const auto& r : conn->Exec(txn, kRecipientsOf, db::ToArrayLiteral(ids))) {
    recipients.push_back(
        {r[0].as<std::string>(), static_cast<Channel>(r[1].as<int>()), r[2].as<std::string>()});
  }
  subscriptions::LockForClaim(*conn, txn, gate_.hasher(), recipients);
  if (!a_ids.empty()) {
    conn->Exec(
        txn, kAttempts, db::ToArrayLiteral(a_ids), db::ToArrayLiteral(a_numbers),
        db::ToArrayLiteral(a_providers), db::ToArrayLiteral(a_starts), db::ToArrayLiteral(a_ends),
        db::ToArrayLiteral(a_outcomes), db::ToArrayLiteral(a_codes), db::ToArrayLiteral(a_enhanced),
        db::ToArrayLiteral(a_pcodes), db::ToArrayLiteral(a_details), db::ToArrayLiteral(a_pids));
  }
  auto done = conn->Exec(txn, kComplete, db::ToArrayLiteral(ids), db::ToArrayLiteral(attempts),
                         db::ToArrayLiteral(statuses), db::ToArrayLiteral(next_at), ToIso8601(now),
                         db::ToArrayLiteral(encodings), db::ToArrayLiteral(segments),
                         db::ToArrayLiteral(uncounted));
  std::set<std::string> completed;
  for (const auto& r : done) completed.insert(r[0].as<std::string>());
  std::vector<std::string> h_ids, h_status, h_reason, h_note;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!completed.count(ids[i])) continue;  // reclaimed meanwhile: its attempt is recorded
    h_ids.push_back(ids[i]);
    h_status.push_back(statuses[i]);
    h_reason.push_back(reasons[i]);
    h_note.push_back(notes[i]);
  }
  if (!h_ids.empty()) {
    conn->Exec(txn, kHistory, db::ToArrayLiteral(h_ids), db::ToArrayLiteral(h_status),
               db::ToArrayLiteral(h_reason), db::ToArrayLiteral(h_note), ToIso8601(now));
  }
  txn.commit();
}

}  // namespace herald::dispatch
