#pragma once

#include "herald/v1/subscriptions.pb.h"
#include "services/subscriptions/gate/eligibility_gate.h"

namespace herald::subscriptions {

// The gate's decision as every API answer shows it (CheckEligibility, its batch form and
// PreviewMessage): allowed or the reason, the address decided for, and which fact decided
// with a sentence a CRM user can read.
v1::Decision DecisionAnswer(const GateDecision& d);

}  // namespace herald::subscriptions
