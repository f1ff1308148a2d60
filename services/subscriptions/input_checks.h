#pragma once

#include <string>

#include "common/clock.h"
#include "herald/v1/common.pb.h"
#include "services/subscriptions/domain.h"
#include "services/subscriptions/topics.h"

namespace herald::subscriptions {

// Request checks shared by the registry's operations. Each throws InvalidArgument naming the
// field (never echoing its value) and is called before anything is written.

// Valid UTF-8, no control characters (CR, LF, NUL, ...), at most max_chars code points.
void CheckText(const std::string& field, const std::string& value, size_t max_chars);
// Returns the UUID lower-cased; empty or malformed is an error.
std::string RequireUuid(const std::string& field, const std::string& value);
bool IsUuid(const std::string& value);
Channel RequireChannel(const std::string& field, int value);
const TopicInfo& RequireTopic(const TopicCatalog& topics, const std::string& field,
                              const std::string& name);
// ISO 3166-1 alpha-2 upper-cased, or empty.
std::string CheckCountry(const std::string& field, const std::string& value);

struct CheckedProof {
  int source = 0;
  std::string form_id;
  std::string document_version;
  Timestamp occurred_at;
  std::string ip;
  std::string user_agent;
  std::string message_id;  // lower-case UUID or empty
};
CheckedProof CheckProof(const std::string& field, const v1::Proof& proof, Timestamp now,
                        bool require_document_version);

// Pagination: page_size 0 means 50; at most 500. Tokens are opaque (hex of the last key).
int PageSize(int requested);
std::string EncodePageToken(const std::string& last_key);
std::string DecodePageToken(const std::string& token);

}  // namespace herald::subscriptions
