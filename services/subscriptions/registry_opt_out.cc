// Opt-outs: by subject (preferences) or by bare address (keyed-hash suppressions).
#include <algorithm>
#include <string>
#include <vector>

#include "common/crypto/hash.h"
#include "common/db/idempotency.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/log/log.h"
#include "common/validation/address.h"
#include "common/validation/input_checks.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/gate/gate_rows.h"
#include "services/subscriptions/proof_checks.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/shared_statements.h"
#include "services/subscriptions/suppressions.h"

namespace herald::subscriptions {
namespace {

// An opt-out by subject is one call of herald_opt_out_subject (migration V017), which takes
// the idempotency key, the gate row (and the survivor's, for a merged subject), decides
// whether anything changes, writes the event and the preference, counts the messages already
// in SENDING (they may still go out: the caller is told how many) and stores the answer with
// the key, in the order of locks the separate statements took. One round trip instead of ten.
constexpr db::Statement kOptOutSubject{"opt_out.subject", R"sql(
  SELECT target_id::text, changed, in_flight
  FROM herald_opt_out_subject(
    $1::uuid, $2::smallint, $3, $4::smallint, $5::text[], $6::smallint[],
    $7, $8, $9, decode($10, 'hex'), $11, $12::smallint, $13::timestamptz, $14::jsonb, $15::jsonb)
)sql"};
// The errors herald_opt_out_subject (and, the first, herald_opt_out_address) raises; each
// rolls its call back.
constexpr const char* kKeyReusedState = "HR001";
constexpr const char* kNoSubjectState = "HR002";
constexpr const char* kNotChangeableState = "HR003";

// An opt-out by bare address is one call of herald_opt_out_address (migration V020): the
// idempotency key, the address's gate row with its owners' CRM mark, whether a suppression
// already covers the scope, the messages in SENDING to the address, the event and the
// suppression, the answer stored with the key; the same order of locks as before.
constexpr db::Statement kOptOutAddress{"opt_out.address", R"sql(
  SELECT changed, in_flight
  FROM herald_opt_out_address(
    $1, decode($2, 'hex'), ARRAY(SELECT decode(k, 'hex') FROM unnest($3::text[]) AS k),
    $4::smallint, $5, $6::smallint[], $7::smallint, $8,
    $9::smallint, $10::smallint, $11, $12, $13, decode($14, 'hex'), $15, $16::smallint,
    $17::timestamptz, $18::jsonb, $19::jsonb)
)sql"};

// The channels that reach an address of `kind`, as an array literal for kOptOutAddress.
std::string ChannelsReaching(AddressKind kind) {
  std::vector<long long> channels;
  for (Channel c : kAllChannels) {
    if (KindOf(c) == kind) channels.push_back(static_cast<long long>(c));
  }
  return db::ToArrayLiteral(channels);
}

}  // namespace

v1::OptOutResponse SubscriptionRegistry::OptOut(const Caller& caller, const v1::OptOutRequest& r) {
  Timestamp now = clock_.Now();
  std::string subject_id = CheckOptOut(r, now);
  db::IdempotencyKey idem(caller, "OptOut", r.idempotency_key(), r);

  auto conn = pool_.Acquire();
  // One statement either way, so no BEGIN and COMMIT of our own: it commits as it returns.
  pqxx::nontransaction txn(conn->raw());
  if (!subject_id.empty()) return OptOutSubject(*conn, txn, caller, r, subject_id, now, idem);
  return OptOutAddress(*conn, txn, caller, r, now, idem);
}

v1::OptOutResponse SubscriptionRegistry::OptOutWithin(db::Connection& conn,
                                                      pqxx::transaction_base& txn,
                                                      const Caller& caller,
                                                      const v1::OptOutRequest& r, Timestamp now) {
  std::string subject_id = CheckOptOut(r, now);
  db::IdempotencyKey not_idempotent(caller, "OptOut", "", r);
  if (subject_id.empty()) return OptOutAddress(conn, txn, caller, r, now, not_idempotent);
  return OptOutSubject(conn, txn, caller, r, subject_id, now, not_idempotent);
}

std::string SubscriptionRegistry::CheckOptOut(const v1::OptOutRequest& r, Timestamp now) const {
  // Validate everything first: scope, topic, channel, proof, target.
  switch (r.scope()) {
    case v1::TOPIC:
      validation::RequireTopic(topics_, "topic", r.topic());
      if (!topics_.Find(r.topic())->marketing) {
        throw InvalidArgument("topic", "service notices cannot be opted out of by topic");
      }
      if (r.channel() != v1::CHANNEL_UNSPECIFIED)
        validation::RequireChannel("channel", r.channel());
      break;
    case v1::CHANNEL:
      validation::RequireChannel("channel", r.channel());
      if (!r.topic().empty()) throw InvalidArgument("topic", "not used with scope CHANNEL");
      break;
    case v1::ALL_MARKETING:
      if (!r.topic().empty()) throw InvalidArgument("topic", "not used with scope ALL_MARKETING");
      if (r.channel() != v1::CHANNEL_UNSPECIFIED) {
        throw InvalidArgument("channel", "not used with scope ALL_MARKETING");
      }
      break;
    default:
      throw InvalidArgument("scope", "required (TOPIC, CHANNEL or ALL_MARKETING)");
  }
  if (r.reason() != v1::SUPPRESSION_REASON_UNSPECIFIED &&
      !v1::SuppressionReason_IsValid(r.reason())) {
    throw InvalidArgument("reason", "unknown");
  }
  CheckProof("proof", r.proof(), now, false);  // also checks proof.message_id is a UUID
  std::string subject_id;
  if (r.target_case() == v1::OptOutRequest::kSubjectId) {
    subject_id = validation::RequireUuid("subject_id", r.subject_id());
    if (r.reason() != v1::SUPPRESSION_REASON_UNSPECIFIED) {
      throw InvalidArgument("reason", "only for address opt-outs");
    }
  } else if (r.target_case() != v1::OptOutRequest::kAddress) {
    throw InvalidArgument("target", "give subject_id or address");
  }
  return subject_id;
}

v1::OptOutResponse SubscriptionRegistry::OptOutSubject(
    db::Connection& conn, pqxx::transaction_base& txn, const Caller& caller,
    const v1::OptOutRequest& r, const std::string& requested_id, Timestamp now,
    const db::IdempotencyKey& idem) {
  SuppressionScope scope{
      r.scope() == v1::ALL_MARKETING ? kAnyChannel : static_cast<int>(r.channel()),
      r.scope() == v1::TOPIC ? r.topic() : std::string()};
  // The (topic, channel) pairs the scope covers: the opt-out changes something when any of
  // them is still subscribed.
  std::vector<std::string> topics;
  for (const auto& topic : topics_.MarketingTopicNames()) {
    if (scope.topic.empty() || topic == scope.topic) topics.push_back(topic);
  }
  std::vector<long long> channels;
  for (Channel ch : kAllChannels) {
    if (scope.channel == kAnyChannel || static_cast<int>(ch) == scope.channel) {
      channels.push_back(static_cast<long long>(ch));
    }
  }

  nlohmann::json details = {{"scope", v1::OptOutScope_Name(r.scope())}};
  if (scope.channel != kAnyChannel)
    details["channel"] = ChannelName(static_cast<Channel>(scope.channel));
  if (!scope.topic.empty()) details["topic"] = scope.topic;
  if (!r.proof().message_id().empty()) {
    details["message_id"] = validation::RequireUuid("proof.message_id", r.proof().message_id());
  }
  nlohmann::json personal = nlohmann::json::object();
  if (!r.proof().ip().empty()) personal["ip"] = r.proof().ip();
  if (!r.proof().user_agent().empty()) personal["user_agent"] = r.proof().user_agent();
  std::optional<std::string> personal_text;
  if (!personal.empty()) personal_text = personal.dump();

  pqxx::result rows;
  try {
    // A merged subject's opt-out is its survivor's (the function takes both gate rows):
    // refusing it would lose a "no".
    rows = conn.Exec(
        txn, kOptOutSubject, requested_id, scope.channel, scope.topic, kAnyChannel,
        db::ToArrayLiteral(topics), db::ToArrayLiteral(channels), caller.client_id, idem.method(),
        idem.key(), idem.request_hash_hex(), std::string(EventTypeName(EventType::kOptOut)),
        static_cast<int>(r.proof().source()), ToIso8601(now), details.dump(), personal_text);
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == kKeyReusedState) throw AlreadyExists(db::IdempotencyKey::kKeyReused);
    if (e.sqlstate() == kNoSubjectState) throw NotFound("subject_id: subject");
    if (e.sqlstate() == kNotChangeableState) {
      throw FailedPrecondition("subject_id: the subject was destroyed or depersonalized");
    }
    throw;
  }
  v1::OptOutResponse resp;
  resp.set_changed(rows[0][1].as<bool>());
  resp.set_in_flight_messages(rows[0][2].as<int64_t>());
  return resp;
}

