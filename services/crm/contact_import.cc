#include "services/crm/contact_import.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <exception>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/domain/enums.h"
#include "common/error.h"
#include "common/grpc/caller.h"
#include "common/proto_time.h"
#include "common/time/local_time.h"
#include "common/validation/address.h"
#include "services/crm/card_state.h"
#include "services/subscriptions/proof_checks.h"

namespace herald::crm {
namespace {

// The actor recorded on the subjects' events.
const Caller kCaller{"crm-import", ""};

constexpr db::Statement kInsert{"crm_imports.insert", R"sql(
  INSERT INTO crm_imports (dry_run, state, started_at, updated_at, consent)
  VALUES ($1, 'running', $2, $2, $3)
  RETURNING id
)sql"};
// Every statement that reads a run selects the columns Run::FromRow reads, in its order.
constexpr db::Statement kById{"crm_imports.by_id", R"sql(
  SELECT id, dry_run, state, phase, cursor, total, pages, contacts_seen, subjects_created,
         subjects_matched, opt_outs, topic_opt_outs, skipped, error, started_at::text,
         updated_at::text, finished_at::text, consent, consents
  FROM crm_imports
  WHERE id = $1
)sql"};
constexpr db::Statement kNewest{"crm_imports.newest", R"sql(
  SELECT id, dry_run, state, phase, cursor, total, pages, contacts_seen, subjects_created,
         subjects_matched, opt_outs, topic_opt_outs, skipped, error, started_at::text,
         updated_at::text, finished_at::text, consent, consents
  FROM crm_imports
  ORDER BY id DESC
  LIMIT 1
)sql"};
constexpr db::Statement kRunning{"crm_imports.running", R"sql(
  SELECT id, dry_run, state, phase, cursor, total, pages, contacts_seen, subjects_created,
         subjects_matched, opt_outs, topic_opt_outs, skipped, error, started_at::text,
         updated_at::text, finished_at::text, consent, consents
  FROM crm_imports
  WHERE state = 'running'
)sql"};
// Another process stepping the run holds its row: this one skips it rather than wait.
constexpr db::Statement kClaimRunning{"crm_imports.claim_running", R"sql(
  SELECT id, dry_run, state, phase, cursor, total, pages, contacts_seen, subjects_created,
         subjects_matched, opt_outs, topic_opt_outs, skipped, error, started_at::text,
         updated_at::text, finished_at::text, consent, consents
  FROM crm_imports
  WHERE state = 'running'
  LIMIT 1
  FOR UPDATE SKIP LOCKED
)sql"};
constexpr db::Statement kSave{"crm_imports.save", R"sql(
  UPDATE crm_imports
  SET state = $2, phase = $3, cursor = $4, total = $5, pages = $6, contacts_seen = $7,
      subjects_created = $8, subjects_matched = $9, opt_outs = $10, topic_opt_outs = $11,
      skipped = $12, error = $13, updated_at = $14, consents = $15,
      finished_at = CASE WHEN $2 = 'running' THEN NULL ELSE $14::timestamptz END
  WHERE id = $1
    AND state = 'running'
)sql"};
constexpr db::Statement kCancel{"crm_imports.cancel", R"sql(
  UPDATE crm_imports
  SET state = 'cancelled', updated_at = $2, finished_at = $2
  WHERE id = $1
    AND state = 'running'
)sql"};
constexpr db::Statement kSubjectsByExternalId{"crm_imports.subjects_by_external_id", R"sql(
  SELECT external_id, id::text, state
  FROM subjects
  WHERE external_id = ANY($1::text[])
)sql"};
// What UpsertSubject would match by address: a live subject without an external id.
constexpr db::Statement kUnlinkedOwners{"crm_imports.unlinked_owners", R"sql(
  SELECT DISTINCT a.match_key
  FROM addresses a
  JOIN subjects s ON s.id = a.subject_id
    AND s.state = 'active'
    AND s.external_id IS NULL
  WHERE a.kind = $1
    AND a.match_key = ANY($2::text[])
)sql"};

constexpr char kPhaseContacts[] = "contacts";
// Contacts of a page worked on at once (each holds one pooled connection at a time).
constexpr size_t kLanes = 4;
constexpr char kPhaseSubscriptions[] = "subscriptions";

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool IsGuid(const std::string& s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  return true;
}

std::string Text(const nlohmann::json& item, const std::string& field) {
  auto it = item.find(field);
  return it != item.end() && it->is_string() ? it->get<std::string>() : "";
}

std::optional<bool> Flag(const nlohmann::json& item, const std::string& field) {
  auto it = item.find(field);
  if (it == item.end() || !it->is_boolean()) return std::nullopt;
  return it->get<bool>();
}

v1::CrmImport::State StateOf(const std::string& s) {
  if (s == "running") return v1::CrmImport::RUNNING;
  if (s == "done") return v1::CrmImport::DONE;
  if (s == "failed") return v1::CrmImport::FAILED;
  if (s == "cancelled") return v1::CrmImport::CANCELLED;
  return v1::CrmImport::STATE_UNSPECIFIED;
}

// The subjects with these external ids: external id -> (subject id, state).
std::map<std::string, std::pair<std::string, std::string>> SubjectsOf(
    db::Connection& conn, pqxx::transaction_base& txn, const std::vector<std::string>& ids) {
  std::map<std::string, std::pair<std::string, std::string>> out;
  if (ids.empty()) return out;
  for (const auto& row : conn.Exec(txn, kSubjectsByExternalId, db::ToArrayLiteral(ids))) {
    out[row[0].as<std::string>()] = {row[1].as<std::string>(), row[2].as<std::string>()};
  }
  return out;
}

// Runs a registry call for one contact; false when the registry refuses it because the
// subject cannot change (blocked, gone) or the request does not fit it: the contact is
// skipped, the import goes on.
template <typename Call>
bool UnlessRefused(Call&& call) {
  try {
    call();
    return true;
  } catch (const Error& e) {
    if (e.code() != ErrorCode::kNotFound && e.code() != ErrorCode::kFailedPrecondition &&
        e.code() != ErrorCode::kInvalidArgument) {
      throw;
    }
    return false;
  }
}

// The consent an import is started with, checked, as stored ('' for none).
std::string CheckedConsent(v1::ImportConsent c, Timestamp now) {
  if (c.proof().source() == v1::SOURCE_UNSPECIFIED) c.mutable_proof()->set_source(v1::IMPORT);
  if (c.channels().empty()) {
    if (!c.proof().document_version().empty() || !c.proof().form_id().empty() ||
        c.proof().has_occurred_at()) {
      throw InvalidArgument("consent.channels", "name the channels the proof covers");
    }
    return "";
  }
  std::set<int> seen;
  for (int i = 0; i < c.channels_size(); ++i) {
    const std::string field = "consent.channels[" + std::to_string(i) + "]";
    auto ch = c.channels(i);
    if (ch != v1::EMAIL && ch != v1::SMS && ch != v1::CALL) {
      throw InvalidArgument(field, "must be EMAIL, SMS or CALL");
    }
    if (!seen.insert(ch).second) throw InvalidArgument(field, "given twice");
  }
  const v1::Proof& p = c.proof();
  // The registry's own checks (lengths, the time, the document version S3 requires), then
  // what an import's proof cannot be.
  subscriptions::CheckProof("consent.proof", p, now, /*require_document_version=*/true);
  if (p.source() != v1::IMPORT && p.source() != v1::CRM && p.source() != v1::WEB_FORM) {
    throw InvalidArgument("consent.proof.source", "must be IMPORT, CRM or WEB_FORM");
  }
  if (!p.message_id().empty() || !p.ip().empty() || !p.user_agent().empty()) {
    throw InvalidArgument("consent.proof",
                          "message_id, ip and user_agent describe one person's act, not an import");
  }
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(c, &json).ok()) {
    throw InvalidArgument("consent", "cannot be stored");
  }
  return json;
}

// Records one consent of the import's; false when the subject cannot change (blocked, gone)
// or the registry refuses the proof.
bool ConsentFromImport(subscriptions::SubscriptionRegistry& registry, const std::string& subject_id,
                       v1::ConsentKind kind, v1::Channel channel, const v1::Proof& given,
                       const std::string& proof_ref) {
  v1::RecordConsentRequest r;
  r.set_subject_id(subject_id);
  r.set_kind(kind);
  r.set_channel(channel);
  r.set_granted(true);
  *r.mutable_proof() = given;
  if (given.form_id().empty()) r.mutable_proof()->set_form_id(proof_ref);
  return UnlessRefused([&] { registry.RecordConsent(kCaller, r); });
}

}  // namespace

