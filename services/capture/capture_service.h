#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "services/capture/capture_config.h"
#include "services/capture/capture_store.h"
#include "services/privacy/confirmation_token.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/registry.h"

namespace herald::capture {

// What a consent form sent (the hosted page or the operator's own site).
struct Submission {
  std::string form_id;
  std::string language;  // az, ru or en
  std::string email;     // as typed; e-mail and/or phone
  std::string phone;     // as typed
  std::string surname, given_name, patronymic;
  std::vector<std::string> topics;  // ticked
  bool processing = false;          // the consent-to-processing box
  bool marketing = false;           // the consent-to-marketing box
  std::string ip, user_agent;
};

// Consent capture with double opt-in (docs/consent-capture.md, CAP-1..CAP-8): a submission
// becomes a pending request per address and one confirmation each (an e-mail with a link, an
// SMS with a code; the gate's second exception); the POST of the link or the code records the
// consents through the registry, each step idempotent by the
// request's id, so a crash half-way is finished by the job or by the next POST.
class CaptureService {
 public:
  // Throws ConfigError when a form offers a topic the catalog does not know or that is not a
  // marketing one.
  CaptureService(db::Pool& pool, const Clock& clock, const CaptureSettings& settings,
                 const TopicCatalog& topics, const subscriptions::EligibilityGate& gate,
                 subscriptions::SubscriptionRegistry& registry,
                 const privacy::ConfirmationTokens& tokens, std::string public_base_url);

  // Checks the submission (InvalidArgument naming the field; NotFound for an unknown form),
  // then records a pending request per address given and queues its confirmation: an e-mail
  // with a link, an SMS with a code. Past the per-address limit it records nothing. A known,
  // unknown, suppressed or limited address gets the same answer (CAP-6): for a phone, a
  // token for the code form even when nothing was recorded.
  struct Submitted {
    std::string code_token;  // signed; names the SMS request (empty: no phone given)
  };
  Submitted Submit(const Submission& s);

  struct View {
    std::string status;    // pending, confirmed, recorded, applied
    std::string language;  // the form's
  };
  // The request a link token names; nullopt for a bad token or a request that expired or is
  // gone. Writes nothing (link scanners fetch every URL).
  std::optional<View> Look(const std::string& token) const;

  enum class Outcome { kConfirmed, kAlreadyConfirmed, kInvalid, kWrongCode, kTooManyTries };
  // The POST of the link: confirms a pending, valid request and records its consents.
  Outcome Confirm(const std::string& token, const std::string& ip, const std::string& user_agent);
  // The POST of an SMS code: the same, when `code` is the one sent; a wrong one counts, and
  // the kMaxCodeTries-th ends the request (CAP-8).
  Outcome ConfirmCode(const std::string& token, const std::string& code, const std::string& ip,
                      const std::string& user_agent);
  static constexpr int kMaxCodeTries = 5;

  // The job (worker role): deletes expired pending requests with their personal data and
  // scrubs their confirmations; finishes requests a crash left confirmed. Returns how many
  // requests it expired and finished.
  struct JobResult {
    int64_t expired = 0;
    int64_t finished = 0;
  };
  JobResult RunOnce();

  // SubscriptionRegistry::HoldConsentsFrom's hold: a granted consent from a source in
  // capture.require_confirmation becomes a request confirmed at the subject's address (the
  // channel's own for marketing on it, else e-mail, then phone; always by link), and the
  // answer says it is pending. nullopt for the confirmed consent itself (this service's own
  // call) and for a subject RecordConsent will refuse anyway.
  std::optional<v1::RecordConsentResponse> Hold(const Caller& caller,
                                                const v1::RecordConsentRequest& r);

  const CaptureSettings& settings() const { return settings_; }
  const TopicCatalog& topics() const { return topics_; }
  static constexpr char kClientId[] = "herald:capture";

 private:
  void Apply(const std::string& request_id);
  std::string ConfirmUrl(const std::string& request_id) const;
  // One address's request from a form; returns the request id ("" when the per-address
  // limit held it back).
  std::string Request(const CaptureForm& form, const Submission& s, Channel channel,
                      const std::string& address, const std::string& match_key,
                      const std::vector<std::string>& ticked);
  // Records the request and queues its one confirmation (a code when `by_code`, else a
  // link); `limited`: subject to the per-address limit. Returns the id ("" when limited).
  std::string Queue(store::NewRequest r, bool limited, bool by_code);
  void ApplyReplay(const store::Request& r);
  // The chain in the trail, once: `capture.submitted` (with `submitted` as its details), then
  // `capture.confirmed`, on each subject; the request becomes `recorded` in the same
  // transaction, so a repeat of Apply after a crash does not write them twice.
  void RecordChain(const store::Request& r, const std::vector<std::string>& subjects, int source,
                   const nlohmann::json& submitted);
  Outcome ConfirmLocked(const std::string& id, const std::string& code, bool by_code,
                        const std::string& ip, const std::string& user_agent);

  db::Pool& pool_;
  const Clock& clock_;
  const CaptureSettings& settings_;
  const TopicCatalog& topics_;
  const subscriptions::EligibilityGate& gate_;
  subscriptions::SubscriptionRegistry& registry_;
  const privacy::ConfirmationTokens& tokens_;
  std::string base_;
};

}  // namespace herald::capture
