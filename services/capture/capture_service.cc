#include "services/capture/capture_service.h"

#include <google/protobuf/util/json_util.h>
#include <openssl/rand.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/crypto/hash.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/log/log.h"
#include "common/proto_time.h"
#include "common/translations.h"
#include "common/validation/address.h"
#include "common/validation/input_checks.h"
#include "common/validation/uuid.h"
#include "services/capture/capture_store.h"
#include "services/dispatch/adapters/sms/sms_encoding.h"
#include "services/dispatch/ledger/message_ledger.h"
#include "services/privacy/confirmation_mail.h"
#include "services/subscriptions/event_log.h"

namespace herald::capture {
namespace {

struct MailText {
  const char* subject;
  const char* asked;     // this address was given in a form
  const char* action;    // open the link and press the button
  const char* ignore;    // not you: nothing is sent
  const char* link;      // the HTML link's text
  const char* sms;       // after the code: what it is for
  const char* sms_link;  // before a link (a held API consent confirmed by phone)
};

const MailText kMail[3] = {
    {"E-poçt ünvanınızı təsdiq edin",
     "Bu ünvan saytımızdakı formada sizin razılığınızla göstərilib.",
     "Təsdiq etmək üçün linki açın və düyməni basın:",
     "Bunu siz etməmisinizsə, bu məktubu nəzərə almayın: sizə başqa məktub göndərilməyəcək.",
     "Ünvanı təsdiq edin", "- təsdiq kodunuz. Bunu siz etməmisinizsə, bu mesajı nəzərə almayın.",
     "Razılığınızı təsdiq edin:"},
    {"Подтвердите адрес электронной почты",
     "Этот адрес указали в форме на нашем сайте вместе с вашим согласием.",
     "Чтобы подтвердить, откройте ссылку и нажмите кнопку:",
     "Если это были не вы, просто не обращайте внимания на это письмо: других писем не будет.",
     "Подтвердить адрес", "- ваш код подтверждения. Если это были не вы, не обращайте внимания.",
     "Подтвердите согласие:"},
    {"Confirm your e-mail address",
     "This address was given in a form on our site, with your consent.",
     "To confirm, open the link and press the button:",
     "If it was not you, ignore this message: nothing else will be sent to you.",
     "Confirm the address", "is your confirmation code. If it was not you, ignore this message.",
     "Confirm your consent:"},
};

const MailText& MailOf(const std::string& language) {
  return kMail[language == "ru" ? 1 : language == "en" ? 2 : 0];
}

// Six digits from OpenSSL's generator (rejection sampling keeps them uniform).
std::string RandomCode() {
  for (;;) {
    uint32_t n = 0;
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&n), sizeof n) != 1) {
      throw std::runtime_error("no random bytes");
    }
    if (n >= 4294000000u) continue;  // a multiple of 1,000,000
    std::string code = std::to_string(n % 1000000);
    return std::string(6 - code.size(), '0') + code;
  }
}

std::string RandomUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no random bytes");
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  return validation::UuidFromBytes(std::string(reinterpret_cast<char*>(b), sizeof b));
}

// The stored form of a code: bound to its request, so a hash of one request's code says
// nothing about another's.
std::string CodeHash(const std::string& request_id, const std::string& code) {
  return crypto::ToHex(crypto::Sha256(request_id + ":" + code));
}

// How many expired requests one round of the job deletes.
constexpr int64_t kExpireBatch = 500;
constexpr int64_t kFinishBatch = 100;