struct ContactImport::Run {
  int64_t id = 0;
  bool dry_run = false;
  std::string state, phase, cursor;
  std::optional<int64_t> total;
  int pages = 0;
  int64_t contacts_seen = 0, subjects_created = 0, subjects_matched = 0, opt_outs = 0,
          topic_opt_outs = 0, skipped = 0, consents = 0;
  v1::ImportConsent consent;
  std::string error;
  std::string started_at, updated_at, finished_at;

  static Run FromRow(const pqxx::row& row) {
    Run r;
    r.id = row[0].as<int64_t>();
    r.dry_run = row[1].as<bool>();
    r.state = row[2].as<std::string>();
    r.phase = row[3].as<std::string>();
    r.cursor = row[4].as<std::string>();
    if (!row[5].is_null()) r.total = row[5].as<int64_t>();
    r.pages = row[6].as<int>();
    r.contacts_seen = row[7].as<int64_t>();
    r.subjects_created = row[8].as<int64_t>();
    r.subjects_matched = row[9].as<int64_t>();
    r.opt_outs = row[10].as<int64_t>();
    r.topic_opt_outs = row[11].as<int64_t>();
    r.skipped = row[12].as<int64_t>();
    r.error = row[13].as<std::string>();
    r.started_at = row[14].as<std::string>();
    r.updated_at = row[15].as<std::string>();
    r.finished_at = row[16].is_null() ? "" : row[16].as<std::string>();
    const auto consent = row[17].as<std::string>();
    if (!consent.empty() &&
        !google::protobuf::util::JsonStringToMessage(consent, &r.consent).ok()) {
      throw std::runtime_error("crm_imports.consent is not an ImportConsent");
    }
    r.consents = row[18].as<int64_t>();
    return r;
  }

