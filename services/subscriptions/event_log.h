#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"

namespace herald::subscriptions {

// The trail's event types. Writers and readers (privacy intake selects its markers by type)
// name them here, so a misspelt type does not compile instead of silently matching nothing.
// The text in events.type is EventTypeName's, and is part of the API (ListSubjectEvents).
enum class EventType {
  kSubjectCreated,
  kSubjectUpdated,
  kSubjectRectified,
  kSubjectBlocked,
  kSubjectUnblocked,
  kSubjectDestroyed,
  kSubjectDepersonalized,
  kSubjectMerged,  // on both subjects of a merge; details name the other one
  kAddressAdded,
  kConsentGranted,
  kConsentWithdrawn,
  kPreferenceChanged,
  kOptOut,
  kSuppressionAdded,
  kSuppressionLifted,
  kSmsInbound,
  kPrivacyRequestReceived,  // a marker in an inbound e-mail, for privacy intake
  kPrivacyRequestOpened,
  kPrivacyRequestConfirmed,
  kCrmCardReverted,   // Creatio's card allowed what Herald forbids; written back
  kCaptureSubmitted,  // a consent form was submitted (the pending request)
  kCaptureConfirmed,  // its confirmation link was POSTed
  // What the person said on a call (RecordCallOutcome), one type per outcome.
  kCallAnswered,
  kCallDoNotCall,
  kCallRefusedMarketing,
  kCallWrongNumber,
  kCallConsentGiven,
};
inline constexpr EventType kAllEventTypes[] = {
    EventType::kSubjectCreated,
    EventType::kSubjectUpdated,
    EventType::kSubjectRectified,
    EventType::kSubjectBlocked,
    EventType::kSubjectUnblocked,
    EventType::kSubjectDestroyed,
    EventType::kSubjectDepersonalized,
    EventType::kSubjectMerged,
    EventType::kAddressAdded,
    EventType::kConsentGranted,
    EventType::kConsentWithdrawn,
    EventType::kPreferenceChanged,
    EventType::kOptOut,
    EventType::kSuppressionAdded,
    EventType::kSuppressionLifted,
    EventType::kSmsInbound,
    EventType::kPrivacyRequestReceived,
    EventType::kPrivacyRequestOpened,
    EventType::kPrivacyRequestConfirmed,
    EventType::kCrmCardReverted,
    EventType::kCaptureSubmitted,
    EventType::kCaptureConfirmed,
    EventType::kCallAnswered,
    EventType::kCallDoNotCall,
    EventType::kCallRefusedMarketing,
    EventType::kCallWrongNumber,
    EventType::kCallConsentGiven,
};
constexpr const char* EventTypeName(EventType t) {
  switch (t) {
    case EventType::kSubjectCreated:
      return "subject.created";
    case EventType::kSubjectUpdated:
      return "subject.updated";
    case EventType::kSubjectRectified:
      return "subject.rectified";
    case EventType::kSubjectBlocked:
      return "subject.blocked";
    case EventType::kSubjectUnblocked:
      return "subject.unblocked";
    case EventType::kSubjectDestroyed:
      return "subject.destroyed";
    case EventType::kSubjectDepersonalized:
      return "subject.depersonalized";
    case EventType::kSubjectMerged:
      return "subject.merged";
    case EventType::kAddressAdded:
      return "address.added";
    case EventType::kConsentGranted:
      return "consent.granted";
    case EventType::kConsentWithdrawn:
      return "consent.withdrawn";
    case EventType::kPreferenceChanged:
      return "preference.changed";
    case EventType::kOptOut:
      return "opt_out";
    case EventType::kSuppressionAdded:
      return "suppression.added";
    case EventType::kSuppressionLifted:
      return "suppression.lifted";
    case EventType::kSmsInbound:
      return "sms.inbound";
    case EventType::kPrivacyRequestReceived:
      return "privacy_request_received";
    case EventType::kPrivacyRequestOpened:
      return "privacy_request.opened";
    case EventType::kPrivacyRequestConfirmed:
      return "privacy_request.confirmed";
    case EventType::kCrmCardReverted:
      return "crm.card_reverted";
    case EventType::kCaptureSubmitted:
      return "capture.submitted";
    case EventType::kCaptureConfirmed:
      return "capture.confirmed";
    case EventType::kCallAnswered:
      return "call.answered";
    case EventType::kCallDoNotCall:
      return "call.do_not_call";
    case EventType::kCallRefusedMarketing:
      return "call.refused_marketing";
    case EventType::kCallWrongNumber:
      return "call.wrong_number";
    case EventType::kCallConsentGiven:
      return "call.consent_given";
  }
  return "?";
}

// One entry of the append-only trail. `details` holds non-personal facts; `personal` goes to
// the side table (event_personal) that destruction empties without touching the event.
struct EventRecord {
  std::optional<std::string> subject_id;
  std::optional<std::string> address_key;  // raw keyed hash, for events about an address
  EventType type = EventType::kSubjectCreated;
  std::string actor;
  int source = 0;
  Timestamp occurred_at;
  Timestamp recorded_at;
  nlohmann::json details = nlohmann::json::object();
  nlohmann::json personal = nlohmann::json::object();
};

// The trail's only writers. AppendEvent returns the new event's id.
int64_t AppendEvent(db::Connection& conn, pqxx::transaction_base& txn, const EventRecord& e);

// Destruction: deletes the personal values behind a subject's events and behind events about
// any of these addresses (hex keyed hashes under every live key); the events stay. Returns
// how many were deleted.
int64_t DeletePersonalValues(db::Connection& conn, pqxx::transaction_base& txn,
                             const std::string& subject_id,
                             const std::vector<std::string>& address_key_hexes);

// A merge: the personal values behind the merged subject's events are filed under the
// survivor, so destroying the survivor also destroys what the duplicate held (the events
// themselves keep their subject). Returns how many were moved.
int64_t MovePersonalValues(db::Connection& conn, pqxx::transaction_base& txn,
                           const std::string& from_subject_id, const std::string& to_subject_id);

}  // namespace herald::subscriptions
