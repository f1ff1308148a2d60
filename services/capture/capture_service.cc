#include "services/capture/capture_service.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/db/statement.h"
#include "common/error.h"
#include "common/log/log.h"
#include "common/proto_time.h"
#include "common/validation/address.h"
#include "common/validation/input_checks.h"
#include "services/capture/capture_store.h"
#include "services/dispatch/ledger/message_ledger.h"
#include "services/subscriptions/event_log.h"

namespace herald::capture {
namespace {

struct MailText {
  const char* subject;
  const char* asked;   // this address was given in a form
  const char* action;  // open the link and press the button
  const char* ignore;  // not you: nothing is sent
  const char* link;    // the HTML link's text
};

const MailText kMail[3] = {
    {"E-poçt ünvanınızı təsdiq edin",
     "Bu ünvan saytımızdakı formada sizin razılığınızla göstərilib.",
     "Təsdiq etmək üçün linki açın və düyməni basın:",
     "Bunu siz etməmisinizsə, bu məktubu nəzərə almayın: sizə başqa məktub göndərilməyəcək.",
     "Ünvanı təsdiq edin"},
    {"Подтвердите адрес электронной почты",
     "Этот адрес указали в форме на нашем сайте вместе с вашим согласием.",
     "Чтобы подтвердить, откройте ссылку и нажмите кнопку:",
     "Если это были не вы, просто не обращайте внимания на это письмо: других писем не будет.",
     "Подтвердить адрес"},
    {"Confirm your e-mail address", "This address was given in a form on our site, with your consent.",
     "To confirm, open the link and press the button:",
     "If it was not you, ignore this message: nothing else will be sent to you.",
     "Confirm the address"},
};

const MailText& MailOf(const std::string& language) {
  return kMail[language == "ru" ? 1 : language == "en" ? 2 : 0];
}

// How many expired requests one round of the job deletes.
constexpr int64_t kExpireBatch = 500;
constexpr int64_t kFinishBatch = 100;

Caller CaptureCaller(const std::string& request_id) {
  Caller c;
  c.client_id = CaptureService::kClientId;
  c.request_id = "capture-" + request_id;
  c.reads_subjects = true;
  return c;
}

v1::Proof ProofOf(const store::Request& r, const std::string& document) {
  v1::Proof p;
  p.set_source(v1::WEB_FORM);
  p.set_form_id(r.form_id);
  p.set_document_version(document);
  SetTimestamp(p.mutable_occurred_at(), r.confirmed_at.value_or(r.submitted_at));
  if (r.personal.is_object()) {
    p.set_ip(r.personal.value("ip", ""));
    p.set_user_agent(r.personal.value("user_agent", ""));
  }
  if (!r.message_id.empty()) p.set_message_id(r.message_id);
  return p;
}

}  // namespace

CaptureService::CaptureService(db::Pool& pool, const Clock& clock, const CaptureSettings& settings,
                               const TopicCatalog& topics,
                               const subscriptions::EligibilityGate& gate,
                               subscriptions::SubscriptionRegistry& registry,
                               const privacy::ConfirmationTokens& tokens,
                               std::string public_base_url)
    : pool_(pool),
      clock_(clock),
      settings_(settings),
      topics_(topics),
      gate_(gate),
      registry_(registry),
      tokens_(tokens),
      base_(std::move(public_base_url)) {
  while (!base_.empty() && base_.back() == '/') base_.pop_back();
  for (const auto& f : settings_.forms) {
    for (const auto& t : f.topics) {
      const TopicInfo* info = topics_.Find(t);
      if (!info || !info->marketing) {
        throw ConfigError("capture.forms[" + f.id + "].topics: '" + t +
                          "' is not a marketing topic of this deployment");
      }
    }
  }
}

std::string CaptureService::ConfirmUrl(const std::string& request_id) const {
  return base_ + "/fc/" + tokens_.Sign(request_id, clock_.Now());
}

void CaptureService::Submit(const Submission& s) {
  const CaptureForm* form = settings_.Find(s.form_id);
  if (!form) throw NotFound("form");
  if (s.language != "az" && s.language != "ru" && s.language != "en") {
    throw InvalidArgument("lang", "az, ru or en");
  }
  if (!s.processing) {
    throw InvalidArgument("consent_processing", "the consent to processing is required");
  }
  validation::CheckText("surname", s.surname, 256);
  validation::CheckText("given_name", s.given_name, 256);
  validation::CheckText("patronymic", s.patronymic, 256);
  if (s.given_name.empty()) throw InvalidArgument("given_name", "required");
  if (s.email.empty()) throw InvalidArgument("email", "required");
  auto normalized = validation::NormalizeEmail(s.email);
  if (auto* err = std::get_if<validation::AddressError>(&normalized)) {
    throw InvalidArgument("email", err->message);
  }
  const auto& address = std::get<validation::NormalizedAddress>(normalized);
  for (const auto& t : s.topics) {
    if (std::find(form->topics.begin(), form->topics.end(), t) == form->topics.end()) {
      throw InvalidArgument("topics", "a topic this form does not offer");
    }
  }
  if (!s.topics.empty() && !s.marketing) {
    throw InvalidArgument("consent_marketing", "topics need the consent to marketing");
  }
  // The marketing box without a topic ticked: every topic the form offers.
  std::vector<std::string> ticked = s.topics;
  if (s.marketing && ticked.empty()) ticked = form->topics;

  Timestamp now = clock_.Now();
  store::NewRequest r;
  r.form_id = form->id;
  r.channel = static_cast<int>(Channel::kEmail);
  r.language = s.language;
  r.topics = s.marketing ? ticked : std::vector<std::string>{};
  r.offered = form->topics;
  r.processing_document = form->processing_document;
  if (s.marketing) r.marketing_document = form->marketing_document;
  r.address = address.value;
  r.match_key = address.match_key;
  r.personal = {{"surname", s.surname},
                {"given_name", s.given_name},
                {"patronymic", s.patronymic},
                {"ip", s.ip},
                {"user_agent", s.user_agent}};
  r.submitted_at = now;
  r.expires_at = now + std::chrono::hours(settings_.validity_hours);

  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  if (store::CountRecent(*conn, txn, r.channel, r.match_key, now - std::chrono::hours(24)) >=
      settings_.per_address_per_day) {
    // The same answer as any other submission: nothing tells the sender it was limited.
    log::Info("capture request over the per-address limit", {{"form", form->id}});
    return;
  }
  std::string id = store::Insert(*conn, txn, r);

  // The one confirmation: decided now and again when a worker claims it.
  subscriptions::GateRequest g;
  g.address = r.address;
  g.channel = Channel::kEmail;
  g.topic = topics_.Find("service");
  g.confirms_capture = id;
  g.now = now;
  auto decision = gate_.Decide(*conn, txn, {g})[0];
  const MailText& t = MailOf(r.language);
  dispatch::ledger::NewMessage m;
  m.client_id = kClientId;
  m.address = r.address;
  m.match_key = r.match_key;
  m.channel = static_cast<int>(Channel::kEmail);
  m.topic = "service";
  m.subject_template = t.subject;
  m.text_template = std::string(t.asked) + "\n\n" + t.action + "\n{{confirm_url}}\n\n" + t.ignore +
                    "\n";
  m.html_template = std::string("<p>") + t.asked + "</p>\n<p>" + t.action +
                    "</p>\n<p><a href=\"{{confirm_url}}\">" + t.link + "</a></p>\n<p>" +
                    t.ignore + "</p>\n";
  m.variables_json = nlohmann::json{{"confirm_url", ConfirmUrl(id)}}.dump();
  m.status = decision.allowed() ? dispatch::MessageStatus::kQueued
                                : dispatch::MessageStatus::kSuppressed;
  m.deny_reason = decision.allowed() ? 0 : static_cast<int>(decision.reason);
  m.note = "confirmation of a consent capture request";
  m.confirms_capture = id;
  store::SetMessage(*conn, txn, id, dispatch::ledger::Enqueue(*conn, txn, m, now));
  txn.commit();
  log::Info("capture request recorded", {{"form", form->id},
                                          {"request_id", id},
                                          {"confirmation", decision.allowed() ? "queued" : "refused"}});
}

std::optional<CaptureService::View> CaptureService::Look(const std::string& token) const {
  auto claims = tokens_.Verify(token);
  if (!claims) return std::nullopt;
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto r = store::Load(*conn, txn, claims->request_id, false);
  txn.commit();
  if (!r) return std::nullopt;
  if (r->status == "pending" && r->expires_at <= clock_.Now()) return std::nullopt;
  return View{r->status, r->language};
}

CaptureService::Outcome CaptureService::Confirm(const std::string& token, const std::string& ip,
                                                const std::string& user_agent) {
  auto claims = tokens_.Verify(token);
  if (!claims) return Outcome::kInvalid;
  const std::string& id = claims->request_id;
  Timestamp now = clock_.Now();
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    auto r = store::Load(*conn, txn, id, /*lock=*/true);
    if (!r) return Outcome::kInvalid;
    if (r->status != "pending") {
      txn.commit();
      // A repeat, or the job's turn: finish what a crash may have left.
      if (r->status != "applied") Apply(id);
      return Outcome::kAlreadyConfirmed;
    }
    if (r->expires_at <= now) return Outcome::kInvalid;
    store::MarkConfirmed(*conn, txn, id, {{"confirm_ip", ip}, {"confirm_user_agent", user_agent}},
                         now);
    txn.commit();
  }
  Apply(id);
  return Outcome::kConfirmed;
}