  v1::CrmImport ToProto() const {
    v1::CrmImport p;
    p.set_id(id);
    p.set_dry_run(dry_run);
    p.set_state(StateOf(state));
    p.set_phase(phase);
    p.set_total(total.value_or(0));
    p.set_pages(pages);
    p.set_contacts_seen(contacts_seen);
    p.set_subjects_created(subjects_created);
    p.set_subjects_matched(subjects_matched);
    p.set_opt_outs(opt_outs);
    p.set_topic_opt_outs(topic_opt_outs);
    p.set_skipped(skipped);
    p.set_error(error);
    SetTimestamp(p.mutable_start_time(), started_at);
    SetTimestamp(p.mutable_update_time(), updated_at);
    if (!finished_at.empty()) SetTimestamp(p.mutable_finish_time(), finished_at);
    *p.mutable_consent() = consent;
    p.set_consents(consents);
    return p;
  }

  // The proof's form_id of every opt-out this run records.
  std::string ProofRef() const { return "crm-import-" + std::to_string(id); }
};

// How working a page ended.
struct ContactImport::PageResult {
  enum Kind { kAdvanced, kRetryLater, kFailed } kind = kAdvanced;
  std::string error;  // kFailed: non-personal
};

ContactImport::ContactImport(db::Pool& pool, CreatioClient& client,
                             subscriptions::SubscriptionRegistry& registry,
                             const CreatioSettings& settings, const Clock& clock)
    : pool_(pool), client_(client), registry_(registry), settings_(settings), clock_(clock) {}

