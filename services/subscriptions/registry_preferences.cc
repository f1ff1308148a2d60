// Preferences per topic x channel: SetPreferences, GetPreferences.
#include <memory>
#include <optional>
#include <regex>

#include "common/db/idempotency.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/proto_time.h"
#include "common/validation/input_checks.h"
#include "services/subscriptions/blocked_reads.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/proof_checks.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/shared_statements.h"

namespace herald::subscriptions {
namespace {

constexpr db::Statement kLoadPreferences{"preferences.load", R"sql(
  SELECT channel, topic, subscribed, seq, updated_at::text
  FROM preferences
  WHERE subject_id = $1::uuid
)sql"};
// SetPreferences is one call of herald_set_preferences (migration V021): the idempotency key,
// the gate row, the consent check under it, each change's event and preference row, the
// answer stored with the key, and the rows the response is built from.
constexpr db::Statement kSetPreferences{"preferences.set", R"sql(
  SELECT r_channels, r_channel, r_topic, r_subscribed, r_seq, r_updated_at
  FROM herald_set_preferences(
    $1::uuid, $2::text[], $3::smallint[], $4::boolean[], $5::jsonb, $6::smallint, $7, $8, $9,
    decode($10, 'hex'), $11, $12::smallint, $13::timestamptz, $14::timestamptz, $15::jsonb)
)sql"};
// The errors herald_set_preferences raises; each rolls its call back.
constexpr const char* kKeyReusedState = "HR001";
constexpr const char* kNoSubjectState = "HR002";
constexpr const char* kNotChangeableState = "HR003";
constexpr const char* kMergedOnChangeState = "HR004";
constexpr const char* kNoConsentState = "HR005";
constexpr const char* kMergedOnReadState = "HR006";

// Whether anything was recorded for the subject, or about one of its addresses (hex keyed
// hashes), after a time: the events ListSubjectEvents would list.
constexpr db::Statement kRecordedAfter{"events.recorded_after_for_subject", R"sql(
  SELECT EXISTS (
    SELECT 1
    FROM events e
    WHERE (e.subject_id = $1::uuid
           OR e.address_key IN (SELECT decode(k, 'hex') FROM unnest($2::text[]) AS k))
      AND e.recorded_at > $3::timestamptz)
)sql"};

constexpr db::Statement kSubjectState{"subjects.consent_state", R"sql(
  SELECT state, marketing_channels
  FROM subjects
  WHERE id = $1::uuid
)sql"};

}  // namespace

SubscriptionRegistry::PreferenceRows SubscriptionRegistry::LoadPreferences(
    db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id) {
  PreferenceRows rows;
  for (const auto& row : conn.Exec(txn, kLoadPreferences, subject_id)) {
    rows[{row[0].as<int>(), row[1].as<std::string>()}] = {row[2].as<bool>(), row[3].as<int64_t>(),
                                                          row[4].as<std::string>()};
  }
  return rows;
}

const SubscriptionRegistry::PreferenceRow* SubscriptionRegistry::Deciding(
    const PreferenceRows& rows, Channel channel, const std::string& topic,
    std::pair<int, std::string>* key) {
  const PreferenceRow* best = nullptr;
  for (int c : {kAnyChannel, static_cast<int>(channel)}) {
    for (const std::string& t : {std::string(), topic}) {
      auto it = rows.find({c, t});
      if (it != rows.end() && (!best || it->second.seq > best->seq)) {
        best = &it->second;
        if (key) *key = it->first;
      }
    }
  }
  return best;
}

std::vector<v1::Preference> SubscriptionRegistry::BuildPreferences(db::Connection& conn,
                                                                   pqxx::transaction_base& txn,
                                                                   const std::string& subject_id) {
  auto state = conn.Exec(txn, kSubjectState, subject_id);
  if (state.empty()) throw NotFound("subject_id: subject");
  if (state[0][0].as<std::string>() == "merged") {
    // Its preferences went to the survivor (M4).
    throw Error(ErrorCode::kNotFound,
                "subject_id: the subject was merged into " +
                    conn.Exec(txn, kMergedInto, subject_id)[0][0].as<std::string>() +
                    "; use that id");
  }
  int channels = state[0][1].as<int>();
  return PreferencesOf(LoadPreferences(conn, txn, subject_id), channels);
}

std::vector<v1::Preference> SubscriptionRegistry::PreferencesOf(const PreferenceRows& rows,
                                                                int channels) const {
  std::vector<v1::Preference> out;
  for (const auto& topic : topics_.MarketingTopicNames()) {
    for (Channel ch : kAllChannels) {
      v1::Preference p;
      p.set_topic(topic);
      p.set_channel(static_cast<v1::Channel>(ch));
      const PreferenceRow* row = Deciding(rows, ch, topic);
      p.set_subscribed(!row || row->subscribed);
      p.set_channel_consent((channels & (1 << static_cast<int>(ch))) != 0);
      if (row) SetTimestamp(p.mutable_update_time(), row->updated_at);
      out.push_back(std::move(p));
    }
  }
  return out;
}

v1::GetPreferencesResponse SubscriptionRegistry::GetPreferences(
    const Caller& caller, const v1::GetPreferencesRequest& r) {
  std::string subject_id = validation::RequireUuid("subject_id", r.subject_id());
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  RefuseBlockedRead(*conn, txn, caller, subject_id);
  v1::GetPreferencesResponse resp;
  for (auto& p : BuildPreferences(*conn, txn, subject_id)) *resp.add_preferences() = std::move(p);
  return resp;
}

v1::SetPreferencesResponse SubscriptionRegistry::SetPreferences(
    const Caller& caller, const v1::SetPreferencesRequest& r) {
  return *SetPreferencesIf(caller, r, std::nullopt);
}

std::optional<v1::SetPreferencesResponse> SubscriptionRegistry::SetPreferencesUnlessChangedSince(
    const Caller& caller, const v1::SetPreferencesRequest& r, Timestamp since) {
  if (!r.idempotency_key().empty()) {
    throw InvalidArgument("idempotency_key", "not taken by a change conditional on the trail");
  }
  return SetPreferencesIf(caller, r, since);
}

std::optional<v1::SetPreferencesResponse> SubscriptionRegistry::SetPreferencesIf(
    const Caller& caller, const v1::SetPreferencesRequest& r,
    std::optional<Timestamp> unchanged_since) {
  std::string subject_id = validation::RequireUuid("subject_id", r.subject_id());
  if (r.changes_size() == 0) throw InvalidArgument("changes", "at least one change");
  if (r.changes_size() > 100) throw InvalidArgument("changes", "at most 100 per call");
  struct Change {
    std::string topic;
    Channel channel;
    bool subscribed;
  };
  std::vector<Change> changes;
  for (int i = 0; i < r.changes_size(); ++i) {
    std::string field = "changes[" + std::to_string(i) + "]";
    const TopicInfo& topic =
        validation::RequireTopic(topics_, field + ".topic", r.changes(i).topic());
    if (!topic.marketing) {
      throw InvalidArgument(field + ".topic", "service notices are not a subscription");
    }
    Channel ch = validation::RequireChannel(field + ".channel", r.changes(i).channel());
    changes.push_back({topic.name, ch, r.changes(i).subscribed()});
  }
  Timestamp now = clock_.Now();
  CheckedProof proof = CheckProof("proof", r.proof(), now, false);
  db::IdempotencyKey idem(caller, "SetPreferences", r.idempotency_key(), r);

  std::vector<std::string> topics;
  std::vector<long long> channels;
  std::vector<std::string> subscribed;
  nlohmann::json details = nlohmann::json::array();
  for (const auto& c : changes) {
    topics.push_back(c.topic);
    channels.push_back(static_cast<long long>(c.channel));
    subscribed.push_back(c.subscribed ? "t" : "f");
    nlohmann::json d = {{"topic", c.topic},
                        {"channel", ChannelName(c.channel)},
                        {"subscribed", c.subscribed},
                        {"form_id", proof.form_id}};
    if (!proof.message_id.empty()) d["message_id"] = proof.message_id;
    details.push_back(std::move(d));
  }
  nlohmann::json personal = nlohmann::json::object();
  if (!proof.ip.empty()) personal["ip"] = proof.ip;
  if (!proof.user_agent.empty()) personal["user_agent"] = proof.user_agent;
  std::optional<std::string> personal_text;
  if (!personal.empty()) personal_text = personal.dump();

  auto conn = pool_.Acquire();
  std::unique_ptr<pqxx::transaction_base> work;
  if (unchanged_since) {
    // The check and the change under the subject's gate row, in one transaction: a change
    // committed before the lock was granted is seen by the check, and one after it waits
    // for this commit, so nothing recorded meanwhile is overridden.
    work = std::make_unique<pqxx::work>(conn->raw());
    LockSubjectForChange(*conn, *work, subject_id, now);
    if (conn->Exec(*work, kRecordedAfter, subject_id,
                   db::ToArrayLiteral(SubjectAddressKeyHexes(*conn, *work, subject_id)),
                   ToIso8601(*unchanged_since))[0][0]
            .as<bool>()) {
      return std::nullopt;  // rolled back as `work` ends
    }
  } else {
    // One statement, so no BEGIN and COMMIT of our own: it commits as it returns.
    work = std::make_unique<pqxx::nontransaction>(conn->raw());
  }
  pqxx::transaction_base& txn = *work;
  pqxx::result result;
  try {
    result = conn->Exec(
        txn, kSetPreferences, subject_id, db::ToArrayLiteral(topics), db::ToArrayLiteral(channels),
        db::ToArrayLiteral(subscribed), details.dump(), kAnyChannel, caller.client_id,
        idem.method(), idem.key(), idem.request_hash_hex(),
        std::string(EventTypeName(EventType::kPreferenceChanged)), static_cast<int>(proof.source),
        ToIso8601(proof.occurred_at), ToIso8601(now), personal_text);
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    if (state == kKeyReusedState) throw AlreadyExists(db::IdempotencyKey::kKeyReused);
    if (state == kNoSubjectState) throw NotFound("subject_id: subject");
    if (state == kNotChangeableState) {
      throw FailedPrecondition("subject_id: the subject was destroyed or depersonalized");
    }
    if (state == kMergedOnChangeState || state == kMergedOnReadState) {
      std::string message = "subject_id: the subject was merged into " +
                            conn->Exec(txn, kMergedInto, subject_id)[0][0].as<std::string>() +
                            "; use that id";
      // A change is refused as before it; a repeat's answer is read, and reads of a merged
      // subject are NOT_FOUND (M4).
      if (state == kMergedOnReadState) throw Error(ErrorCode::kNotFound, message);
      throw FailedPrecondition(message);
    }
    if (state == kNoConsentState) {
      std::smatch m;
      std::string text = e.what();
      std::string field = std::regex_search(text, m, std::regex(R"(changes\[\d+\])"))
                              ? m.str(0)
                              : std::string("changes");
      throw FailedPrecondition(field + ": no marketing consent on that channel; record it first");
    }
    throw;
  }
  if (unchanged_since) work->commit();
  int consented = 0;
  PreferenceRows rows;
  for (const auto& row : result) {
    consented = row[0].as<int>();
    if (row[1].is_null()) continue;
    rows[{row[1].as<int>(), row[2].as<std::string>()}] = {row[3].as<bool>(), row[4].as<int64_t>(),
                                                          row[5].as<std::string>()};
  }
  v1::SetPreferencesResponse resp;
  for (auto& p : PreferencesOf(rows, consented)) *resp.add_preferences() = std::move(p);
  return resp;
}

}  // namespace herald::subscriptions
