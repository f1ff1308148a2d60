#include "services/subscriptions/gate/eligibility_gate.h"

#include <algorithm>
#include <map>

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/validation/address.h"
#include "services/subscriptions/gate/decision.h"
#include "services/subscriptions/gate/frequency_slots.h"

namespace herald::subscriptions {
namespace {

// Subject-only recipients go to the subject's first address of the channel's kind.
constexpr db::Statement kPrimaryAddresses{"gate.primary_addresses", R"sql(
  SELECT r.idx, x.value, x.match_key
  FROM unnest($1::int[], $2::uuid[], $3::smallint[]) AS r(idx, subject_id, kind)
  CROSS JOIN LATERAL (
    SELECT a.value, a.match_key
    FROM addresses a
    WHERE a.subject_id = r.subject_id
      AND a.kind = r.kind
    ORDER BY a.added_at, a.id
    LIMIT 1
  ) x
)sql"};

// Everything the gate reads about the recipients, in one statement (one snapshot, one round
// trip). Two kinds of rows, told apart by the second column:
//   false: one per (recipient, subject), the explicit subject and every live owner of the
//          address. pref: 0 none, 1 all, 2 channel, 3 topic (the newest matching row
//          decides); $7 is the any-channel number.
//   true:  one per recipient with an active suppression that applies ($8-$12: its keyed
//          hashes under every live key). Service notices honour only hard bounces,
//          revocations and manual entries ($13); the other columns are null.
constexpr db::Statement kFacts{"gate.facts", R"sql(
  WITH req AS (
    SELECT *
    FROM unnest($1::int[], $2::uuid[], $3::smallint[], $4::text[], $5::smallint[], $6::text[])
      AS r(idx, subject_id, kind, match_key, channel, topic)
  ), rs AS (
    SELECT idx, subject_id, channel, topic, kind, match_key
    FROM req
    WHERE subject_id IS NOT NULL
    UNION
    SELECT r.idx, a.subject_id, r.channel, r.topic, r.kind, r.match_key
    FROM req r
    JOIN addresses a ON a.kind = r.kind AND a.match_key = r.match_key
    JOIN subjects o ON o.id = a.subject_id AND o.state = 'active'
    WHERE r.match_key IS NOT NULL
  )
  SELECT rs.idx, false, s.id, s.state, s.blocked, s.revoked, s.processing_consent,
         (s.marketing_channels & (1 << rs.channel)) <> 0,
         s.cross_border_consent,
         coalesce((
           SELECT CASE WHEN p.subscribed THEN 0
                       WHEN p.topic <> '' THEN 3
                       WHEN p.channel <> $7 THEN 2
                       ELSE 1 END
           FROM preferences p
           WHERE p.subject_id = s.id
             AND p.channel IN ($7, rs.channel)
             AND p.topic IN ('', rs.topic)
           ORDER BY p.seq DESC
           LIMIT 1
         ), 0),
         EXISTS (
           SELECT 1
           FROM addresses o
           WHERE o.subject_id = s.id AND o.kind = rs.kind AND o.match_key = rs.match_key
         ),
         coalesce(s.time_zone, '')
  FROM rs
  JOIN subjects s ON s.id = rs.subject_id
  UNION ALL
  SELECT DISTINCT h.idx, true, NULL::uuid, NULL::text, NULL::bool, NULL::bool, NULL::bool,
         NULL::bool, NULL::bool, NULL::int, NULL::bool, NULL::text
  FROM unnest($8::int[], $9::text[], $10::smallint[], $11::text[], $12::bool[])
    AS h(idx, key_hex, channel, topic, marketing)
  JOIN suppressions s ON s.address_key = decode(h.key_hex, 'hex')
    AND s.lifted_at IS NULL
    AND s.channel IN ($7, h.channel)
    AND s.topic IN ('', h.topic)
    AND (h.marketing OR s.reason = ANY($13::smallint[]))
)sql"};

// The suppression reasons that also stop service notices; the others stop marketing only.
// Built once: every gate run binds it.
const std::string& ReasonsStoppingServiceNotices() {
  static const std::string literal = db::ToArrayLiteral(
      std::vector<long long>{static_cast<long long>(SuppressionReason::kHardBounce),
                             static_cast<long long>(SuppressionReason::kRevoked),
                             static_cast<long long>(SuppressionReason::kManual)});
  return literal;
}

// Keyword replies: the inbound keyword exists, came from this number (under any live key)
// and was received within the window before the decision time.
constexpr db::Statement kKeywordReply{"gate.keyword_reply", R"sql(
  SELECT DISTINCT r.idx
  FROM unnest($1::int[], $2::bigint[], $3::text[], $4::timestamptz[])
    AS r(idx, inbound_id, key_hex, now)
  JOIN inbound_sms i ON i.id = r.inbound_id
    AND i.address_key = decode(r.key_hex, 'hex')
    AND i.keyword_class IN ('stop', 'start', 'help')
    AND i.received_at <= r.now
    AND i.received_at > r.now - $5::interval
)sql"};

// Capture confirmations: the request is pending and valid at the decision time, and this is
// its channel and the address it gave (DESIGN "Exception two").
constexpr db::Statement kCaptureConfirmation{"gate.capture_confirmation", R"sql(
  SELECT r.idx
  FROM unnest($1::int[], $2::uuid[], $3::smallint[], $4::text[], $5::timestamptz[])
    AS r(idx, request_id, channel, match_key, now)
  JOIN capture_requests c ON c.id = r.request_id
    AND c.status = 'pending'
    AND c.channel = r.channel
    AND c.match_key = r.match_key
    AND c.submitted_at <= r.now
    AND c.expires_at > r.now
)sql"};

// The matrix's subjects: one row per (address slot, subject), the explicit subject and every
// live owner of the slot's address, with the facts that do not depend on channel or topic.
// Each of them owns the slot's address when it has one (it is the explicit subject's own
// first address, and the others were found through it). The OFFSET 0 fences keep the
// lookups on the indexes: the planner cannot size the unnest and would hash whole tables.
constexpr db::Statement kMatrixSubjects{"gate.matrix_subjects", R"sql(
  WITH req AS (
    SELECT *
    FROM unnest($1::int[], $2::uuid[], $3::smallint[], $4::text[])
      AS r(idx, subject_id, kind, match_key)
  ), rs AS (
    SELECT idx, subject_id, match_key
    FROM req
    UNION
    SELECT r.idx, o.subject_id, r.match_key
    FROM req r
    CROSS JOIN LATERAL (
      SELECT a.subject_id
      FROM addresses a
      JOIN subjects o ON o.id = a.subject_id AND o.state = 'active'
      WHERE a.kind = r.kind AND a.match_key = r.match_key
      OFFSET 0
    ) o
    WHERE r.match_key IS NOT NULL
  )
  SELECT rs.idx, s.id, s.state, s.blocked, s.revoked, s.processing_consent,
         s.marketing_channels, s.cross_border_consent, rs.match_key IS NOT NULL
  FROM rs
  CROSS JOIN LATERAL (SELECT * FROM subjects s WHERE s.id = rs.subject_id OFFSET 0) s
)sql"};

// Every stored preference of these subjects (one row per channel and topic).
constexpr db::Statement kMatrixPreferences{"gate.matrix_preferences", R"sql(
  SELECT subject_id, channel, topic, subscribed, seq
  FROM preferences
  WHERE subject_id = ANY($1::uuid[])
)sql"};

// Every active suppression of the slots' addresses, under every live key.
constexpr db::Statement kMatrixSuppressions{"gate.matrix_suppressions", R"sql(
  SELECT h.idx, s.channel, s.topic, s.reason
  FROM unnest($1::int[], $2::text[]) AS h(idx, key_hex)
  JOIN suppressions s ON s.address_key = decode(h.key_hex, 'hex') AND s.lifted_at IS NULL
)sql"};

// A state this build does not know (a newer schema's) is refused, never taken for active.
SubjectFacts::State ParseState(const std::string& s) {
  if (s == "active") return SubjectFacts::State::kActive;
  if (s == "depersonalized") return SubjectFacts::State::kDepersonalized;
  if (s == "merged") return SubjectFacts::State::kMerged;
  return SubjectFacts::State::kDestroyed;
}

// gate.facts' preference code: 0 none, 1 all, 2 channel, 3 topic.
PreferenceDeny ParsePreference(int code) {
  switch (code) {
    case 1:
      return PreferenceDeny::kAll;
    case 2:
      return PreferenceDeny::kChannel;
    case 3:
      return PreferenceDeny::kTopic;
    default:
      return PreferenceDeny::kNone;
  }
}

// A stored preference row, as gate.facts weighs it for one channel and topic.
struct PreferenceRow {
  int channel;
  std::string topic;
  bool subscribed;
  int64_t seq;
};

// The newest row that covers (channel, topic) decides, as in gate.facts.
PreferenceDeny PreferenceFor(const std::vector<PreferenceRow>& rows, Channel channel,
                             const std::string& topic) {
  const PreferenceRow* newest = nullptr;
  for (const auto& p : rows) {
    if (p.channel != kAnyChannel && p.channel != static_cast<int>(channel)) continue;
    if (!p.topic.empty() && p.topic != topic) continue;
    if (!newest || p.seq > newest->seq) newest = &p;
  }
  if (!newest || newest->subscribed) return PreferenceDeny::kNone;
  if (!newest->topic.empty()) return PreferenceDeny::kTopic;
  if (newest->channel != kAnyChannel) return PreferenceDeny::kChannel;
  return PreferenceDeny::kAll;
}

// Whether an active suppression (channel, topic, reason) applies, as in gate.facts.
bool SuppressionApplies(int s_channel, const std::string& s_topic, int reason, Channel channel,
                        const TopicInfo& topic) {
  if (s_channel != kAnyChannel && s_channel != static_cast<int>(channel)) return false;
  if (!s_topic.empty() && s_topic != topic.name) return false;
  if (topic.marketing) return true;
  return reason == static_cast<int>(SuppressionReason::kHardBounce) ||
         reason == static_cast<int>(SuppressionReason::kRevoked) ||
         reason == static_cast<int>(SuppressionReason::kManual);
}

}  // namespace

EligibilityGate::EligibilityGate(const crypto::SuppressionHasher& hasher,
                                 std::string default_region,
                                 std::vector<std::string> home_jurisdictions)
    : hasher_(hasher),
      default_region_(std::move(default_region)),
      home_(std::move(home_jurisdictions)) {}

bool EligibilityGate::IsForeign(const std::string& provider_country) const {
  return !provider_country.empty() &&
         std::find(home_.begin(), home_.end(), provider_country) == home_.end();
}

std::vector<GateDecision> EligibilityGate::Decide(db::Connection& conn, pqxx::transaction_base& txn,
                                                  const std::vector<GateRequest>& requests) const {
  const size_t n = requests.size();
  std::vector<GateDecision> out(n);
  std::vector<GateFacts> facts(n);
  std::vector<std::optional<std::string>> match_keys(n);

  // 1. Normalise given addresses; an address that does not fit the channel is invalid.
  std::vector<long long> primary_idx;
  std::vector<std::string> primary_subject, primary_kind;
  for (size_t i = 0; i < n; ++i) {
    const GateRequest& r = requests[i];
    facts[i].marketing_topic = r.topic->marketing;
    facts[i].provider_foreign = IsForeign(r.provider_country);
    AddressKind kind = KindOf(r.channel);
    if (r.address) {
      auto result = kind == AddressKind::kEmail
                        ? validation::NormalizeEmail(*r.address)
                        : validation::NormalizePhone(*r.address, default_region_);
      if (auto* a = std::get_if<validation::NormalizedAddress>(&result)) {
        out[i].address = a->value;
        out[i].match_key = a->match_key;
        match_keys[i] = a->match_key;
      } else {
        facts[i].address_valid = false;
      }
    } else {
      primary_idx.push_back(static_cast<long long>(i));
      primary_subject.push_back(*r.subject_id);
      primary_kind.push_back(std::to_string(static_cast<int>(kind)));
    }
  }

  // 2. Subject-only recipients: their primary address for the channel.
  if (!primary_idx.empty()) {
    auto rows = conn.Exec(txn, kPrimaryAddresses, db::ToArrayLiteral(primary_idx),
                          db::ToArrayLiteral(primary_subject), db::ToArrayLiteral(primary_kind));
    std::vector<bool> found(n, false);
    for (const auto& row : rows) {
      size_t i = row[0].as<size_t>();
      out[i].address = row[1].as<std::string>();
      out[i].match_key = row[2].as<std::string>();
      match_keys[i] = out[i].match_key;
      found[i] = true;
    }
    // No address for the channel: nothing to send to.
    for (long long i : primary_idx) {
      if (!found[i]) facts[i].address_valid = false;
    }
  }

  // 3. Subject facts and address suppressions (under every live key), set-based, together.
  std::vector<long long> idx;
  std::vector<std::optional<std::string>> subject_ids, keys;
  std::vector<std::string> kinds, channels, topics;
  std::vector<long long> h_idx;
  std::vector<std::string> h_keys, h_channels, h_topics, h_marketing;
  for (size_t i = 0; i < n; ++i) {
    if (!facts[i].address_valid && !requests[i].subject_id) continue;
    idx.push_back(static_cast<long long>(i));
    subject_ids.push_back(requests[i].subject_id);
    kinds.push_back(std::to_string(static_cast<int>(KindOf(requests[i].channel))));
    keys.push_back(facts[i].address_valid ? match_keys[i] : std::nullopt);
    channels.push_back(std::to_string(static_cast<int>(requests[i].channel)));
    topics.push_back(requests[i].topic->name);
    if (!facts[i].address_valid || !match_keys[i]) continue;
    for (const auto& h : hasher_.All(KindName(KindOf(requests[i].channel)), *match_keys[i])) {
      h_idx.push_back(static_cast<long long>(i));
      h_keys.push_back(crypto::ToHex(h.hash));
      h_channels.push_back(channels.back());
      h_topics.push_back(requests[i].topic->name);
      h_marketing.push_back(requests[i].topic->marketing ? "t" : "f");
    }
  }
  std::vector<bool> explicit_seen(n, false);
  if (!idx.empty()) {
    auto rows = conn.Exec(txn, kFacts, db::ToArrayLiteral(idx), db::ToArrayLiteral(subject_ids),
                          db::ToArrayLiteral(kinds), db::ToArrayLiteral(keys),
                          db::ToArrayLiteral(channels), db::ToArrayLiteral(topics), kAnyChannel,
                          db::ToArrayLiteral(h_idx), db::ToArrayLiteral(h_keys),
                          db::ToArrayLiteral(h_channels), db::ToArrayLiteral(h_topics),
                          db::ToArrayLiteral(h_marketing), ReasonsStoppingServiceNotices());
    for (const auto& row : rows) {
      size_t i = row[0].as<size_t>();
      if (row[1].as<bool>()) {
        facts[i].address_suppressed = true;
        continue;
      }
      SubjectFacts s;
      s.subject_id = row[2].as<std::string>();
      if (requests[i].subject_id && s.subject_id == *requests[i].subject_id) {
        explicit_seen[i] = true;
      }
      // Asked about: the subject the request names, or, for a bare address, its owners.
      s.explicit_subject = !requests[i].subject_id || s.subject_id == *requests[i].subject_id;
      s.state = ParseState(row[3].as<std::string>());
      s.blocked = row[4].as<bool>();
      s.revoked = row[5].as<bool>();
      s.processing_consent = row[6].as<bool>();
      s.marketing_consent = row[7].as<bool>();
      s.cross_border_consent = row[8].as<bool>();
      s.preference = ParsePreference(row[9].as<int>());
      s.owns_address = row[10].as<bool>();
      s.time_zone = row[11].as<std::string>();
      facts[i].subjects.push_back(s);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (requests[i].subject_id && !explicit_seen[i]) out[i].unknown_subject = true;
  }

  // 4. Keyword replies (SMS only), to the number that sent the keyword.
  std::vector<long long> k_idx;
  std::vector<std::string> k_inbound, k_keys, k_now;
  for (size_t i = 0; i < n; ++i) {
    const GateRequest& r = requests[i];
    if (!r.reply_to_inbound || r.channel != Channel::kSms) continue;
    if (!facts[i].address_valid || !match_keys[i]) continue;
    for (const auto& h : hasher_.All(KindName(AddressKind::kPhone), *match_keys[i])) {
      k_idx.push_back(static_cast<long long>(i));
      k_inbound.push_back(std::to_string(*r.reply_to_inbound));
      k_keys.push_back(crypto::ToHex(h.hash));
      k_now.push_back(ToIso8601(r.now));
    }
  }
  if (!k_idx.empty()) {
    auto rows =
        conn.Exec(txn, kKeywordReply, db::ToArrayLiteral(k_idx), db::ToArrayLiteral(k_inbound),
                  db::ToArrayLiteral(k_keys), db::ToArrayLiteral(k_now),
                  std::to_string(kKeywordReplyWindow.count()) + " hours");
    for (const auto& row : rows) facts[row[0].as<size_t>()].keyword_reply = true;
  }

  // 5. Capture confirmations (service topics), to the address the request gave.
  std::vector<long long> c_idx;
  std::vector<std::string> c_request, c_channel, c_key, c_now;
  for (size_t i = 0; i < n; ++i) {
    const GateRequest& r = requests[i];
    if (!r.confirms_capture || r.topic->marketing) continue;
    if (!facts[i].address_valid || !match_keys[i]) continue;
    c_idx.push_back(static_cast<long long>(i));
    c_request.push_back(*r.confirms_capture);
    c_channel.push_back(std::to_string(static_cast<int>(r.channel)));
    c_key.push_back(*match_keys[i]);
    c_now.push_back(ToIso8601(r.now));
  }
  if (!c_idx.empty()) {
    auto rows = conn.Exec(txn, kCaptureConfirmation, db::ToArrayLiteral(c_idx),
                          db::ToArrayLiteral(c_request), db::ToArrayLiteral(c_channel),
                          db::ToArrayLiteral(c_key), db::ToArrayLiteral(c_now));
    for (const auto& row : rows) facts[row[0].as<size_t>()].capture_confirmation = true;
  }

  for (size_t i = 0; i < n; ++i) {
    Verdict v = Judge(facts[i]);
    out[i].reason = v.reason;
    out[i].decided_by = v.fact;
    out[i].deciding_subject_id = std::move(v.subject_id);
    out[i].explanation = v.explanation;
  }
  ApplyFairSending(conn, txn, requests, facts, out);
  if (observer_) observer_(out);
  return out;
}

void EligibilityGate::ApplyFairSending(db::Connection& conn, pqxx::transaction_base& txn,
                                       const std::vector<GateRequest>& requests,
                                       std::vector<GateFacts>& facts,
                                       std::vector<GateDecision>& out) const {
  // The subject each allowed marketing message counts against: the one asked about, or the
  // address's first owner (every owner allowed it, or it would not be allowed).
  auto counted_subject = [&](size_t i) -> const SubjectFacts* {
    const SubjectFacts* first = nullptr;
    for (const auto& s : facts[i].subjects) {
      if (requests[i].subject_id && s.subject_id == *requests[i].subject_id) return &s;
      if (!first || s.subject_id < first->subject_id) first = &s;
    }
    return first;
  };
  std::vector<size_t> capped_idx;
  std::vector<SlotNeed> needs;
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].allowed() || !requests[i].topic->marketing) continue;
    const SubjectFacts* s = counted_subject(i);
    if (!s) continue;
    facts[i].capped_subject_id = s->subject_id;
    if (requests[i].holds_cap_slots) continue;
    if (!fair_.ChannelCap(requests[i].channel).on() && !fair_.TopicCap(requests[i].topic->name)) {
      continue;
    }
    out[i].cap_subject_id = s->subject_id;
    capped_idx.push_back(i);
    needs.push_back({s->subject_id, requests[i].channel, requests[i].topic->name});
  }
  if (!needs.empty()) {
    // Each request's own time: a batch's share one (the claim's, or the check's).
    auto over = OverFrequencyCap(conn, txn, fair_, needs, requests[capped_idx[0]].now);
    for (size_t k = 0; k < capped_idx.size(); ++k) {
      if (!over[k]) continue;
      const size_t i = capped_idx[k];
      facts[i].frequency_capped = true;
      Verdict v = Judge(facts[i]);
      out[i].reason = v.reason;
      out[i].decided_by = v.fact;
      out[i].deciding_subject_id = std::move(v.subject_id);
      out[i].explanation = v.explanation;
      out[i].cap_subject_id.clear();
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (!out[i].allowed() || !requests[i].topic->marketing) continue;
    auto window = fair_.QuietHours(requests[i].channel);
    if (!window) continue;
    const SubjectFacts* s = counted_subject(i);
    const std::string& zone = s && !s->time_zone.empty() ? s->time_zone : fair_.time_zone;
    out[i].not_before = WindowEnd(*window, zone, requests[i].now);
  }
}