v1::OptOutResponse SubscriptionRegistry::OptOutAddress(db::Connection& conn,
                                                       pqxx::transaction_base& txn,
                                                       const Caller& caller,
                                                       const v1::OptOutRequest& r, Timestamp now,
                                                       const db::IdempotencyKey& idem) {
  auto res = validation::NormalizeAddress(r.address(), gate_.default_region());
  if (auto* err = std::get_if<validation::AddressError>(&res)) {
    throw InvalidArgument("address", err->message);
  }
  const auto& address = std::get<validation::NormalizedAddress>(res);
  AddressKind kind =
      address.kind == validation::AddressKind::kEmail ? AddressKind::kEmail : AddressKind::kPhone;
  if (r.channel() != v1::CHANNEL_UNSPECIFIED && KindOf(static_cast<Channel>(r.channel())) != kind) {
    throw InvalidArgument("channel", "does not reach that kind of address");
  }
  SuppressionScope scope{
      r.scope() == v1::ALL_MARKETING ? kAnyChannel : static_cast<int>(r.channel()),
      r.scope() == v1::TOPIC ? r.topic() : std::string()};
  int reason = r.reason() == v1::SUPPRESSION_REASON_UNSPECIFIED ? v1::UNSUBSCRIBED : r.reason();

  crypto::SuppressionHash current = hasher_.Current(KindName(kind), address.match_key);
  std::vector<std::string> all;
  for (const auto& h : hasher_.All(KindName(kind), address.match_key)) {
    all.push_back(crypto::ToHex(h.hash));
  }
  nlohmann::json details = {
      {"scope", v1::OptOutScope_Name(r.scope())},
      {"kind", KindName(kind)},
      {"reason", v1::SuppressionReason_Name(static_cast<v1::SuppressionReason>(reason))}};
  if (scope.channel != kAnyChannel)
    details["channel"] = ChannelName(static_cast<Channel>(scope.channel));
  if (!scope.topic.empty()) details["topic"] = scope.topic;
  if (!r.proof().message_id().empty()) {
    details["message_id"] = validation::RequireUuid("proof.message_id", r.proof().message_id());
  }
  nlohmann::json personal = {{"address", address.value}};
  if (!r.proof().ip().empty()) personal["ip"] = r.proof().ip();
  if (!r.proof().user_agent().empty()) personal["user_agent"] = r.proof().user_agent();

  pqxx::result rows;
  try {
    rows = conn.Exec(
        txn, kOptOutAddress, current.key_id, crypto::ToHex(current.hash), db::ToArrayLiteral(all),
        static_cast<int>(kind), address.match_key, ChannelsReaching(kind), scope.channel,
        scope.topic, reason, kAnyChannel, caller.client_id, idem.method(), idem.key(),
        idem.request_hash_hex(), std::string(EventTypeName(EventType::kSuppressionAdded)),
        static_cast<int>(r.proof().source()), ToIso8601(now), details.dump(), personal.dump());
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() == kKeyReusedState) throw AlreadyExists(db::IdempotencyKey::kKeyReused);
    throw;
  }
  v1::OptOutResponse resp;
  resp.set_changed(rows[0][0].as<bool>());
  resp.set_in_flight_messages(rows[0][1].as<int64_t>());
  return resp;
}

