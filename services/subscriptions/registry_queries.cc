// Read-side operations: CheckEligibility(Batch), ListSubjectEvents, ListTopics, and the
// registry's constructor.
#include <algorithm>
#include <thread>

#include "common/crypto/hash.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/proto_time.h"
#include "common/validation/input_checks.h"
#include "services/subscriptions/blocked_reads.h"
#include "services/subscriptions/gate/decision_answer.h"
#include "services/subscriptions/registry.h"
#include "services/subscriptions/shared_statements.h"

namespace herald::subscriptions {
namespace {

// The subject's own events and those about any of its addresses (bare-address opt-outs).
constexpr db::Statement kListEvents{"events.list_for_subject", R"sql(
  SELECT e.id, coalesce(e.subject_id::text, ''), e.type, e.actor, e.source, e.occurred_at::text,
         e.recorded_at::text, e.details::text, coalesce(p.data::text, '')
  FROM events e
  LEFT JOIN event_personal p ON p.event_id = e.id
  WHERE (e.subject_id = $1::uuid
         OR e.address_key IN (SELECT decode(k, 'hex') FROM unnest($2::text[]) AS k))
    AND e.id > $3
  ORDER BY e.id
  LIMIT $4
)sql"};

}  // namespace

SubscriptionRegistry::SubscriptionRegistry(db::Pool& pool, const Clock& clock,
                                           const TopicCatalog& topics,
                                           const crypto::SuppressionHasher& hasher,
                                           const EligibilityGate& gate)
    : pool_(pool), clock_(clock), topics_(topics), hasher_(hasher), gate_(gate) {}

SubscriptionRegistry::~SubscriptionRegistry() = default;

void SubscriptionRegistry::CoalesceChecks(int max_batch) {
  // Gate runs at once: no more than half the pool (writers keep the rest) nor than the cores
  // (more concurrent runs only queue in PostgreSQL, and smaller batches cost more statements).
  int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int threads = std::max(1, std::min(pool_.Stats().size / 2, cores));
  coalescer_.reset();
  coalescer_ = std::make_unique<CheckCoalescer>(pool_, gate_, threads,
                                                static_cast<std::size_t>(std::max(1, max_batch)));
}

GateRequest SubscriptionRegistry::ToGateRequest(const std::string& field,
                                                const v1::Recipient& recipient, Channel channel,
                                                const TopicInfo& topic,
                                                const std::string& provider_country) const {
  GateRequest g;
  g.channel = channel;
  g.topic = &topic;
  g.provider_country = provider_country;
  g.now = clock_.Now();  // quiet hours and caps are judged at the time asked
  if (!recipient.subject_id().empty()) {
    g.subject_id = validation::RequireUuid(field + ".subject_id", recipient.subject_id());
  }
  if (!recipient.address().empty()) {
    if (recipient.address().size() > 320) {
      throw InvalidArgument(field + ".address", "longer than 320 bytes");
    }
    g.address = recipient.address();
  }
  if (!g.subject_id && !g.address) throw InvalidArgument(field, "give subject_id or address");
  return g;
}

GateRequest SubscriptionRegistry::CheckEligibilityRequestOf(
    const v1::CheckEligibilityRequest& r) const {
  Channel channel = validation::RequireChannel("channel", r.channel());
  const TopicInfo& topic = validation::RequireTopic(topics_, "topic", r.topic());
  std::string country = validation::CheckCountry("provider_country", r.provider_country());
  return ToGateRequest("recipient", r.recipient(), channel, topic, country);
}

namespace {

v1::CheckEligibilityResponse CheckEligibilityAnswer(const GateDecision& decision) {
  if (decision.unknown_subject) throw NotFound("recipient.subject_id: subject");
  v1::CheckEligibilityResponse resp;
  *resp.mutable_decision() = DecisionAnswer(decision);
  return resp;
}

}  // namespace

v1::CheckEligibilityResponse SubscriptionRegistry::CheckEligibility(
    const Caller&, const v1::CheckEligibilityRequest& r) {
  GateRequest request = CheckEligibilityRequestOf(r);
  if (coalescer_) return CheckEligibilityAnswer(coalescer_->Decide(request));
  auto conn = pool_.Acquire();
  pqxx::nontransaction txn(conn->raw());  // as in CheckCoalescer: no BEGIN/COMMIT needed
  return CheckEligibilityAnswer(gate_.Decide(*conn, txn, {request})[0]);
}

void SubscriptionRegistry::CheckEligibilityAsync(const Caller& caller,
                                                 const v1::CheckEligibilityRequest& r,
                                                 v1::CheckEligibilityResponse* resp,
                                                 std::function<void(std::exception_ptr)> done) {
  if (!coalescer_) {
    *resp = CheckEligibility(caller, r);
    done(nullptr);
    return;
  }
  coalescer_->Submit(CheckEligibilityRequestOf(r),
                     [resp, done = std::move(done)](const GateDecision& decision,
                                                    const std::exception_ptr& error) {
                       if (error) {
                         done(error);
                         return;
                       }
                       try {
                         *resp = CheckEligibilityAnswer(decision);
                       } catch (...) {
                         done(std::current_exception());
                         return;
                       }
                       done(nullptr);
                     });
}

v1::CheckEligibilityBatchResponse SubscriptionRegistry::CheckEligibilityBatch(
    const Caller&, const v1::CheckEligibilityBatchRequest& r) {
  if (r.recipients_size() == 0) throw InvalidArgument("recipients", "at least one recipient");
  if (r.recipients_size() > kMaxBatch) throw InvalidArgument("recipients", "at most 10000");
  Channel channel = validation::RequireChannel("channel", r.channel());
  const TopicInfo& topic = validation::RequireTopic(topics_, "topic", r.topic());
  std::string country = validation::CheckCountry("provider_country", r.provider_country());
  std::vector<GateRequest> reqs;
  reqs.reserve(r.recipients_size());
  for (int i = 0; i < r.recipients_size(); ++i) {
    reqs.push_back(ToGateRequest("recipients[" + std::to_string(i) + "]", r.recipients(i), channel,
                                 topic, country));
  }
  auto conn = pool_.Acquire();
  pqxx::nontransaction txn(conn->raw());  // as in CheckCoalescer: no BEGIN/COMMIT needed
  auto decisions = gate_.Decide(*conn, txn, reqs);
  v1::CheckEligibilityBatchResponse resp;
  for (size_t i = 0; i < decisions.size(); ++i) {
    if (decisions[i].unknown_subject) {
      throw NotFound("recipients[" + std::to_string(i) + "].subject_id: subject");
    }
    *resp.add_decisions() = DecisionAnswer(decisions[i]);
  }
  return resp;
}

std::vector<std::string> SubscriptionRegistry::SubjectAddressKeyHexes(
    db::Connection& conn, pqxx::transaction_base& txn, const std::string& subject_id) const {
  std::vector<std::string> keys;
  for (const auto& row : conn.Exec(txn, kSubjectAddressKeys, subject_id)) {
    const char* kind =
        row[0].as<int>() == static_cast<int>(AddressKind::kEmail) ? "email" : "phone";
    for (const auto& h : hasher_.All(kind, row[1].as<std::string>())) {
      keys.push_back(crypto::ToHex(h.hash));
    }
  }
  return keys;
}

v1::ListSubjectEventsResponse SubscriptionRegistry::ListSubjectEvents(
    const Caller& caller, const v1::ListSubjectEventsRequest& r) {
  std::string subject_id = validation::RequireUuid("subject_id", r.subject_id());
  int limit = validation::PageSize(r.page_size());
  std::string token = validation::DecodePageToken(r.page_token());
  long long after = 0;
  if (!token.empty()) {
    try {
      after = std::stoll(token);
    } catch (const std::exception&) {
      throw InvalidArgument("page_token", "not a token this service issued");
    }
  }
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  if (!RefuseBlockedRead(*conn, txn, caller, subject_id)) throw NotFound("subject_id: subject");
  auto rows = conn->Exec(txn, kListEvents, subject_id,
                         db::ToArrayLiteral(SubjectAddressKeyHexes(*conn, txn, subject_id)), after,
                         limit + 1);
  v1::ListSubjectEventsResponse resp;
  for (int i = 0; i < static_cast<int>(rows.size()) && i < limit; ++i) {
    const auto& row = rows[i];
    auto* e = resp.add_events();
    e->set_id(row[0].as<int64_t>());
    e->set_subject_id(row[1].as<std::string>());
    e->set_type(row[2].as<std::string>());
    e->set_actor(row[3].as<std::string>());
    e->set_source(static_cast<v1::Source>(row[4].as<int>()));
    SetTimestamp(e->mutable_occurred_at(), row[5].as<std::string>());
    SetTimestamp(e->mutable_record_time(), row[6].as<std::string>());
    e->set_details_json(row[7].as<std::string>());
    e->set_personal_json(row[8].as<std::string>());
  }
  if (static_cast<int>(rows.size()) > limit) {
    resp.set_next_page_token(
        validation::EncodePageToken(std::to_string(resp.events(limit - 1).id())));
  }
  return resp;
}

v1::ListTopicsResponse SubscriptionRegistry::ListTopics(const Caller&,
                                                        const v1::ListTopicsRequest&) {
  v1::ListTopicsResponse resp;
  for (const auto& t : topics_.all()) {
    auto* p = resp.add_topics();
    p->set_name(t.name);
    p->set_marketing(t.marketing);
    p->set_description(t.description);
    p->set_built_in(t.built_in);
    p->mutable_labels()->insert(t.labels.begin(), t.labels.end());
    p->mutable_descriptions()->insert(t.descriptions.begin(), t.descriptions.end());
  }
  return resp;
}

}  // namespace herald::subscriptions