v1::CrmImport ContactImport::Start(bool dry_run, const v1::ImportConsent& consent) {
  Timestamp now = clock_.Now();
  const std::string consent_json = CheckedConsent(consent, now);
  if (!settings_.enabled) throw FailedPrecondition("crm.enabled is off: no import can run");
  auto conn = pool_.Acquire();
  try {
    pqxx::work txn(conn->raw());
    int64_t id =
        conn->Exec(txn, kInsert, dry_run, ToIso8601(now), consent_json)[0][0].as<int64_t>();
    Run run = Run::FromRow(conn->Exec(txn, kById, id)[0]);
    txn.commit();
    std::lock_guard lock(mu_);
    next_attempt_ = {};
    backoff_ = {};
    return run.ToProto();
  } catch (const pqxx::unique_violation&) {
    // crm_imports_one_running.
    pqxx::read_transaction txn(conn->raw());
    auto rows = conn->Exec(txn, kRunning);
    std::string which = rows.empty() ? "" : " (id " + rows[0][0].as<std::string>() + ")";
    throw FailedPrecondition("an import is already running" + which + ": wait for it or cancel it");
  }
}

v1::CrmImport ContactImport::Get(int64_t id) {
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto rows = id == 0 ? conn->Exec(txn, kNewest) : conn->Exec(txn, kById, id);
  if (rows.empty()) throw NotFound("import");
  return Run::FromRow(rows[0]).ToProto();
}

v1::CrmImport ContactImport::Cancel(int64_t id) {
  if (id == 0) id = Get(0).id();
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    conn->Exec(txn, kCancel, id, ToIso8601(clock_.Now()));
    txn.commit();
  }
  return Get(id);
}

Timestamp ContactImport::next_attempt() const {
  std::lock_guard lock(mu_);
  return next_attempt_;
}

void ContactImport::BackOff(const ODataAnswer& answer) {
  std::lock_guard lock(mu_);
  auto initial = std::chrono::milliseconds(std::max(settings_.backoff_initial_ms, 1));
  auto cap = std::chrono::milliseconds(std::max(settings_.backoff_max_ms, 1));
  backoff_ = backoff_.count() == 0 ? initial : std::min(backoff_ * 2, cap);
  auto delay = backoff_;
  if (answer.retry_after_s) {
    delay = std::max(
        delay, std::chrono::milliseconds(std::chrono::seconds(std::max(*answer.retry_after_s, 0))));
  }
  next_attempt_ = clock_.Now() + std::chrono::duration_cast<std::chrono::microseconds>(delay);
}

bool ContactImport::Step() {
  if (clock_.Now() < next_attempt()) return true;

  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto rows = conn->Exec(txn, kClaimRunning);
  if (rows.empty()) return false;
  Run run = Run::FromRow(rows[0]);

  PageResult result = run.phase == kPhaseSubscriptions ? SubscriptionsPage(*conn, txn, run)
                                                       : ContactsPage(*conn, txn, run);
  if (result.kind == PageResult::kRetryLater) return true;  // nothing to commit
  if (result.kind == PageResult::kFailed) {
    run.state = "failed";
    run.error = result.error;
  } else {
    std::lock_guard lock(mu_);
    backoff_ = {};
  }
  conn->Exec(txn, kSave, run.id, run.state, run.phase, run.cursor, run.total, run.pages,
             run.contacts_seen, run.subjects_created, run.subjects_matched, run.opt_outs,
             run.topic_opt_outs, run.skipped, run.error, ToIso8601(clock_.Now()), run.consents);
  txn.commit();
  return true;
}