// A link token of a message sent to a bare address carries only the address's keyed hash
// (under the suppression key that was newest when it was sent) and that key's id: the
// address itself is not known here, so the suppression is stored under that hash as it is,
// filed under that key, which the start-up check then keeps in the ring. The gate compares
// against the hashes under every live key, so it matches while that key is in the ring.
// Tokens signed before they named the key are filed under the newest key (theirs may be
// older: the runbook keeps a key for as long as links made under it may be followed).
v1::OptOutResponse SubscriptionRegistry::OptOutAddressKey(const Caller& caller,
                                                          const std::string& address_key,
                                                          const std::string& address_key_id,
                                                          Channel channel, const std::string& topic,
                                                          const v1::Proof& proof) {
  if (address_key.size() != 32) throw InvalidArgument("address_key", "must be 32 bytes");
  validation::RequireChannel("channel", static_cast<int>(channel));
  if (!topic.empty()) {
    validation::RequireTopic(topics_, "topic", topic);
    if (!topics_.Find(topic)->marketing) {
      throw InvalidArgument("topic", "service notices cannot be opted out of by topic");
    }
  }
  Timestamp now = clock_.Now();
  CheckedProof checked = CheckProof("proof", proof, now, false);
  const std::string hex = crypto::ToHex(address_key);
  std::string key_id = hasher_.newest_key_id();  // see the note above
  if (!address_key_id.empty()) {
    const std::vector<std::string> ring = hasher_.key_ids();
    if (std::find(ring.begin(), ring.end(), address_key_id) != ring.end()) {
      key_id = address_key_id;
    } else {
      // Its key left the ring: the hash can no longer match an address, whatever its label.
      log::Warn("link opt-out under a suppression key no longer in the ring",
                {{"key_id", address_key_id}});
    }
  }
  const SuppressionReason reason = SuppressionReason::kUnsubscribed;
  const int scope_channel = static_cast<int>(channel);

  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  LockAddressForChange(*conn, txn, hex);
  v1::OptOutResponse resp;
  const SuppressionScope scope{scope_channel, topic};
  bool covered = CoveringSuppressionExists(*conn, txn, {hex}, scope, reason);
  resp.set_changed(!covered);
  if (!covered) {
    nlohmann::json details = {{"scope", topic.empty() ? "CHANNEL" : "TOPIC"},
                              {"kind", KindName(KindOf(channel))},
                              {"reason", "UNSUBSCRIBED"},
                              {"channel", ChannelName(channel)}};
    if (!topic.empty()) details["topic"] = topic;
    if (!checked.message_id.empty()) details["message_id"] = checked.message_id;
    nlohmann::json personal = nlohmann::json::object();
    if (!checked.ip.empty()) personal["ip"] = checked.ip;
    if (!checked.user_agent.empty()) personal["user_agent"] = checked.user_agent;
    int64_t event_id =
        AppendEvent(*conn, txn,
                    {std::nullopt, address_key, EventType::kSuppressionAdded, caller.client_id,
                     checked.source, checked.occurred_at, now, details, personal});
    InsertSuppression(*conn, txn, {key_id, hex, scope, reason, checked.source, now, event_id});
  }
  txn.commit();
  return resp;
}

}  // namespace herald::subscriptions
