#include "services/dispatch/adapters/sms/provider_reply.h"

#include <curl/curl.h>

#include <charconv>
#include <cstdint>
#include <string>

#include "services/dispatch/adapters/sms/utf8.h"

namespace herald::dispatch::sms {

DeliveryOutcome OutcomeForStatus(int status) {
  if (status >= 200 && status < 300) return DeliveryOutcome::kSent;
  // 401/403 say our credentials are wrong (rotated, revoked): provider trouble, not the
  // message's. Retrying keeps the message and trips the provider's circuit breaker.
  if (status == 408 || status == 429 || status == 401 || status == 403) {
    return DeliveryOutcome::kRetry;
  }
  if (status >= 400 && status < 500) return DeliveryOutcome::kFailed;
  return DeliveryOutcome::kRetry;
}

DeliveryResult ResultFromReply(const HttpReply& reply, Timestamp now) {
  DeliveryResult result;
  if (reply.stopped) {
    result.outcome = DeliveryOutcome::kRetry;
    result.not_attempted = true;
    result.detail = "shutting down";
    return result;
  }
  if (reply.status == 0) {
    result.outcome = reply.request_sent ? DeliveryOutcome::kMaybeSent : DeliveryOutcome::kRetry;
    result.code = 0;
    result.detail = DetailText(reply.request_sent ? "no answer after the whole request was "
                                                    "sent, may have been delivered: " +
                                                        reply.transport_error
                                                  : reply.transport_error);
    return result;
  }
  result.code = reply.status;
  result.outcome = OutcomeForStatus(reply.status);
  if (result.outcome == DeliveryOutcome::kRetry && !reply.retry_after.empty()) {
    result.retry_after = ParseRetryAfter(reply.retry_after, now);
  }
  return result;
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, Timestamp now) {
  if (value.empty()) return std::nullopt;
  if (value.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t seconds = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  // curl_getdate reads all three HTTP-date forms (IMF-fixdate, RFC 850, asctime) without
  // touching the process locale or time zone.
  std::string text(value);
  time_t date = curl_getdate(text.c_str(), nullptr);
  if (date == -1) return std::nullopt;
  auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  int64_t delta = static_cast<int64_t>(date) - now_s;
  return std::chrono::seconds(delta > 0 ? delta : 0);
}

std::string DetailText(std::string_view text, size_t max_bytes) {
  static constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";  // U+FFFD
  std::string out;
  for (size_t pos = 0; pos < text.size();) {
    size_t start = pos;
    char32_t cp = 0;
    std::string_view piece;
    if (!DecodeUtf8(text, pos, cp)) {
      piece = kReplacementUtf8;
    } else if (cp == 0) {
      piece = "?";  // PostgreSQL text cannot hold NUL
    } else {
      piece = text.substr(start, pos - start);
    }
    if (out.size() + piece.size() > max_bytes) break;
    out += piece;
  }
  return out;
}

std::string ScalarAt(const nlohmann::json& doc, const nlohmann::json::json_pointer& pointer) {
  try {
    if (!doc.contains(pointer)) return {};
    const auto& value = doc.at(pointer);
    if (value.is_string()) return value.get<std::string>();
    if (value.is_number() || value.is_boolean()) return value.dump();
  } catch (const nlohmann::json::exception&) {
    // A pointer that does not fit the document's shape ("/a/0" into an object) finds nothing.
  }
  return {};
}

}  // namespace herald::dispatch::sms
