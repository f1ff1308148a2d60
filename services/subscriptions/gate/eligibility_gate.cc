#include "services/subscriptions/gate/eligibility_gate.h"

#include <algorithm>
#include <map>

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/validation/address.h"
#include "services/subscriptions/gate/decision.h"

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

// One row per (recipient, subject): the explicit subject and every live owner of the
// address. pref: 0 none, 1 all, 2 channel, 3 topic (the newest matching row decides);
// $7 is the any-channel number.
constexpr db::Statement kSubjectFacts{"gate.subject_facts", R"sql(
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
  SELECT rs.idx, s.id, s.state, s.blocked, s.revoked, s.processing_consent,
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
         )
  FROM rs
  JOIN subjects s ON s.id = rs.subject_id
)sql"};

// Recipients with an active suppression that applies. Service notices honour only hard
// bounces, revocations and manual entries ($6); $7 is the any-channel number.
constexpr db::Statement kSuppressed{"gate.suppressed", R"sql(
  SELECT DISTINCT h.idx
  FROM unnest($1::int[], $2::text[], $3::smallint[], $4::text[], $5::bool[])
    AS h(idx, key_hex, channel, topic, marketing)
  JOIN suppressions s ON s.address_key = decode(h.key_hex, 'hex')
    AND s.lifted_at IS NULL
    AND s.channel IN ($7, h.channel)
    AND s.topic IN ('', h.topic)
    AND (h.marketing OR s.reason = ANY($6::smallint[]))
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

// A state this build does not know (a newer schema's) is refused, never taken for active.
SubjectFacts::State ParseState(const std::string& s) {
  if (s == "active") return SubjectFacts::State::kActive;
  if (s == "depersonalized") return SubjectFacts::State::kDepersonalized;
  if (s == "merged") return SubjectFacts::State::kMerged;
  return SubjectFacts::State::kDestroyed;
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

  // 3. Subject facts, set-based.
  std::vector<long long> idx;
  std::vector<std::optional<std::string>> subject_ids, keys;
  std::vector<std::string> kinds, channels, topics;
  for (size_t i = 0; i < n; ++i) {
    if (!facts[i].address_valid && !requests[i].subject_id) continue;
    idx.push_back(static_cast<long long>(i));
    subject_ids.push_back(requests[i].subject_id);
    kinds.push_back(std::to_string(static_cast<int>(KindOf(requests[i].channel))));
    keys.push_back(facts[i].address_valid ? match_keys[i] : std::nullopt);
    channels.push_back(std::to_string(static_cast<int>(requests[i].channel)));
    topics.push_back(requests[i].topic->name);
  }
  std::vector<bool> explicit_seen(n, false);
  if (!idx.empty()) {
    auto rows =
        conn.Exec(txn, kSubjectFacts, db::ToArrayLiteral(idx), db::ToArrayLiteral(subject_ids),
                  db::ToArrayLiteral(kinds), db::ToArrayLiteral(keys), db::ToArrayLiteral(channels),
                  db::ToArrayLiteral(topics), kAnyChannel);
    for (const auto& row : rows) {
      size_t i = row[0].as<size_t>();
      SubjectFacts s;
      s.subject_id = row[1].as<std::string>();
      if (requests[i].subject_id && s.subject_id == *requests[i].subject_id) {
        explicit_seen[i] = true;
      }
      // Asked about: the subject the request names, or, for a bare address, its owners.
      s.explicit_subject = !requests[i].subject_id || s.subject_id == *requests[i].subject_id;
      s.state = ParseState(row[2].as<std::string>());
      s.blocked = row[3].as<bool>();
      s.revoked = row[4].as<bool>();
      s.processing_consent = row[5].as<bool>();
      s.marketing_consent = row[6].as<bool>();
      s.cross_border_consent = row[7].as<bool>();
      switch (row[8].as<int>()) {
        case 1:
          s.preference = PreferenceDeny::kAll;
          break;
        case 2:
          s.preference = PreferenceDeny::kChannel;
          break;
        case 3:
          s.preference = PreferenceDeny::kTopic;
          break;
        default:
          s.preference = PreferenceDeny::kNone;
          break;
      }
      s.owns_address = row[9].as<bool>();
      facts[i].subjects.push_back(s);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (requests[i].subject_id && !explicit_seen[i]) out[i].unknown_subject = true;
  }

  // 4. Address suppressions under every live key.
  std::vector<long long> h_idx;
  std::vector<std::string> h_keys, h_channels, h_topics, h_marketing;
  for (size_t i = 0; i < n; ++i) {
    if (!facts[i].address_valid || !match_keys[i]) continue;
    for (const auto& h : hasher_.All(KindName(KindOf(requests[i].channel)), *match_keys[i])) {
      h_idx.push_back(static_cast<long long>(i));
      h_keys.push_back(crypto::ToHex(h.hash));
      h_channels.push_back(std::to_string(static_cast<int>(requests[i].channel)));
      h_topics.push_back(requests[i].topic->name);
      h_marketing.push_back(requests[i].topic->marketing ? "t" : "f");
    }
  }
  if (!h_idx.empty()) {
    auto rows =
        conn.Exec(txn, kSuppressed, db::ToArrayLiteral(h_idx), db::ToArrayLiteral(h_keys),
                  db::ToArrayLiteral(h_channels), db::ToArrayLiteral(h_topics),
                  db::ToArrayLiteral(h_marketing), ReasonsStoppingServiceNotices(), kAnyChannel);
    for (const auto& row : rows) facts[row[0].as<size_t>()].address_suppressed = true;
  }

  // 5. Keyword replies (SMS only), to the number that sent the keyword.
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

  for (size_t i = 0; i < n; ++i) {
    Verdict v = Judge(facts[i]);
    out[i].reason = v.reason;
    out[i].decided_by = v.fact;
    out[i].deciding_subject_id = std::move(v.subject_id);
    out[i].explanation = v.explanation;
  }
  return out;
}

}  // namespace herald::subscriptions
