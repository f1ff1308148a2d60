#pragma once

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "services/dispatch/adapters/delivery.h"
#include "services/dispatch/adapters/sms/http_client.h"

namespace herald::dispatch::sms {

inline constexpr size_t kMaxDetailBytes = 300;

// What an HTTP status alone says, before the provider's body is read:
//   2xx      kSent   (the provider has the message; resending would send it twice)
//   408, 429 kRetry  (the provider asks us to come back)
//   other 4xx kFailed (it refuses this message)
//   5xx      kRetry  (its trouble, not the message's)
//   1xx, 3xx kRetry  (a misconfigured endpoint; keep the message until someone fixes it)
DeliveryOutcome OutcomeForStatus(int status);

// The outcome of a reply with everything the status and headers say: outcome, code and, for
// kRetry, retry_after. A transport failure (status 0) is code 0 with curl's reason as detail:
// kMaybeSent when the whole request had been sent (the provider may have taken the message;
// sending it again could deliver it twice), kRetry otherwise. Providers then add what their
// body says.
DeliveryResult ResultFromReply(const HttpReply& reply, Timestamp now);

// Retry-After as delta-seconds or an HTTP-date (RFC 9110 §10.2.3), relative to `now`; a date
// in the past means "now" (0s). nullopt when the value is neither.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, Timestamp now);

// A provider's words fit for DeliveryResult::detail: at most max_bytes, cut at a character
// boundary, malformed UTF-8 replaced by U+FFFD and NUL by "?", so the database (which
// stores text as UTF-8) accepts whatever an error page contained.
std::string DetailText(std::string_view text, size_t max_bytes = kMaxDetailBytes);

// The scalar at a JSON pointer as text (strings as is, numbers and booleans as JSON), or
// empty when the document has nothing scalar there.
std::string ScalarAt(const nlohmann::json& doc, const nlohmann::json::json_pointer& pointer);

}  // namespace herald::dispatch::sms
