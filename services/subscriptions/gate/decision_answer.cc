#include "services/subscriptions/gate/decision_answer.h"

#include <string>

#include "common/proto_time.h"

namespace herald::subscriptions {
namespace {

v1::DecidingFact ToProto(DecidingFact f) {
  switch (f) {
    case DecidingFact::kNone:
      return v1::DECIDING_FACT_UNSPECIFIED;
    case DecidingFact::kAddress:
      return v1::ADDRESS;
    case DecidingFact::kSubject:
      return v1::SUBJECT;
    case DecidingFact::kOtherSubject:
      return v1::OTHER_SUBJECT;
  }
  return v1::DECIDING_FACT_UNSPECIFIED;
}

}  // namespace

v1::Decision DecisionAnswer(const GateDecision& d) {
  v1::Decision out;
  out.set_allowed(d.allowed());
  out.set_address(d.address);
  if (d.allowed()) {
    if (d.not_before) SetTimestamp(out.mutable_not_before(), *d.not_before);
    return out;
  }
  out.set_reason(static_cast<v1::DenyReason>(d.reason));
  out.set_decided_by(ToProto(d.decided_by));
  out.set_deciding_subject_id(d.deciding_subject_id);
  std::string why = d.explanation;
  if (d.decided_by == DecidingFact::kOtherSubject) {
    // The caller asked about someone else: say whose fact this is, since the CRM shows the
    // contact it asked about as consented.
    why =
        "another subject that owns the same address decides (with duplicates every "
        "owner's refusal counts): " +
        why;
  }
  out.set_explanation(why);
  return out;
}

}  // namespace herald::subscriptions
