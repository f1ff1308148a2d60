#include "services/subscriptions/proof_checks.h"

#include <arpa/inet.h>

#include <chrono>

#include "common/error.h"
#include "common/proto_time.h"
#include "common/validation/input_checks.h"

namespace herald::subscriptions {

CheckedProof CheckProof(const std::string& field, const v1::Proof& proof, Timestamp now,
                        bool require_document_version) {
  CheckedProof out;
  if (proof.source() == v1::SOURCE_UNSPECIFIED) {
    throw InvalidArgument(field + ".source", "required");
  }
  if (!v1::Source_IsValid(proof.source())) throw InvalidArgument(field + ".source", "unknown");
  out.source = proof.source();
  validation::CheckText(field + ".form_id", proof.form_id(), 128);
  validation::CheckText(field + ".document_version", proof.document_version(), 64);
  if (require_document_version && proof.document_version().empty()) {
    throw InvalidArgument(field + ".document_version", "required when granting consent (S3)");
  }
  out.form_id = proof.form_id();
  out.document_version = proof.document_version();
  out.occurred_at = now;
  if (proof.has_occurred_at()) {
    auto occurred_at = FromProtoTimestamp(proof.occurred_at());
    if (!occurred_at) throw InvalidArgument(field + ".occurred_at", "not a valid time");
    out.occurred_at = *occurred_at;
    if (out.occurred_at > now + std::chrono::minutes(5)) {
      throw InvalidArgument(field + ".occurred_at", "is in the future");
    }
  }
  if (!proof.ip().empty()) {
    unsigned char buf[16];
    if (proof.ip().size() > 45 || proof.ip().find('\0') != std::string::npos ||
        (inet_pton(AF_INET, proof.ip().c_str(), buf) != 1 &&
         inet_pton(AF_INET6, proof.ip().c_str(), buf) != 1)) {
      throw InvalidArgument(field + ".ip", "not an IPv4 or IPv6 address");
    }
  }
  out.ip = proof.ip();
  validation::CheckText(field + ".user_agent", proof.user_agent(), 512);
  out.user_agent = proof.user_agent();
  if (!proof.message_id().empty()) {
    out.message_id = validation::RequireUuid(field + ".message_id", proof.message_id());
  }
  validation::CheckText(field + ".recording_reference", proof.recording_reference(), 512);
  // A consent given on a call is proven by its recording (CALL-5).
  if (require_document_version && proof.source() == v1::PHONE_CALL &&
      proof.recording_reference().empty()) {
    throw InvalidArgument(field + ".recording_reference", "required when granting on a call");
  }
  out.recording_reference = proof.recording_reference();
  return out;
}

}  // namespace herald::subscriptions
