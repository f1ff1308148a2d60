#include "services/subscriptions/gate/frequency_slots.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include "common/db/sql_array.h"
#include "common/db/statement.h"

namespace herald::subscriptions {
namespace {

// The slots inside each window ($6 the decision time).
constexpr db::Statement kUsage{"frequency_slots.usage", R"sql(
  SELECT r.idx, (SELECT count(*) FROM unnest(f.taken) t
                 WHERE t > $6::timestamptz - make_interval(secs => r.window_s))
  FROM unnest($1::int[], $2::uuid[], $3::smallint[], $4::text[], $5::int[])
    AS r(idx, subject_id, channel, scope, window_s)
  JOIN frequency_slots f
    ON f.subject_id = r.subject_id AND f.channel = r.channel AND f.scope = r.scope
)sql"};

// One slot per (subject, channel, scope), which the caller keeps distinct: a new row has room
// (caps are at least 1); an existing one gains a slot only while fewer than its cap lie inside
// the window, re-checked on the newest row version after waiting for a concurrent claim's lock.
// Slots outside the window are pruned as it goes. Rows are taken in key order, so two claims
// never wait for each other's rows crosswise.
constexpr db::Statement kTake{"frequency_slots.take", R"sql(
  INSERT INTO frequency_slots AS f (subject_id, channel, scope, cap, window_s, taken)
  SELECT r.subject_id, r.channel, r.scope, r.cap, r.window_s, ARRAY[$6::timestamptz]
  FROM unnest($1::uuid[], $2::smallint[], $3::text[], $4::int[], $5::int[])
    AS r(subject_id, channel, scope, cap, window_s)
  ORDER BY r.subject_id, r.channel, r.scope
  ON CONFLICT (subject_id, channel, scope) DO UPDATE
  SET taken = ARRAY(SELECT t FROM unnest(f.taken) t
                    WHERE t > $6::timestamptz - make_interval(secs => EXCLUDED.window_s)
                    ORDER BY t) || $6::timestamptz,
      cap = EXCLUDED.cap,
      window_s = EXCLUDED.window_s
  WHERE (SELECT count(*) FROM unnest(f.taken) t
         WHERE t > $6::timestamptz - make_interval(secs => EXCLUDED.window_s)) < EXCLUDED.cap
  RETURNING f.subject_id::text, f.channel, f.scope
)sql"};

// Gives back the newest $4 slots of each row: ones this transaction just took, under its lock.
constexpr db::Statement kGiveBack{"frequency_slots.give_back", R"sql(
  UPDATE frequency_slots f
  SET taken = f.taken[1:cardinality(f.taken) - r.n]
  FROM unnest($1::uuid[], $2::smallint[], $3::text[], $4::int[]) AS r(subject_id, channel, scope, n)
  WHERE f.subject_id = r.subject_id AND f.channel = r.channel AND f.scope = r.scope
)sql"};

// One cap a need is measured against.
struct Slot {
  size_t need;
  std::string scope;  // '' the channel's cap; else the topic's
  FrequencyCap cap;
};

std::vector<Slot> SlotsOf(const FairSendingSettings& caps, const std::vector<SlotNeed>& needs) {
  std::vector<Slot> out;
  for (size_t i = 0; i < needs.size(); ++i) {
    if (const FrequencyCap* t = caps.TopicCap(needs[i].topic)) {
      out.push_back({i, needs[i].topic, *t});
    }
    const FrequencyCap& c = caps.ChannelCap(needs[i].channel);
    if (c.on()) out.push_back({i, "", c});
  }
  return out;
}

using Key = std::tuple<std::string, int, std::string>;

Key KeyOf(const SlotNeed& n, const std::string& scope) {
  return {n.subject_id, static_cast<int>(n.channel), scope};
}

}  // namespace

std::vector<bool> OverFrequencyCap(db::Connection& conn, pqxx::transaction_base& txn,
                                   const FairSendingSettings& caps,
                                   const std::vector<SlotNeed>& needs, Timestamp now) {
  std::vector<bool> over(needs.size(), false);
  auto slots = SlotsOf(caps, needs);
  if (slots.empty()) return over;
  std::vector<long long> idx;
  std::vector<std::string> subjects, channels, scopes;
  std::vector<long long> windows;
  for (size_t k = 0; k < slots.size(); ++k) {
    const SlotNeed& n = needs[slots[k].need];
    idx.push_back(static_cast<long long>(k));
    subjects.push_back(n.subject_id);
    channels.push_back(std::to_string(static_cast<int>(n.channel)));
    scopes.push_back(slots[k].scope);
    windows.push_back(slots[k].cap.window_hours * 3600LL);
  }
  for (const auto& row :
       conn.Exec(txn, kUsage, db::ToArrayLiteral(idx), db::ToArrayLiteral(subjects),
                 db::ToArrayLiteral(channels), db::ToArrayLiteral(scopes),
                 db::ToArrayLiteral(windows), ToIso8601(now))) {
    const Slot& s = slots[row[0].as<size_t>()];
    if (row[1].as<long long>() >= s.cap.max) over[s.need] = true;
  }
  return over;
}

std::vector<bool> TakeFrequencySlots(db::Connection& conn, pqxx::transaction_base& txn,
                                     const FairSendingSettings& caps,
                                     const std::vector<SlotNeed>& needs, Timestamp now) {
  std::vector<bool> granted(needs.size(), true);
  auto slots = SlotsOf(caps, needs);
  if (slots.empty()) return granted;
  // The slots each need took, to give back when a later cap refuses it.
  std::map<size_t, std::vector<Key>> taken;
  // Topic caps first, then channel caps: a need refused by its channel gives its topic slot
  // back. Within a pass, rounds of distinct keys (one upsert may touch a row once).
  for (bool topic_pass : {true, false}) {
    std::vector<const Slot*> pending;
    for (const auto& s : slots) {
      if (s.scope.empty() != topic_pass && granted[s.need]) pending.push_back(&s);
    }
    while (!pending.empty()) {
      std::set<Key> in_round;
      std::vector<const Slot*> round, later;
      for (const Slot* s : pending) {
        (in_round.insert(KeyOf(needs[s->need], s->scope)).second ? round : later).push_back(s);
      }
      std::vector<std::string> subjects, channels, scopes;
      std::vector<long long> limits, windows;
      for (const Slot* s : round) {
        subjects.push_back(needs[s->need].subject_id);
        channels.push_back(std::to_string(static_cast<int>(needs[s->need].channel)));
        scopes.push_back(s->scope);
        limits.push_back(s->cap.max);
        windows.push_back(s->cap.window_hours * 3600LL);
      }
      std::set<Key> got;
      for (const auto& row :
           conn.Exec(txn, kTake, db::ToArrayLiteral(subjects), db::ToArrayLiteral(channels),
                     db::ToArrayLiteral(scopes), db::ToArrayLiteral(limits),
                     db::ToArrayLiteral(windows), ToIso8601(now))) {
        got.insert({row[0].as<std::string>(), row[1].as<int>(), row[2].as<std::string>()});
      }
      for (const Slot* s : round) {
        Key key = KeyOf(needs[s->need], s->scope);
        if (got.count(key)) {
          taken[s->need].push_back(key);
        } else {
          granted[s->need] = false;
        }
      }
      pending.clear();
      for (const Slot* s : later) {
        if (granted[s->need]) pending.push_back(s);
      }
    }
  }
  // Refused needs give back what they took (their topic slots), counted per row.
  std::map<Key, long long> back;
  for (auto& [need, keys] : taken) {
    if (granted[need]) continue;
    for (const auto& key : keys) ++back[key];
  }
  if (!back.empty()) {
    std::vector<std::string> subjects, channels, scopes;
    std::vector<long long> counts;
    for (const auto& [key, count] : back) {
      subjects.push_back(std::get<0>(key));
      channels.push_back(std::to_string(std::get<1>(key)));
      scopes.push_back(std::get<2>(key));
      counts.push_back(count);
    }
    conn.Exec(txn, kGiveBack, db::ToArrayLiteral(subjects), db::ToArrayLiteral(channels),
              db::ToArrayLiteral(scopes), db::ToArrayLiteral(counts));
  }
  return granted;
}

}  // namespace herald::subscriptions
