#include "services/crm/crm_connector.h"

#include <pqxx/pqxx>

#include "common/db/statement.h"
#include "common/error.h"
#include "common/validation/input_checks.h"
#include "services/crm/card_state.h"
#include "services/crm/writeback_queue.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/gate/gate_rows.h"

namespace herald::crm {
namespace {

constexpr db::Statement kSubjectOfContact{"crm_connector.subject_of_contact", R"sql(
  SELECT id FROM subjects
  WHERE external_id IN ($1, upper($1)) AND state = 'active'
)sql"};
constexpr db::Statement kOutboxRevision{"crm_connector.outbox_revision", R"sql(
  SELECT revision FROM crm_outbox WHERE subject_id = $1::uuid AND state = 'pending' FOR UPDATE
)sql"};

constexpr int kDefaultResyncPage = 1000;
constexpr int kMaxResyncPage = 10000;

struct Flag {
  const char* field;  // as Creatio names it by default, for answers and events
  Channel channel;
  bool present;
  bool value;
  std::optional<bool> CardFlags::*member;
};

}  // namespace

CrmConnector::CrmConnector(db::Pool& pool, const Clock& clock,
                           subscriptions::SubscriptionRegistry& registry,
                           const CardDeriver& deriver, CreatioClient* client, bool enabled)
    : pool_(pool),
      clock_(clock),
      registry_(registry),
      deriver_(deriver),
      client_(client),
      enabled_(enabled) {}

v1::ReportContactChangeResponse CrmConnector::ReportContactChange(
    const Caller& caller, const v1::ReportContactChangeRequest& r) {
  const std::string contact_id = validation::RequireUuid("contact_id", r.contact_id());
  validation::CheckText("changed_by", r.changed_by(), 200);
  std::vector<Flag> flags = {
      {"DoNotUseEmail", Channel::kEmail, r.has_do_not_use_email(), r.do_not_use_email(),
       &CardFlags::do_not_use_email},
      {"DoNotUseSms", Channel::kSms, r.has_do_not_use_sms(), r.do_not_use_sms(),
       &CardFlags::do_not_use_sms},
      {"DoNotUseCall", Channel::kCall, r.has_do_not_use_call(), r.do_not_use_call(),
       &CardFlags::do_not_use_call},
  };
  bool any = false;
  for (const auto& f : flags) any = any || f.present;
  if (!any) throw InvalidArgument("do_not_use_email", "at least one flag must be given");

  CardFlags reported;
  for (const auto& f : flags) {
    if (f.present) reported.*f.member = f.value;
  }

  std::string subject_id;
  CardFlags wanted;
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    auto found = conn->Exec(txn, kSubjectOfContact, contact_id);
    if (found.empty()) throw NotFound("contact_id: subject with that external_id");
    subject_id = found[0][0].as<std::string>();
    Timestamp now = clock_.Now();
    wanted = deriver_.Derive(*conn, txn, {subject_id})[subject_id];
    // What the card holds is recorded before the opt-outs below mark the subject: a worker
    // that claims such a mark before this report's last transaction then compares with the
    // card as Creatio reported it, and does not write back the flag it already shows.
    RememberCard(*conn, txn, subject_id, contact_id, reported, {}, now);
    txn.commit();
  }

