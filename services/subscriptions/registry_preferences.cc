// Preferences per topic x channel: SetPreferences, GetPreferences.
#include "common/db/idempotency.h"
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
  PreferenceRows rows = LoadPreferences(conn, txn, subject_id);
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

  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  if (!idem.Claim(*conn, txn, now)) {
    int channels = LockSubjectForChange(*conn, txn, subject_id, now);
    for (size_t i = 0; i < changes.size(); ++i) {
      if (changes[i].subscribed && !(channels & (1 << static_cast<int>(changes[i].channel)))) {
        throw FailedPrecondition("changes[" + std::to_string(i) +
                                 "]: no marketing consent on that channel; record it first");
      }
    }
    PreferenceRows rows = LoadPreferences(*conn, txn, subject_id);
    for (const auto& c : changes) {
      const PreferenceRow* current = Deciding(rows, c.channel, c.topic);
      bool subscribed_now = !current || current->subscribed;
      if (subscribed_now == c.subscribed) continue;  // no change, no event
      nlohmann::json personal = nlohmann::json::object();
      if (!proof.ip.empty()) personal["ip"] = proof.ip;
      if (!proof.user_agent.empty()) personal["user_agent"] = proof.user_agent;
      nlohmann::json details = {{"topic", c.topic},
                                {"channel", ChannelName(c.channel)},
                                {"subscribed", c.subscribed},
                                {"form_id", proof.form_id}};
      if (!proof.message_id.empty()) details["message_id"] = proof.message_id;
      int64_t event_id =
          AppendEvent(*conn, txn,
                      {subject_id, std::nullopt, EventType::kPreferenceChanged, caller.client_id,
                       proof.source, proof.occurred_at, now, details, personal});
      conn->Exec(txn, kUpsertPreference, subject_id, static_cast<int>(c.channel), c.topic,
                 c.subscribed, event_id, ToIso8601(now));
      rows[{static_cast<int>(c.channel), c.topic}] = {c.subscribed, event_id, ToIso8601(now)};
    }
    idem.Complete(*conn, txn, nlohmann::json::object());
  }
  v1::SetPreferencesResponse resp;
  for (auto& p : BuildPreferences(*conn, txn, subject_id)) *resp.add_preferences() = std::move(p);
  txn.commit();
  return resp;
}

}  // namespace herald::subscriptions
