#include "services/subscriptions/gate/decision.h"

#include <algorithm>

namespace herald::subscriptions {
namespace {

DenyReason SubjectReason(const SubjectFacts& s, const GateFacts& facts) {
  if (s.state != SubjectFacts::State::kActive) return DenyReason::kSubjectDestroyed;
  if (s.blocked) return DenyReason::kSubjectBlocked;
  if (s.revoked) return DenyReason::kConsentRevoked;
  if (facts.provider_foreign && !s.cross_border_consent) return DenyReason::kCrossBorderNotAllowed;
  if (!s.processing_consent || !s.owns_address) return DenyReason::kNoConsent;
  if (!facts.marketing_topic) return DenyReason::kNone;  // service notices skip marketing rules
  if (!s.marketing_consent) return DenyReason::kNoConsent;
  switch (s.preference) {
    case PreferenceDeny::kAll:
      return DenyReason::kUnsubscribedAll;
    case PreferenceDeny::kChannel:
      return DenyReason::kUnsubscribedChannel;
    case PreferenceDeny::kTopic:
      return DenyReason::kUnsubscribedTopic;
    case PreferenceDeny::kNone:
      break;
  }
  return DenyReason::kNone;
}

// Picks the reason with the higher precedence; kNone (allow) loses to any reason.
DenyReason Stronger(DenyReason a, DenyReason b) {
  if (a == DenyReason::kNone) return b;
  if (b == DenyReason::kNone) return a;
  return std::min(a, b);
}

}  // namespace

DenyReason Decide(const GateFacts& facts) {
  if (!facts.address_valid) return DenyReason::kInvalidAddress;
  DenyReason answer = DenyReason::kNone;
  if (facts.keyword_reply) {
    for (const auto& s : facts.subjects) {
      if (s.state != SubjectFacts::State::kActive) {
        answer = Stronger(answer, DenyReason::kSubjectDestroyed);
      } else if (s.blocked) {
        answer = Stronger(answer, DenyReason::kSubjectBlocked);
      }
    }
    return answer;
  }
  if (facts.address_suppressed) answer = Stronger(answer, DenyReason::kAddressSuppressed);
  if (facts.subjects.empty()) {
    // A bare address has no consent on record (S3) and no cross-border consent either.
    if (facts.provider_foreign) answer = Stronger(answer, DenyReason::kCrossBorderNotAllowed);
    answer = Stronger(answer, DenyReason::kNoConsent);
  }
  for (const auto& s : facts.subjects) answer = Stronger(answer, SubjectReason(s, facts));
  return answer;
}

}  // namespace herald::subscriptions
