#include "services/dispatch/adapters/smtp/smtp_outcome.h"

namespace herald::dispatch {
namespace {

constexpr std::size_t kMaxDetail = 300;  // DeliveryResult::detail
constexpr std::size_t kMaxQueueId = 128;

// Cuts at a UTF-8 sequence boundary so the stored detail stays valid text.
std::string TruncateUtf8(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  s.resize(end);
  return s;
}

std::string DescribeReply(const SmtpReply& r) {
  std::string out = std::to_string(r.code);
  if (!r.enhanced_status.empty()) out += " " + r.enhanced_status;
  if (!r.text.empty()) out += " " + r.text;
  return out;
}

// RFC 3463 X.1.x are address statuses; X.1.7 and X.1.8 are about the *sender's* address,
// so they say nothing against the recipient.
bool IsBadDestination(std::string_view enhanced) {
  return enhanced.substr(0, 4) == "5.1." && enhanced != "5.1.7" && enhanced != "5.1.8";
}

// RFC 4954: authentication required / too weak / invalid / needs encryption.
bool IsAuthenticationReply(int code) {
  return code == 530 || code == 534 || code == 535 || code == 538;
}

DeliveryOutcome OutcomeOfRejection(const SmtpReply& r) {
  bool permanent = r.code >= 500;
  switch (r.answers) {
    case SmtpCommand::kRcpt:
      if (!permanent) return DeliveryOutcome::kRetry;
      return IsBadDestination(r.enhanced_status) ? DeliveryOutcome::kSuppress
                                                 : DeliveryOutcome::kFailed;
    case SmtpCommand::kMail:
      // 530 here means the relay wants AUTH we were not configured for: a relay problem.
      return permanent && !IsAuthenticationReply(r.code) ? DeliveryOutcome::kFailed
                                                         : DeliveryOutcome::kRetry;
    case SmtpCommand::kData:
      return permanent ? DeliveryOutcome::kFailed : DeliveryOutcome::kRetry;
    default:
      // The session never reached this message (greeting, EHLO, STARTTLS, AUTH).
      return DeliveryOutcome::kRetry;
  }
}

// The 354 was the last word: the relay took the body and owes the final reply to DATA.
bool AwaitsFinalDataReply(const std::optional<SmtpReply>& last_reply) {
  return last_reply && last_reply->answers == SmtpCommand::kData && last_reply->code / 100 == 3;
}

// Silence once everything was written: the timer ran out while the relay, holding the whole
// message, may still have been queueing it. A relay that closes or resets the connection
// instead has said no: it may only answer 250 once it has taken responsibility (RFC 5321,
// 4.1.1.4), and like Postfix ("lost connection after end of DATA") the message is retried.
// A send error means the "." itself could not be written.
bool IsSilence(CURLcode rc) { return rc == CURLE_OPERATION_TIMEDOUT; }

}  // namespace

std::string QueueIdFromReply(std::string_view text) {
  std::size_t start = std::string_view::npos;
  for (std::string_view marker : {"queued as ", "id="}) {
    std::size_t at = text.find(marker);
    if (at != std::string_view::npos) {
      start = at + marker.size();
      break;
    }
  }
  if (start == std::string_view::npos) return "";
  std::size_t end = text.find(' ', start);
  std::string_view id = text.substr(start, end == std::string_view::npos ? end : end - start);
  while (!id.empty() && (id.back() == '.' || id.back() == ')' || id.back() == '>')) {
    id.remove_suffix(1);
  }
  if (!id.empty() && id.front() == '<') id.remove_prefix(1);
  if (id.empty() || id.size() > kMaxQueueId) return "";
  for (unsigned char c : id) {
    if (c <= 0x20 || c >= 0x7F) return "";
  }
  return std::string(id);
}

DeliveryResult ClassifySmtpTransfer(CURLcode rc, std::string_view curl_error,
                                    const std::optional<SmtpReply>& last_reply,
                                    bool message_written) {
  DeliveryResult r;
  if (rc == CURLE_OK) {
    r.outcome = DeliveryOutcome::kSent;
    if (last_reply) {
      r.code = last_reply->code;
      r.enhanced_status = last_reply->enhanced_status;
      r.detail = TruncateUtf8(DescribeReply(*last_reply), kMaxDetail);
      if (last_reply->answers == SmtpCommand::kData) {
        r.provider_message_id = QueueIdFromReply(last_reply->text);
      }
    }
    return r;
  }
  r.outcome = DeliveryOutcome::kRetry;
  if (rc == CURLE_USE_SSL_FAILED) {
    r.detail = "relay did not offer STARTTLS and the configuration requires it; nothing sent";
    return r;
  }
  if (!last_reply || last_reply->code < 400) {
    // No reply refused anything: the connection, TLS or a timer failed.
    std::string why(curl_error.empty() ? curl_easy_strerror(rc) : curl_error);
    if (message_written && AwaitsFinalDataReply(last_reply) && IsSilence(rc)) {
      r.outcome = DeliveryOutcome::kMaybeSent;
      r.detail = TruncateUtf8(
          "no reply after the whole message was sent, may have been "
          "delivered: " +
              why,
          kMaxDetail);
      return r;
    }
    r.detail = TruncateUtf8("transport failure: " + why, kMaxDetail);
    return r;
  }
  r.outcome = OutcomeOfRejection(*last_reply);
  r.code = last_reply->code;
  r.enhanced_status = last_reply->enhanced_status;
  r.detail = TruncateUtf8(std::string(SmtpCommandName(last_reply->answers)) +
                              " rejected: " + DescribeReply(*last_reply),
                          kMaxDetail);
  return r;
}

}  // namespace herald::dispatch
