#pragma once

#include <string>

#include "common/clock.h"
#include "herald/v1/common.pb.h"

namespace herald::subscriptions {

// The proof a consent or opt-out records (who, where, under which document), checked the way
// common/validation/input_checks.h checks other fields: InvalidArgument naming the field.
struct CheckedProof {
  int source = 0;
  std::string form_id;
  std::string document_version;
  Timestamp occurred_at;
  std::string ip;
  std::string user_agent;
  std::string message_id;           // lower-case UUID or empty
  std::string recording_reference;  // the call's recording (source PHONE_CALL), or empty
};
CheckedProof CheckProof(const std::string& field, const v1::Proof& proof, Timestamp now,
                        bool require_document_version);

}  // namespace herald::subscriptions