Caller CaptureCaller(const std::string& request_id) {
  Caller c;
  c.client_id = CaptureService::kClientId;
  c.request_id = "capture-" + request_id;
  c.reads_subjects = true;
  // A blocked owner is still found: a consent held for it waits like any other (its
  // confirmation is refused by the gate), and a blocked owner among several does not stop
  // the others' consents from being recorded.
  c.privacy_scope = true;
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
  RequireCompleteTranslations(kMail, "capture confirmation texts");
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

CaptureService::Submitted CaptureService::Submit(const Submission& s) {
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
  if (s.email.empty() && s.phone.empty()) {
    throw InvalidArgument("email", "give an e-mail address or a phone number");
  }
  std::optional<validation::NormalizedAddress> email, phone;
  if (!s.email.empty()) {
    auto n = validation::NormalizeEmail(s.email);
    if (auto* err = std::get_if<validation::AddressError>(&n)) {
      throw InvalidArgument("email", err->message);
    }
    email = std::get<validation::NormalizedAddress>(n);
  }
  if (!s.phone.empty()) {
    auto n = validation::NormalizePhone(s.phone, gate_.default_region());
    if (auto* err = std::get_if<validation::AddressError>(&n)) {
      throw InvalidArgument("phone", err->message);
    }
    phone = std::get<validation::NormalizedAddress>(n);
  }
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

  Submitted out;
  if (email) Request(*form, s, Channel::kEmail, email->value, email->match_key, ticked);
  if (phone) {
    std::string id = Request(*form, s, Channel::kSms, phone->value, phone->match_key, ticked);
    // Held back by the limit: a token for no request, so the answer looks the same and every
    // code posted to it is wrong.
    out.code_token = tokens_.Sign(id.empty() ? RandomUuid() : id, clock_.Now());
  }
  return out;
}

std::string CaptureService::Request(const CaptureForm& form, const Submission& s, Channel channel,
                                    const std::string& address, const std::string& match_key,
                                    const std::vector<std::string>& ticked) {
  Timestamp now = clock_.Now();
  store::NewRequest r;
  r.form_id = form.id;
  r.channel = static_cast<int>(channel);
  r.language = s.language;
  r.topics = s.marketing ? ticked : std::vector<std::string>{};
  r.offered = form.topics;
  r.processing_document = form.processing_document;
  if (s.marketing) r.marketing_document = form.marketing_document;
  r.address = address;
  r.match_key = match_key;
  r.personal = {{"surname", s.surname},
                {"given_name", s.given_name},
                {"patronymic", s.patronymic},
                {"ip", s.ip},
                {"user_agent", s.user_agent}};
  r.submitted_at = now;
  r.expires_at = now + std::chrono::hours(settings_.validity_hours);
  // A phone typed into a form is confirmed by a code entered on the form's answer page.
  return Queue(std::move(r), /*limited=*/true, /*by_code=*/channel == Channel::kSms);
}

std::string CaptureService::Queue(store::NewRequest r, bool limited, bool by_code) {
  const Channel channel = static_cast<Channel>(r.channel);
  const Timestamp now = r.submitted_at;
  // The request id is part of the code's hash, so it is made here rather than by the database.
  r.id = RandomUuid();
  std::string code;
  if (by_code) {
    code = RandomCode();
    r.code_hash = CodeHash(r.id, code);
  }

  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  if (limited &&
      store::CountRecent(*conn, txn, r.channel, r.match_key, now - std::chrono::hours(24)) >=
          settings_.per_address_per_day) {
    // The same answer as any other submission: nothing tells the sender it was limited.
    log::Info("capture request over the per-address limit", {{"form", r.form_id}});
    return "";
  }
  std::string id = store::Insert(*conn, txn, r);

  // The one confirmation: decided now and again when a worker claims it.
  subscriptions::GateRequest g;
  g.address = r.address;
  g.channel = channel;
  g.topic = topics_.Find("service");
  g.confirms_capture = id;
  g.now = now;
  auto decision = gate_.Decide(*conn, txn, {g})[0];
  const MailText& t = MailOf(r.language);
  dispatch::ledger::NewMessage m;
  m.client_id = kClientId;
  if (r.subject_id) m.subject_id = r.subject_id;
  m.address = r.address;
  m.match_key = r.match_key;
  m.channel = static_cast<int>(channel);
  m.topic = "service";
  if (channel == Channel::kEmail) {
    m.subject_template = t.subject;
    m.text_template =
        std::string(t.asked) + "\n\n" + t.action + "\n{{confirm_url}}\n\n" + t.ignore + "\n";
    m.html_template = std::string("<p>") + t.asked + "</p>\n<p>" + t.action +
                      "</p>\n<p><a href=\"{{confirm_url}}\">" + t.link + "</a></p>\n<p>" +
                      t.ignore + "</p>\n";
    m.variables_json = nlohmann::json{{"confirm_url", ConfirmUrl(id)}}.dump();
  } else {
    // The code or the link in the text itself: an SMS template has no variables.
    m.text_template = by_code ? code + " " + t.sms : std::string(t.sms_link) + " " + ConfirmUrl(id);
    auto enc = dispatch::sms::AnalyzeSms(*m.text_template);
    m.sms_encoding = enc.kind == dispatch::sms::SmsEncoding::Kind::kGsm7 ? "GSM7" : "UCS2";
    m.sms_segments = enc.segments;
  }
  m.status =
      decision.allowed() ? dispatch::MessageStatus::kQueued : dispatch::MessageStatus::kSuppressed;
  m.deny_reason = decision.allowed() ? 0 : static_cast<int>(decision.reason);
  m.note = "confirmation of a consent capture request";
  m.confirms_capture = id;
  store::SetMessage(*conn, txn, id, dispatch::ledger::Enqueue(*conn, txn, m, now));
  txn.commit();
  log::Info("capture request recorded",
            {{"form", r.form_id},
             {"request_id", id},
             {"channel", ChannelName(channel)},
             {"confirmation", decision.allowed() ? "queued" : "refused"}});
  return id;
}

std::optional<v1::RecordConsentResponse> CaptureService::Hold(const Caller& caller,
                                                              const v1::RecordConsentRequest& r) {
  // The confirmed consent itself, recorded by Apply.
  if (caller.client_id == kClientId) return std::nullopt;
  Caller reader = CaptureCaller("hold");
  v1::GetSubjectRequest get;
  get.set_subject_id(r.subject_id());
  v1::Subject subject;
  try {
    subject = registry_.GetSubject(reader, get).subject();
  } catch (const herald::Error&) {
    return std::nullopt;  // RecordConsent refuses it with its own error
  }
  if (subject.state() != v1::ACTIVE) return std::nullopt;
  // Where to confirm: the channel's own address for marketing on it, else e-mail, then phone.
  bool phone_first =
      r.kind() == v1::MARKETING && (r.channel() == v1::SMS || r.channel() == v1::CALL);
  std::string address;
  Channel channel = Channel::kEmail;
  if (!phone_first && subject.emails_size() > 0) {
    address = subject.emails(0);
  } else if (subject.phones_size() > 0 && (phone_first || r.kind() != v1::MARKETING)) {
    address = subject.phones(0);
    channel = Channel::kSms;
  }
  if (address.empty()) {
    throw FailedPrecondition(
        "subject_id: consents from this source need the subject's confirmation "
        "(capture.require_confirmation), and the subject has no address to send it to");
  }
  auto normalized = channel == Channel::kEmail
                        ? validation::NormalizeEmail(address)
                        : validation::NormalizePhone(address, gate_.default_region());
  const auto& a = std::get<validation::NormalizedAddress>(normalized);

  std::string replay;
  v1::RecordConsentRequest copy = r;
  copy.clear_idempotency_key();
  if (!copy.proof().has_occurred_at()) {
    SetTimestamp(copy.mutable_proof()->mutable_occurred_at(), clock_.Now());
  }
  if (!google::protobuf::util::MessageToJsonString(copy, &replay).ok()) {
    throw std::runtime_error("RecordConsent request not serialisable");
  }
  Timestamp now = clock_.Now();
  store::NewRequest q;
  q.form_id = r.proof().form_id().empty()
                  ? std::string("api:") + v1::Source_Name(r.proof().source())
                  : r.proof().form_id();
  q.channel = static_cast<int>(channel);
  q.language = privacy::ConfirmationLanguage(subject.locale());
  q.topics = {};
  q.offered = {};
  q.processing_document =
      r.proof().document_version().empty() ? std::string("-") : r.proof().document_version();
  q.address = a.value;
  q.match_key = a.match_key;
  q.personal = {{"ip", r.proof().ip()},
                {"user_agent", r.proof().user_agent()},
                {"requested_by", caller.client_id}};
  q.replay = replay;
  q.subject_id = subject.id();
  q.submitted_at = now;
  q.expires_at = now + std::chrono::hours(settings_.validity_hours);
  // The operator's own systems are not rate-limited per address; the person gets a link.
  Queue(std::move(q), /*limited=*/false, /*by_code=*/false);

  v1::RecordConsentResponse resp;
  v1::Consent* c = resp.mutable_consent();
  c->set_subject_id(subject.id());
  c->set_kind(r.kind());
  c->set_channel(r.channel());
  c->set_granted(true);
  *c->mutable_proof() = copy.proof();
  c->set_actor(caller.client_id);
  resp.set_pending_confirmation(true);
  return resp;
}

std::optional<CaptureService::View> CaptureService::Look(const std::string& token) const {
  auto claims = tokens_.Verify(token);
  if (!claims) return std::nullopt;
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto r = store::Load(*conn, txn, claims->request_id);
  txn.commit();
  if (!r) return std::nullopt;
  if (r->status == "pending" && r->expires_at <= clock_.Now()) return std::nullopt;
  // An SMS request is confirmed by its code, never by a link.
  if (!r->code_hash.empty()) return std::nullopt;
  return View{r->status, r->language};
}

CaptureService::Outcome CaptureService::Confirm(const std::string& token, const std::string& ip,
                                                const std::string& user_agent) {
  auto claims = tokens_.Verify(token);
  if (!claims) return Outcome::kInvalid;
  return ConfirmLocked(claims->request_id, "", /*by_code=*/false, ip, user_agent);
}

CaptureService::Outcome CaptureService::ConfirmCode(const std::string& token,
                                                    const std::string& code, const std::string& ip,
                                                    const std::string& user_agent) {
  auto claims = tokens_.Verify(token);
  if (!claims) return Outcome::kInvalid;
  return ConfirmLocked(claims->request_id, code, /*by_code=*/true, ip, user_agent);
}

CaptureService::Outcome CaptureService::ConfirmLocked(const std::string& id,
                                                      const std::string& code, bool by_code,
                                                      const std::string& ip,
                                                      const std::string& user_agent) {
  Timestamp now = clock_.Now();
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    auto r = store::Load(*conn, txn, id);
    if (!r) return by_code ? Outcome::kWrongCode : Outcome::kInvalid;
    // A link confirms e-mail requests, a code SMS ones.
    if (by_code != !r->code_hash.empty()) return Outcome::kInvalid;
    if (r->status != "pending") {
      txn.commit();
      // A repeat, or the job's turn: finish what a crash may have left.
      if (r->status != "applied") Apply(id);
      return Outcome::kAlreadyConfirmed;
    }
    if (r->expires_at <= now) {
      return r->code_tries >= kMaxCodeTries ? Outcome::kTooManyTries : Outcome::kInvalid;
    }
    if (by_code && !crypto::ConstantTimeEquals(CodeHash(id, code), r->code_hash)) {
      int tries = store::RecordWrongCode(*conn, txn, id, kMaxCodeTries, now);
      txn.commit();
      return tries >= kMaxCodeTries ? Outcome::kTooManyTries : Outcome::kWrongCode;
    }
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
    r = store::Load(*conn, txn, id);
    txn.commit();
  }
  if (!r || (r->status != "confirmed" && r->status != "recorded")) return;
  Caller caller = CaptureCaller(id);
  if (!r->replay.empty()) {
    ApplyReplay(*r);
    return;
  }

  // 1. The subjects: every live owner of the address (the gate needs each owner's consent:
  //    the person proved they read this mailbox), or a new subject from the form.
  std::vector<std::string> subjects;
  v1::FindSubjectsRequest find;
  find.set_address(r->address);
  find.set_page_size(500);
  // Kept in a variable: a range-for over a temporary's member would read it after its end.
  const v1::FindSubjectsResponse found = registry_.FindSubjects(caller, find);
  for (const auto& s : found.subjects()) {
    if (s.state() == v1::ACTIVE) subjects.push_back(s.id());
  }
  if (subjects.empty()) {
    v1::UpsertSubjectRequest up;
    up.set_idempotency_key("capture:" + id + ":subject");
    up.set_surname(r->personal.value("surname", ""));
    up.set_given_name(r->personal.value("given_name", ""));
    up.set_patronymic(r->personal.value("patronymic", ""));
    up.set_locale(r->language);
    if (r->channel == static_cast<int>(Channel::kSms)) {
      up.add_phones(r->address);
    } else {
      up.add_emails(r->address);
    }
    up.set_source(v1::WEB_FORM);
    subjects.push_back(registry_.UpsertSubject(caller, up).subject().id());
  }

  // 2. The chain in the trail, once: the form, then its confirmation.
  nlohmann::json submitted = {{"request_id", id},
                              {"form_id", r->form_id},
                              {"channel", ChannelName(static_cast<Channel>(r->channel))},
                              {"processing_document", r->processing_document},
                              {"topics", r->topics}};
  if (r->marketing_document) submitted["marketing_document"] = *r->marketing_document;
  RecordChain(*r, subjects, v1::WEB_FORM, submitted);

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
    marketing.set_channel(static_cast<v1::Channel>(r->channel));
    marketing.set_granted(true);
    *marketing.mutable_proof() = ProofOf(*r, *r->marketing_document);
    registry_.RecordConsent(caller, marketing);
    v1::SetPreferencesRequest prefs;
    prefs.set_idempotency_key(key + ":topics");
    prefs.set_subject_id(subject);
    for (const auto& t : r->offered) {
      auto* c = prefs.add_changes();
      c->set_topic(t);
      c->set_channel(static_cast<v1::Channel>(r->channel));
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

void CaptureService::RecordChain(const store::Request& r, const std::vector<std::string>& subjects,
                                 int source, const nlohmann::json& submitted) {
  if (r.status != "confirmed") return;
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto locked = store::Load(*conn, txn, r.id);
  if (locked && locked->status == "confirmed") {
    Timestamp now = clock_.Now();
    nlohmann::json confirmed = {{"request_id", r.id}, {"message_id", r.message_id}};
    for (const auto& subject : subjects) {
      subscriptions::AppendEvent(*conn, txn,
                                 {subject,
                                  std::nullopt,
                                  subscriptions::EventType::kCaptureSubmitted,
                                  kClientId,
                                  source,
                                  r.submitted_at,
                                  now,
                                  submitted,
                                  {{"ip", r.personal.value("ip", "")},
                                   {"user_agent", r.personal.value("user_agent", "")}}});
      subscriptions::AppendEvent(*conn, txn,
                                 {subject,
                                  std::nullopt,
                                  subscriptions::EventType::kCaptureConfirmed,
                                  kClientId,
                                  source,
                                  r.confirmed_at.value_or(now),
                                  now,
                                  confirmed,
                                  {{"ip", r.personal.value("confirm_ip", "")},
                                   {"user_agent", r.personal.value("confirm_user_agent", "")}}});
    }
    store::MarkRecorded(*conn, txn, r.id, subjects.front());
  }
  txn.commit();
}

void CaptureService::ApplyReplay(const store::Request& r) {
  v1::RecordConsentRequest replay;
  if (!google::protobuf::util::JsonStringToMessage(r.replay, &replay).ok()) {
    throw std::runtime_error("capture request " + r.id + ": its consent does not parse");
  }
  RecordChain(r, {r.subject_id}, replay.proof().source(),
              {{"request_id", r.id},
               {"form_id", r.form_id},
               {"kind", v1::ConsentKind_Name(replay.kind())},
               {"source", v1::Source_Name(replay.proof().source())},
               {"requested_by", r.personal.value("requested_by", "")}});
  replay.set_idempotency_key("capture:" + r.id + ":replay");
  if (!r.message_id.empty()) replay.mutable_proof()->set_message_id(r.message_id);
  registry_.RecordConsent(CaptureCaller(r.id), replay);
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  store::MarkApplied(*conn, txn, r.id);
  txn.commit();
  log::Info("capture request applied", {{"request_id", r.id}});
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