ContactImport::PageResult ContactImport::NotAPage(const ODataAnswer& a, const std::string& what) {
  PageResult r;
  switch (a.outcome) {
    case Outcome::kRetryLater:
      BackOff(a);
      r.kind = PageResult::kRetryLater;
      return r;
    case Outcome::kAuthFailed:
      r.kind = PageResult::kFailed;
      r.error = "reading " + what + ": Creatio refused the login (" + a.error + ")";
      return r;
    case Outcome::kAnswered:
      break;
  }
  r.kind = PageResult::kFailed;
  r.error = "reading " + what + ": HTTP " + std::to_string(a.status);
  return r;
}

namespace {

// The rows of an OData collection page, or nothing when the body is not one.
std::optional<nlohmann::json> PageRows(const ODataAnswer& a) {
  auto body = nlohmann::json::parse(a.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return std::nullopt;
  auto it = body.find("value");
  if (it == body.end() || !it->is_array()) return std::nullopt;
  return *it;
}

// The page's "@odata.count", when Creatio gave one.
std::optional<int64_t> PageCount(const ODataAnswer& a) {
  auto body = nlohmann::json::parse(a.body, nullptr, /*allow_exceptions=*/false);
  auto it = body.is_object() ? body.find("@odata.count") : body.end();
  if (!body.is_object() || it == body.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<int64_t>();
}

// One contact as read.
struct Contact {
  std::string id;  // lower case
  std::string email, phone;
  std::string time_zone;  // crm.fields.time_zone's value; used only when ICU knows the zone
  CardFlags flags;
};

// The channels a card's DoNotUse flags cover.
constexpr v1::Channel kCardChannels[] = {v1::EMAIL, v1::SMS, v1::CALL};

// Whether the card forbids the channel (its DoNotUse flag is set).
bool CardForbids(const Contact& c, v1::Channel channel) {
  switch (channel) {
    case v1::EMAIL:
      return c.flags.do_not_use_email.value_or(false);
    case v1::SMS:
      return c.flags.do_not_use_sms.value_or(false);
    case v1::CALL:
      return c.flags.do_not_use_call.value_or(false);
    default:
      return true;
  }
}

// Upserts the contact's subject. The usable addresses go with it; when the registry refuses
// them (a phone it cannot normalise, addresses owned by several subjects) the contact is
// still linked by its id alone. Returns the subject id and whether it was created, or
// nothing when even that is refused (a destroyed subject).
std::optional<std::pair<std::string, bool>> UpsertContact(
    subscriptions::SubscriptionRegistry& registry, const Contact& c) {
  v1::UpsertSubjectRequest full;
  full.set_external_id(c.id);
  full.set_source(v1::CRM);
  if (!c.email.empty() &&
      std::holds_alternative<validation::NormalizedAddress>(validation::NormalizeEmail(c.email))) {
    full.add_emails(c.email);
  }
  if (!c.phone.empty()) full.add_phones(c.phone);
  // A zone the CRM holds wrongly is left out rather than refusing the contact.
  if (IsKnownTimeZone(c.time_zone)) full.set_time_zone(c.time_zone);
  std::vector<v1::UpsertSubjectRequest> attempts{full};
  if (full.phones_size() > 0 && full.emails_size() > 0) {
    attempts.push_back(full);
    attempts.back().clear_phones();
  }
  if (full.phones_size() + full.emails_size() > 0) {
    attempts.push_back(full);
    attempts.back().clear_phones();
    attempts.back().clear_emails();
  }
  for (const auto& r : attempts) {
    try {
      auto resp = registry.UpsertSubject(kCaller, r);
      return std::make_pair(resp.subject().id(), resp.created());
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kInvalidArgument && e.code() != ErrorCode::kFailedPrecondition) {
        throw;
      }
    }
  }
  return std::nullopt;
}

// Records an opt-out from Creatio; false when the subject cannot change (blocked, gone).
bool OptOutFromCrm(subscriptions::SubscriptionRegistry& registry, const std::string& subject_id,
                   v1::OptOutScope scope, v1::Channel channel, const std::string& topic,
                   const std::string& proof_ref) {
  v1::OptOutRequest r;
  r.set_subject_id(subject_id);
  r.set_scope(scope);
  r.set_channel(channel);
  r.set_topic(topic);
  r.mutable_proof()->set_source(v1::CRM);
  r.mutable_proof()->set_form_id(proof_ref);
  return UnlessRefused([&] { registry.OptOut(kCaller, r); });
}

}  // namespace

ContactImport::PageResult ContactImport::ContactsPage(db::Connection& conn,
                                                      pqxx::transaction_base& txn, Run& run) {
  const CreatioSettings& s = settings_;
  std::string url = s.contact_entity + "?$select=Id," + s.email_field + "," + s.mobile_phone_field +
                    "," + s.do_not_use_email_field + "," + s.do_not_use_sms_field + "," +
                    s.do_not_use_call_field +
                    (s.time_zone_field.empty() ? "" : "," + s.time_zone_field) +
                    "&$orderby=Id&$top=" + std::to_string(s.import_page_size);
  if (!run.cursor.empty()) url += "&$filter=Id gt " + run.cursor;
  // The first page also asks for the number of contacts, for the progress report.
  bool first = run.pages == 0 && run.cursor.empty();
  if (first) url += "&$count=true";
  ODataAnswer a = client_.Send({"GET", url, ""});
  if (a.outcome != Outcome::kAnswered || a.status != 200) return NotAPage(a, s.contact_entity);
  auto rows = PageRows(a);
  if (!rows) return {PageResult::kFailed, "reading " + s.contact_entity + ": not an OData page"};
  if (first) run.total = PageCount(a);

  std::vector<Contact> contacts;
  for (const auto& item : *rows) {
    Contact c;
    c.id = Lower(Text(item, "Id"));
    if (!IsGuid(c.id)) {
      return {PageResult::kFailed, "reading " + s.contact_entity + ": an Id is not a GUID"};
    }
    c.email = Text(item, s.email_field);
    c.phone = Text(item, s.mobile_phone_field);
    if (!s.time_zone_field.empty()) c.time_zone = Text(item, s.time_zone_field);
    c.flags.do_not_use_email = Flag(item, s.do_not_use_email_field);
    c.flags.do_not_use_sms = Flag(item, s.do_not_use_sms_field);
    c.flags.do_not_use_call = Flag(item, s.do_not_use_call_field);
    contacts.push_back(std::move(c));
  }

  if (run.dry_run) {
    // What the registry would do: match by external id, else by an e-mail address of a
    // subject no contact has claimed yet (a phone needs the gate's region to normalise: a
    // contact matched only by phone is counted as created).
    std::vector<std::string> ids, keys;
    std::map<std::string, std::string> key_of;
    for (const auto& c : contacts) {
      ids.push_back(c.id);
      auto n = validation::NormalizeEmail(c.email);
      if (auto* addr = std::get_if<validation::NormalizedAddress>(&n)) {
        keys.push_back(addr->match_key);
        key_of[c.id] = addr->match_key;
      }
    }
    auto known = SubjectsOf(conn, txn, ids);
    std::set<std::string> owned;
    if (!keys.empty()) {
      for (const auto& row : conn.Exec(txn, kUnlinkedOwners, static_cast<int>(AddressKind::kEmail),
                                       db::ToArrayLiteral(keys))) {
        owned.insert(row[0].as<std::string>());
      }
    }
    for (const auto& c : contacts) {
      auto it = known.find(c.id);
      if (it != known.end() && it->second.second != "active") {
        ++run.skipped;
        continue;
      }
      bool matched = it != known.end() || (key_of.count(c.id) && owned.count(key_of[c.id]));
      ++(matched ? run.subjects_matched : run.subjects_created);
      for (v1::Channel ch : kCardChannels) run.opt_outs += CardForbids(c, ch) ? 1 : 0;
      for (int ch : run.consent.channels()) {
        run.consents += CardForbids(c, static_cast<v1::Channel>(ch)) ? 0 : 1;
      }
    }
  } else {
    // The registry's calls each commit on their own: the page's contacts go through a few
    // lanes at once so the commits overlap. Contacts sharing an e-mail address stay in one
    // lane, in Id order, so which of them claims a subject found by that address does not
    // depend on timing.
    struct Lane {
      std::vector<const Contact*> contacts;
      std::vector<std::pair<std::string, const Contact*>> seen;  // subject id, contact
      int64_t created = 0, matched = 0, skipped = 0, opt_outs = 0, consents = 0;
      std::exception_ptr error;
    };
    std::vector<Lane> lanes(std::min<size_t>(kLanes, std::max<size_t>(contacts.size(), 1)));
    for (const auto& c : contacts) {
      auto n = validation::NormalizeEmail(c.email);
      auto* addr = std::get_if<validation::NormalizedAddress>(&n);
      size_t h = std::hash<std::string>{}(addr ? addr->match_key : c.id);
      lanes[h % lanes.size()].contacts.push_back(&c);
    }
    auto work = [&](Lane& lane) {
      try {
        for (const Contact* c : lane.contacts) {
          auto subject = UpsertContact(registry_, *c);
          if (!subject) {
            ++lane.skipped;
            continue;
          }
          ++(subject->second ? lane.created : lane.matched);
          for (v1::Channel channel : kCardChannels) {
            if (CardForbids(*c, channel) && OptOutFromCrm(registry_, subject->first, v1::CHANNEL,
                                                          channel, "", run.ProofRef())) {
              ++lane.opt_outs;
            }
          }
          // The operator's proof: consent where the card does not forbid the channel (a
          // newer consent would lift the opt-out just recorded, so a flagged channel gets
          // none).
          const auto& proof = run.consent.proof();
          if (!run.consent.channels().empty() &&
              ConsentFromImport(registry_, subject->first, v1::PROCESSING, v1::CHANNEL_UNSPECIFIED,
                                proof, run.ProofRef())) {
            for (int ch : run.consent.channels()) {
              if (CardForbids(*c, static_cast<v1::Channel>(ch))) continue;
              if (ConsentFromImport(registry_, subject->first, v1::MARKETING,
                                    static_cast<v1::Channel>(ch), proof, run.ProofRef())) {
                ++lane.consents;
              }
            }
          }
          lane.seen.emplace_back(subject->first, c);
        }
      } catch (...) {
        lane.error = std::current_exception();
      }
    };
    {
      std::vector<std::thread> threads;
      for (size_t i = 1; i < lanes.size(); ++i) threads.emplace_back(work, std::ref(lanes[i]));
      work(lanes[0]);
      for (auto& t : threads) t.join();
    }
    for (const auto& lane : lanes) {
      if (lane.error) std::rethrow_exception(lane.error);  // the page is redone
    }
    std::vector<std::pair<std::string, const Contact*>> seen;
    for (const auto& lane : lanes) {
      run.subjects_created += lane.created;
      run.subjects_matched += lane.matched;
      run.skipped += lane.skipped;
      run.opt_outs += lane.opt_outs;
      run.consents += lane.consents;
      seen.insert(seen.end(), lane.seen.begin(), lane.seen.end());
    }
    // What the cards hold, in a short transaction of its own: the page's run row stays
    // locked while the registry's calls commit theirs.
    auto cards = pool_.Acquire();
    pqxx::work card_txn(cards->raw());
    Timestamp now = clock_.Now();
    std::vector<CardUpdate> updates;
    updates.reserve(seen.size());
    for (const auto& [subject_id, contact] : seen) {
      updates.push_back({subject_id, contact->id, contact->flags, {}});
    }
    RememberCards(*cards, card_txn, updates, now);
    card_txn.commit();
  }

  run.contacts_seen += static_cast<int64_t>(contacts.size());
  ++run.pages;
  if (!contacts.empty()) run.cursor = contacts.back().id;
  if (static_cast<int>(contacts.size()) < s.import_page_size) {
    // The last page. Without a topic mapping no subscription row could be used.
    run.cursor.clear();
    if (s.topic_types.empty()) {
      run.state = "done";
    } else {
      run.phase = kPhaseSubscriptions;
    }
  }
  return {};
}

ContactImport::PageResult ContactImport::SubscriptionsPage(db::Connection& conn,
                                                           pqxx::transaction_base& txn, Run& run) {
  const CreatioSettings& s = settings_;
  std::map<std::string, std::string> topic_of;  // BulkEmailType id -> topic
  for (const auto& [topic, type] : s.topic_types) topic_of[Lower(type)] = topic;

  std::string url = s.subscription_entity +
                    "?$select=Id,ContactId,BulkEmailTypeId&$orderby=Id&$top=" +
                    std::to_string(s.import_page_size) + "&$filter=BulkEmailSubsStatus/Id eq " +
                    Lower(s.unsubscribed_status_id);
  if (!run.cursor.empty()) url += " and Id gt " + run.cursor;
  ODataAnswer a = client_.Send({"GET", url, ""});
  if (a.outcome != Outcome::kAnswered || a.status != 200) {
    return NotAPage(a, s.subscription_entity);
  }
  auto rows = PageRows(a);
  if (!rows) {
    return {PageResult::kFailed, "reading " + s.subscription_entity + ": not an OData page"};
  }

  struct Row {
    std::string id, contact_id, type_id;
  };
  std::vector<Row> page;
  std::vector<std::string> contact_ids;
  for (const auto& item : *rows) {
    Row r{Lower(Text(item, "Id")), Lower(Text(item, "ContactId")),
          Lower(Text(item, "BulkEmailTypeId"))};
    if (!IsGuid(r.id)) {
      return {PageResult::kFailed, "reading " + s.subscription_entity + ": an Id is not a GUID"};
    }
    contact_ids.push_back(r.contact_id);
    page.push_back(std::move(r));
  }
  auto subjects = SubjectsOf(conn, txn, contact_ids);

  std::map<std::string, CardUpdate> cards;  // by subject id
  for (const auto& r : page) {
    auto topic = topic_of.find(r.type_id);
    auto subject = subjects.find(r.contact_id);
    bool live = subject != subjects.end() && subject->second.second == "active";
    if (topic == topic_of.end() || (subject != subjects.end() && !live)) {
      ++run.skipped;
      continue;
    }
    if (run.dry_run) {
      // A contact not imported yet would be by the real run (its phase comes first).
      ++run.topic_opt_outs;
      continue;
    }
    if (!live || !OptOutFromCrm(registry_, subject->second.first, v1::TOPIC, v1::EMAIL,
                                topic->second, run.ProofRef())) {
      ++run.skipped;
      continue;
    }
    ++run.topic_opt_outs;
    CardUpdate& card = cards[subject->second.first];
    card.subject_id = subject->second.first;
    card.contact_id = r.contact_id;
    card.flags.unsubscribed[r.type_id] = true;
    card.subscription_rows[r.type_id] = r.id;
  }
  if (!cards.empty()) {
    auto cards_conn = pool_.Acquire();
    pqxx::work card_txn(cards_conn->raw());
    Timestamp now = clock_.Now();
    std::vector<CardUpdate> updates;
    updates.reserve(cards.size());
    for (auto& [id, card] : cards) updates.push_back(std::move(card));
    RememberCards(*cards_conn, card_txn, updates, now);
    card_txn.commit();
  }

  ++run.pages;
  if (!page.empty()) run.cursor = page.back().id;
  if (static_cast<int>(page.size()) < s.import_page_size) run.state = "done";
  return {};
}

}  // namespace herald::crm