void CaptureService::Apply(const std::string& id) {
  std::optional<store::Request> r;
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    r = store::Load(*conn, txn, id, false);
    txn.commit();
  }
  if (!r || (r->status != "confirmed" && r->status != "recorded")) return;
  Caller caller = CaptureCaller(id);

  // 1. The subjects: every live owner of the address (the gate needs each owner's consent:
  //    the person proved they read this mailbox), or a new subject from the form.
  std::vector<std::string> subjects;
  v1::FindSubjectsRequest find;
  find.set_address(r->address);
  find.set_page_size(500);
  for (const auto& s : registry_.FindSubjects(caller, find).subjects()) {
    if (s.state() == v1::ACTIVE) subjects.push_back(s.id());
  }
  if (subjects.empty()) {
    v1::UpsertSubjectRequest up;
    up.set_idempotency_key("capture:" + id + ":subject");
    up.set_surname(r->personal.value("surname", ""));
    up.set_given_name(r->personal.value("given_name", ""));
    up.set_patronymic(r->personal.value("patronymic", ""));
    up.set_locale(r->language);
    up.add_emails(r->address);
    up.set_source(v1::WEB_FORM);
    subjects.push_back(registry_.UpsertSubject(caller, up).subject().id());
  }

  // 2. The chain in the trail, once: the form, then its confirmation.
  if (r->status == "confirmed") {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    auto locked = store::Load(*conn, txn, id, /*lock=*/true);
    if (locked && locked->status == "confirmed") {
      Timestamp now = clock_.Now();
      nlohmann::json submitted = {{"request_id", id},
                                  {"form_id", r->form_id},
                                  {"channel", "EMAIL"},
                                  {"processing_document", r->processing_document},
                                  {"topics", r->topics}};
      if (r->marketing_document) submitted["marketing_document"] = *r->marketing_document;
      nlohmann::json confirmed = {{"request_id", id}, {"message_id", r->message_id}};
      for (const auto& subject : subjects) {
        subscriptions::AppendEvent(
            *conn, txn,
            {subject, std::nullopt, subscriptions::EventType::kCaptureSubmitted, kClientId,
             v1::WEB_FORM, r->submitted_at, now, submitted,
             {{"ip", r->personal.value("ip", "")},
              {"user_agent", r->personal.value("user_agent", "")}}});
        subscriptions::AppendEvent(
            *conn, txn,
            {subject, std::nullopt, subscriptions::EventType::kCaptureConfirmed, kClientId,
             v1::WEB_FORM, r->confirmed_at.value_or(now), now, confirmed,
             {{"ip", r->personal.value("confirm_ip", "")},
              {"user_agent", r->personal.value("confirm_user_agent", "")}}});
      }
      store::MarkRecorded(*conn, txn, id, subjects.front());
    }
    txn.commit();
  }

  // 3. The consents and the topics, each idempotent by the request and the subject.
  for (const auto& subject : subjects) {
    std::string key = "capture:" + id + ":" + subject;
    v1::RecordConsentRequest processing;
    processing.set_idempotency_key(key + ":processing");
    processing.set_subject_id(subject);
    processing.set_kind(v1::PROCESSING);
    processing.set_granted(true);
    *processing.mutable_proof() = ProofOf(*r, r->processing_document);
    registry_.RecordConsent(caller, processing);
    if (!r->marketing_document) continue;
    v1::RecordConsentRequest marketing;
    marketing.set_idempotency_key(key + ":marketing");
    marketing.set_subject_id(subject);
    marketing.set_kind(v1::MARKETING);
    marketing.set_channel(v1::EMAIL);
    marketing.set_granted(true);
    *marketing.mutable_proof() = ProofOf(*r, *r->marketing_document);
    registry_.RecordConsent(caller, marketing);
    v1::SetPreferencesRequest prefs;
    prefs.set_idempotency_key(key + ":topics");
    prefs.set_subject_id(subject);
    for (const auto& t : r->offered) {
      auto* c = prefs.add_changes();
      c->set_topic(t);
      c->set_channel(v1::EMAIL);
      c->set_subscribed(std::find(r->topics.begin(), r->topics.end(), t) != r->topics.end());
    }
    *prefs.mutable_proof() = ProofOf(*r, *r->marketing_document);
    registry_.SetPreferences(caller, prefs);
  }

  // 4. Done: the request keeps no personal values.
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  store::MarkApplied(*conn, txn, id);
  txn.commit();
  log::Info("capture request applied", {{"request_id", id}});
}

CaptureService::JobResult CaptureService::RunOnce() {
  JobResult out;
  Timestamp now = clock_.Now();
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    auto expired = store::Expired(*conn, txn, now, kExpireBatch);
    if (!expired.empty()) {
      auto held = dispatch::ledger::ForgetCaptureConfirmations(*conn, txn, expired, now);
      std::vector<std::string> gone;
      for (const auto& id : expired) {
        if (std::find(held.begin(), held.end(), id) == held.end()) gone.push_back(id);
      }
      out.expired = store::DeletePending(*conn, txn, gone);
    }
    txn.commit();
  }
  std::vector<std::string> confirmed;
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    confirmed = store::Confirmed(*conn, txn, kFinishBatch);
    txn.commit();
  }
  for (const auto& id : confirmed) {
    try {
      Apply(id);
      ++out.finished;
    } catch (const herald::Error& e) {
      // Domain errors name fields, never values; the next round tries again.
      log::Warn("capture request not applied", {{"request_id", id}, {"error", e.what()}});
    } catch (const std::exception&) {
      // A database error's text may quote values.
      log::Warn("capture request not applied", {{"request_id", id}, {"error", "database"}});
    }
  }
  return out;
}

}  // namespace herald::capture
