#pragma once

#include <string>
#include <vector>

#include "common/domain/enums.h"

namespace herald::subscriptions {

// Which stored preference denies a (topic, channel), if any.
enum class PreferenceDeny { kNone, kAll, kChannel, kTopic };

// What the gate knows about one subject that a recipient resolves to.
struct SubjectFacts {
  // kMerged: folded into another subject (MergeSubjects); refused like a destroyed one, so a
  // message addressed to the duplicate is never sent on its stale facts.
  enum class State { kActive, kDestroyed, kDepersonalized, kMerged };
  State state = State::kActive;
  bool blocked = false;
  bool revoked = false;
  bool processing_consent = false;
  bool marketing_consent = false;  // on the channel asked about
  bool cross_border_consent = false;
  PreferenceDeny preference = PreferenceDeny::kNone;
  // The address decided for is one of this subject's. A subject's consent covers only its
  // own addresses (a stale CRM number may belong to someone else now).
  bool owns_address = true;
  std::string subject_id;
  // The subject the caller asked about (for a bare address: each of its owners); any other
  // one only shares the address (fail safe).
  bool explicit_subject = false;
  // Its IANA time zone for quiet hours; empty: the operator's.
  std::string time_zone;
};

// Everything one decision needs, gathered set-based from the database by EligibilityGate.
struct GateFacts {
  bool address_valid = true;
  bool address_suppressed = false;  // an active suppression applies to this topic and channel
  bool provider_foreign = false;    // the provider's country is outside home jurisdictions
  bool marketing_topic = true;
  // The message answers an inbound SMS keyword (STOP/START/HELP) recorded within the last
  // 24 hours, and goes to the number that sent it (DESIGN "One exception").
  bool keyword_reply = false;
  // The message is the confirmation of a pending double opt-in request, to the address
  // that request gave, within its validity (DESIGN "Exception two"; service topics only).
  bool capture_confirmation = false;
  // Marketing only: this subject (the one asked about, or the address's first owner) already
  // had its cap of marketing messages on the channel, or of the topic, in the window.
  bool frequency_capped = false;
  std::string capped_subject_id;
  // The explicit subject and every other live subject that owns the address (fail safe).
  std::vector<SubjectFacts> subjects;
};

// Which fact decided a denial: the address itself (invalid, suppressed, or owned by no
// subject), the subject asked about, or another subject that owns the same address (CRM
// duplicates: every owner's "no" counts, so a consented contact can be refused because of
// its duplicate). Callers show it so a CRM user can see why.
enum class DecidingFact { kNone, kAddress, kSubject, kOtherSubject };

struct Verdict {
  DenyReason reason = DenyReason::kNone;
  DecidingFact fact = DecidingFact::kNone;
  // The subject whose fact decided (kSubject, kOtherSubject); empty otherwise.
  std::string subject_id;
  // The rule that applied, as one English sentence without personal data; empty to allow.
  const char* explanation = "";
};

// The decision table of DESIGN.md. Every rule yields a candidate reason; the answer is the
// candidate with the highest precedence (DenyReason's order), or kNone to allow.
//
// A keyword reply is allowed without consent and despite suppressions (the STOP it confirms
// has just suppressed the number), but INVALID_ADDRESS, SUBJECT_DESTROYED and
// SUBJECT_BLOCKED still deny it: a destroyed or blocked subject's number is not processed
// for any purpose, even a confirmation.
//
// A capture confirmation overrides NO_CONSENT and nothing else: an invalid, suppressed,
// destroyed, blocked, revoked or cross-border-refused recipient still gets nothing (CAP-2).
//
// FREQUENCY_CAPPED comes last: only a marketing message every other rule allows is capped.
Verdict Judge(const GateFacts& facts);
inline DenyReason Decide(const GateFacts& facts) { return Judge(facts).reason; }

}  // namespace herald::subscriptions