std::vector<GateDecision> EligibilityGate::DecideMatrix(
    db::Connection& conn, pqxx::transaction_base& txn, const std::vector<std::string>& subject_ids,
    const std::vector<Channel>& channels, const std::vector<const TopicInfo*>& topics) const {
  const size_t ns = subject_ids.size(), nc = channels.size(), nt = topics.size();
  std::vector<GateDecision> out(ns * nc * nt);
  if (out.empty()) return out;

  // One address slot per (subject, address kind the channels need).
  std::vector<AddressKind> kinds;
  for (Channel c : channels) {
    if (std::find(kinds.begin(), kinds.end(), KindOf(c)) == kinds.end()) kinds.push_back(KindOf(c));
  }
  const size_t nk = kinds.size();
  auto slot_of = [&](size_t subject, Channel c) {
    return subject * nk +
           static_cast<size_t>(std::find(kinds.begin(), kinds.end(), KindOf(c)) - kinds.begin());
  };
  struct Owner {
    SubjectFacts facts;
    int marketing_channels = 0;
  };
  struct Suppression {
    int channel;
    std::string topic;
    int reason;
  };
  struct Slot {
    std::optional<std::string> address, match_key;
    std::vector<Owner> owners;
    bool explicit_seen = false;
    std::vector<Suppression> suppressions;
  };
  std::vector<Slot> slots(ns * nk);

  // 1. Each subject's first address of each kind.
  {
    std::vector<long long> idx;
    std::vector<std::string> subjects, kind_numbers;
    for (size_t s = 0; s < ns; ++s) {
      for (size_t k = 0; k < nk; ++k) {
        idx.push_back(static_cast<long long>(s * nk + k));
        subjects.push_back(subject_ids[s]);
        kind_numbers.push_back(std::to_string(static_cast<int>(kinds[k])));
      }
    }
    for (const auto& row :
         conn.Exec(txn, kPrimaryAddresses, db::ToArrayLiteral(idx), db::ToArrayLiteral(subjects),
                   db::ToArrayLiteral(kind_numbers))) {
      Slot& slot = slots[row[0].as<size_t>()];
      slot.address = row[1].as<std::string>();
      slot.match_key = row[2].as<std::string>();
    }
  }

  // 2. The subjects behind each slot: the one asked about and every live owner of the address.
  std::vector<std::string> owner_ids;
  {
    std::vector<long long> idx;
    std::vector<std::string> subjects, kind_numbers;
    std::vector<std::optional<std::string>> keys;
    for (size_t i = 0; i < slots.size(); ++i) {
      idx.push_back(static_cast<long long>(i));
      subjects.push_back(subject_ids[i / nk]);
      kind_numbers.push_back(std::to_string(static_cast<int>(kinds[i % nk])));
      keys.push_back(slots[i].match_key);
    }
    for (const auto& row :
         conn.Exec(txn, kMatrixSubjects, db::ToArrayLiteral(idx), db::ToArrayLiteral(subjects),
                   db::ToArrayLiteral(kind_numbers), db::ToArrayLiteral(keys))) {
      const size_t i = row[0].as<size_t>();
      Owner o;
      o.facts.subject_id = row[1].as<std::string>();
      o.facts.explicit_subject = o.facts.subject_id == subject_ids[i / nk];
      o.facts.state = ParseState(row[2].as<std::string>());
      o.facts.blocked = row[3].as<bool>();
      o.facts.revoked = row[4].as<bool>();
      o.facts.processing_consent = row[5].as<bool>();
      o.marketing_channels = row[6].as<int>();
      o.facts.cross_border_consent = row[7].as<bool>();
      o.facts.owns_address = row[8].as<bool>();
      if (o.facts.explicit_subject) slots[i].explicit_seen = true;
      owner_ids.push_back(o.facts.subject_id);
      slots[i].owners.push_back(std::move(o));
    }
  }

  // 3. Their stored preferences.
  std::map<std::string, std::vector<PreferenceRow>> preferences;
  if (!owner_ids.empty()) {
    std::sort(owner_ids.begin(), owner_ids.end());
    owner_ids.erase(std::unique(owner_ids.begin(), owner_ids.end()), owner_ids.end());
    for (const auto& row : conn.Exec(txn, kMatrixPreferences, db::ToArrayLiteral(owner_ids))) {
      preferences[row[0].as<std::string>()].push_back(
          {row[1].as<int>(), row[2].as<std::string>(), row[3].as<bool>(), row[4].as<int64_t>()});
    }
  }

  // 4. The addresses' active suppressions under every live key.
  {
    std::vector<long long> idx;
    std::vector<std::string> key_hex;
    for (size_t i = 0; i < slots.size(); ++i) {
      if (!slots[i].match_key) continue;
      for (const auto& h : hasher_.All(KindName(kinds[i % nk]), *slots[i].match_key)) {
        idx.push_back(static_cast<long long>(i));
        key_hex.push_back(crypto::ToHex(h.hash));
      }
    }
    if (!idx.empty()) {
      for (const auto& row : conn.Exec(txn, kMatrixSuppressions, db::ToArrayLiteral(idx),
                                       db::ToArrayLiteral(key_hex))) {
        slots[row[0].as<size_t>()].suppressions.push_back(
            {row[1].as<int>(), row[2].as<std::string>(), row[3].as<int>()});
      }
    }
  }

  // 5. Every cell from its slot's facts.
  static const std::vector<PreferenceRow> kNoPreferences;
  size_t cell = 0;
  for (size_t s = 0; s < ns; ++s) {
    for (Channel c : channels) {
      const Slot& slot = slots[slot_of(s, c)];
      for (const TopicInfo* topic : topics) {
        GateDecision& d = out[cell++];
        GateFacts f;
        f.marketing_topic = topic->marketing;
        f.address_valid = slot.match_key.has_value();
        if (slot.match_key) {
          d.address = *slot.address;
          d.match_key = *slot.match_key;
          for (const auto& x : slot.suppressions) {
            if (SuppressionApplies(x.channel, x.topic, x.reason, c, *topic)) {
              f.address_suppressed = true;
            }
          }
        }
        for (const auto& o : slot.owners) {
          SubjectFacts sf = o.facts;
          sf.marketing_consent = (o.marketing_channels & (1 << static_cast<int>(c))) != 0;
          auto p = preferences.find(sf.subject_id);
          sf.preference =
              PreferenceFor(p == preferences.end() ? kNoPreferences : p->second, c, topic->name);
          f.subjects.push_back(std::move(sf));
        }
        d.unknown_subject = !slot.explicit_seen;
        Verdict v = Judge(f);
        d.reason = v.reason;
        d.decided_by = v.fact;
        d.deciding_subject_id = std::move(v.subject_id);
        d.explanation = v.explanation;
      }
    }
  }
  return out;
}

}  // namespace herald::subscriptions
