#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::inbound {

// One Authentication-Results header field (RFC 8601), comments removed.
struct AuthResults {
  std::string authserv_id;  // lower case
  struct Result {
    std::string method;  // lower case, without a version ("dmarc", "dkim", "spf" ...)
    std::string result;  // lower case ("pass", "fail", "none" ...)
    // "ptype.property" (lower case) -> value, e.g. "header.from" -> "example.org".
    std::map<std::string, std::string> properties;
  };
  std::vector<Result> results;
};

// Parses the value of one Authentication-Results field. nullopt when it has no
// authserv-id. Never throws.
std::optional<AuthResults> ParseAuthResults(std::string_view value);

// Whether the operator's own MTA recorded a DMARC pass aligned with the message's From:
// (STANDARDS §2b). Only the topmost Authentication-Results field whose authserv-id is in
// `trusted_authserv_ids` is read (the MTA adds its own above whatever the sender wrote and
// removes fields that claim its own id, RFC 8601 §5); every field below it, and every
// field of another authserv-id, is ignored. It must say dmarc=pass with header.from equal
// to the domain of the single From: mailbox (`from_domain`, compared case-insensitively)
// and no other dmarc result. An empty trusted list: never.
bool DmarcAlignedPass(std::string_view raw_message,
                      const std::vector<std::string>& trusted_authserv_ids,
                      std::string_view from_domain);

}  // namespace herald::inbound
