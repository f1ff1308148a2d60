#include "services/subscriptions/gate/decision.h"

namespace herald::subscriptions {
namespace {

// One rule's outcome: the reason and the sentence that explains it.
struct Rule {
  DenyReason reason = DenyReason::kNone;
  const char* explanation = "";
};

// The two rules that hold even for a keyword reply.
constexpr Rule kDestroyed{DenyReason::kSubjectDestroyed,
                          "the subject was destroyed or depersonalized"};
constexpr Rule kMerged{DenyReason::kSubjectDestroyed,
                       "the subject was merged into another subject; ask about that one"};
constexpr Rule kBlocked{DenyReason::kSubjectBlocked, "the subject's data is blocked"};

const Rule& GoneRule(const SubjectFacts& s) {
  return s.state == SubjectFacts::State::kMerged ? kMerged : kDestroyed;
}

Rule SubjectRule(const SubjectFacts& s, const GateFacts& facts) {
  if (s.state != SubjectFacts::State::kActive) return GoneRule(s);
  if (s.blocked) return kBlocked;
  if (s.revoked) {
    return {DenyReason::kConsentRevoked, "the subject revoked consent to processing"};
  }
  if (facts.provider_foreign && !s.cross_border_consent) {
    return {DenyReason::kCrossBorderNotAllowed,
            "the provider is abroad and the subject has no cross-border transfer consent"};
  }
  if (!s.processing_consent) {
    return {DenyReason::kNoConsent, "the subject has no consent to processing on record"};
  }
  if (!s.owns_address) {
    return {DenyReason::kNoConsent,
            "the address is not one of the subject's, so its consent does not cover it"};
  }
  if (!facts.marketing_topic) return {};  // service notices skip marketing rules
  if (!s.marketing_consent) {
    return {DenyReason::kNoConsent, "the subject has no marketing consent on this channel"};
  }
  switch (s.preference) {
    case PreferenceDeny::kAll:
      return {DenyReason::kUnsubscribedAll, "the subject unsubscribed from all marketing"};
    case PreferenceDeny::kChannel:
      return {DenyReason::kUnsubscribedChannel,
              "the subject unsubscribed from marketing on this channel"};
    case PreferenceDeny::kTopic:
      return {DenyReason::kUnsubscribedTopic, "the subject unsubscribed from this topic"};
    case PreferenceDeny::kNone:
      break;
  }
  return {};
}

// Keeps the candidate with the higher precedence (DenyReason's order); allowing loses to
// any reason. Of two equal reasons the first found stays, except that the subject asked
// about is named rather than another owner of the address.
void Consider(Verdict& answer, const Rule& rule, DecidingFact fact, const SubjectFacts* s) {
  if (rule.reason == DenyReason::kNone) return;
  if (answer.reason != DenyReason::kNone) {
    if (answer.reason < rule.reason) return;
    bool names_asked_subject =
        fact == DecidingFact::kSubject && answer.fact == DecidingFact::kOtherSubject;
    if (answer.reason == rule.reason && !names_asked_subject) return;
  }
  answer.reason = rule.reason;
  answer.fact = fact;
  answer.subject_id = s ? s->subject_id : std::string();
  answer.explanation = rule.explanation;
}

DecidingFact FactOf(const SubjectFacts& s) {
  return s.explicit_subject ? DecidingFact::kSubject : DecidingFact::kOtherSubject;
}

}  // namespace

Verdict Judge(const GateFacts& facts) {
  Verdict answer;
  if (!facts.address_valid) {
    Consider(answer,
             {DenyReason::kInvalidAddress,
              "the address is not valid for this channel, or the subject has none on it"},
             DecidingFact::kAddress, nullptr);
    return answer;
  }
  if (facts.keyword_reply) {
    for (const auto& s : facts.subjects) {
      if (s.state != SubjectFacts::State::kActive) {
        Consider(answer, GoneRule(s), FactOf(s), &s);
      } else if (s.blocked) {
        Consider(answer, kBlocked, FactOf(s), &s);
      }
    }
    return answer;
  }
  if (facts.address_suppressed) {
    Consider(answer,
             {DenyReason::kAddressSuppressed,
              "the address is on the suppression list for this topic and channel"},
             DecidingFact::kAddress, nullptr);
  }
  if (facts.subjects.empty()) {
    // A bare address has no consent on record (S3) and no cross-border consent either.
    if (facts.provider_foreign) {
      Consider(answer,
               {DenyReason::kCrossBorderNotAllowed,
                "the provider is abroad and no subject owns the address, so no cross-border "
                "transfer consent is on record"},
               DecidingFact::kAddress, nullptr);
    }
    Consider(answer,
             {DenyReason::kNoConsent, "no subject owns the address, so no consent is on record"},
             DecidingFact::kAddress, nullptr);
  }
  for (const auto& s : facts.subjects) Consider(answer, SubjectRule(s, facts), FactOf(s), &s);
  // Only service topics carry the fact, and below NO_CONSENT only marketing rules remain, so
  // a NO_CONSENT answer here means nothing else refused the confirmation.
  if (facts.capture_confirmation && answer.reason == DenyReason::kNoConsent) return Verdict{};
  if (facts.frequency_capped && facts.marketing_topic) {
    SubjectFacts capped;
    capped.subject_id = facts.capped_subject_id;
    Consider(answer,
             {DenyReason::kFrequencyCapped,
              "the subject already had the most marketing messages allowed on this channel (or "
              "of this topic) within the frequency cap's window"},
             DecidingFact::kSubject, &capped);
  }
  return answer;
}

}  // namespace herald::subscriptions