  v1::ReportContactChangeResponse resp;
  resp.set_subject_id(subject_id);
  // A channel the card newly forbids (Herald allows it): the salesperson recorded an
  // opt-out. A tick where Herald already refuses (e.g. Herald's own write for want of
  // consent, echoed back) records nothing: it would turn Herald's "cannot vouch" into a
  // "no" nobody said.
  for (const auto& f : flags) {
    if (!f.present || !f.value || *(wanted.*f.member)) continue;
    v1::OptOutRequest opt_out;
    opt_out.set_subject_id(subject_id);
    opt_out.set_scope(v1::CHANNEL);
    opt_out.set_channel(static_cast<v1::Channel>(f.channel));
    opt_out.mutable_proof()->set_source(v1::CRM);
    opt_out.mutable_proof()->set_form_id("creatio-card");
    if (registry_.OptOut(caller, opt_out).changed()) resp.add_opted_out(f.field);
  }

  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  // The subject's gate row orders this against concurrent changes: what is derived below is
  // the state this report is compared with, and the write-back row is settled under it.
  if (!subscriptions::LockSubjectForChange(*conn, txn, subject_id, now)) {
    throw NotFound("contact_id: subject with that external_id");
  }
  wanted = deriver_.Derive(*conn, txn, {subject_id})[subject_id];
  for (const auto& f : flags) {
    if (f.present && !f.value && *(wanted.*f.member)) resp.add_reverted(f.field);
  }
  RememberCard(*conn, txn, subject_id, contact_id, reported, {}, now);
  if (resp.reverted_size() > 0) {
    nlohmann::json details = {
        {"contact_id", contact_id},
        {"reverted", std::vector<std::string>(resp.reverted().begin(), resp.reverted().end())},
        {"changed_by", r.changed_by()}};
    subscriptions::AppendEvent(
        *conn, txn,
        {subject_id, std::nullopt, subscriptions::EventType::kCrmCardReverted, caller.client_id,
         v1::CRM, now, now, details, nlohmann::json::object()});
    resp.set_outcome(v1::ReportContactChangeResponse::REVERTED);
  } else {
    resp.set_outcome(resp.opted_out_size() > 0 ? v1::ReportContactChangeResponse::OPTED_OUT
                                               : v1::ReportContactChangeResponse::MATCHED);
  }
  // Taking the gate row marked the subject for write-back; when the card as now known shows
  // what Herald wants, there is nothing to write: the mark goes (no echo).
  auto known = LoadKnownCards(*conn, txn, {subject_id});
  if (CardShows(known[subject_id].flags, wanted)) {
    auto rev = conn->Exec(txn, kOutboxRevision, subject_id);
    if (!rev.empty()) {
      Finish(*conn, txn, {subject_id, contact_id, rev[0][0].as<int64_t>(), 0}, now);
    }
  }
  txn.commit();
  return resp;
}

v1::WriteBackStatus CrmConnector::GetWriteBackStatus(const Caller&,
                                                     const v1::GetWriteBackStatusRequest&) {
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  QueueStatus s = ReadStatus(*conn, txn);
  v1::WriteBackStatus out;
  out.set_pending(s.pending);
  out.set_parked(s.parked);
  out.set_parked_auth(s.parked_auth);
  out.set_dead(s.dead);
  if (s.oldest) {
    out.set_oldest_age_seconds(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::seconds>(clock_.Now() - *s.oldest).count()));
  }
  out.set_queue_parked(s.parked_queue());
  out.set_last_error(s.last_error);
  out.set_enabled(enabled_);
  return out;
}

v1::RetryWriteBacksResponse CrmConnector::RetryWriteBacks(const Caller&,
                                                          const v1::RetryWriteBacksRequest& r) {
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  v1::RetryWriteBacksResponse out;
  out.set_retried(Retry(*conn, txn, r.include_dead(), clock_.Now()));
  txn.commit();
  return out;
}

v1::ResyncContactsResponse CrmConnector::ResyncContacts(const Caller&,
                                                        const v1::ResyncContactsRequest& r) {
  if (r.subject_id().empty() == !r.all()) {
    throw InvalidArgument("subject_id", "give a subject_id, or all = true, not both");
  }
  if (r.page_size() < 0 || r.page_size() > kMaxResyncPage) {
    throw InvalidArgument("page_size", "must be between 0 and 10000");
  }
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  v1::ResyncContactsResponse out;
  if (!r.all()) {
    const std::string id = validation::RequireUuid("subject_id", r.subject_id());
    // Taking the gate row marks the subject, as any change does.
    if (!subscriptions::LockSubjectForChange(*conn, txn, id, now)) throw NotFound("subject_id");
    ForgetCards(*conn, txn, {id});
    out.set_enqueued(1);
    out.set_total(1);
    txn.commit();
    return out;
  }
  std::string after;
  if (!r.page_token().empty()) after = validation::RequireUuid("page_token", r.page_token());
  int64_t marked = 0;
  std::string last = MarkLinkedPage(
      *conn, txn, after, r.page_size() == 0 ? kDefaultResyncPage : r.page_size(), now, &marked);
  if (!last.empty()) {
    // The page's cards are forgotten so every flag is written, absolute, again.
    ForgetCardsAfter(*conn, txn, after, last);
  }
  out.set_enqueued(marked);
  out.set_next_page_token(last);
  out.set_total(CountLinked(*conn, txn));
  txn.commit();
  return out;
}

v1::CheckCrmResponse CrmConnector::CheckCrm(const Caller&, const v1::CheckCrmRequest&) {
  v1::CheckCrmResponse out;
  if (!enabled_ || client_ == nullptr) {
    out.add_problems("crm.enabled is off: nothing is written to Creatio");
  } else {
    for (const auto& p : client_->CheckMetadata()) out.add_problems(p);
  }
  out.set_ok(out.problems_size() == 0);
  return out;
}

}  // namespace herald::crm
