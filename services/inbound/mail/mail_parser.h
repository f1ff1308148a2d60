#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::inbound {

// One per-recipient block of a delivery status notification (RFC 3464 §2.3).
struct DsnRecipient {
  std::string action;           // failed, delayed, delivered, relayed, expanded (lower case)
  std::string status;           // "5.1.1": the class.subject.detail part only
  std::string final_recipient;  // the address part of Final-Recipient (personal)
};

// What Herald needs from an inbound message, read with GMime. Personal values (from,
// recipients) are kept in memory only; nothing here is logged.
struct ParsedMail {
  enum class Kind { kPlain, kDeliveryStatus, kFeedbackReport };
  Kind kind = Kind::kPlain;
  std::string message_id;  // without angle brackets; empty when absent
  std::string from;        // the first mailbox of From; empty when none
  std::string subject;     // decoded (RFC 2047, any charset) to UTF-8, unfolded

  // DSN and ARF: references to the original message (ours when we sent it).
  std::string original_message_id;         // Message-ID of the returned original
  std::string original_herald_message_id;  // X-Herald-Message-Id of the returned original
  std::string original_envelope_id;        // DSN Original-Envelope-Id
  std::string original_return_path;        // Return-Path of the returned original
  // Where report tokens (common/crypto/report_tag.h) may be found besides the above: the
  // report's own envelope recipient as the MTA recorded it (Delivered-To, X-Original-To)
  // and its To (a bounce is addressed to our VERP return path), and ARF's Original-Mail-From.
  // Raw header text, in that order; never trusted by themselves.
  std::vector<std::string> envelope_recipients;
  std::string original_mail_from;

  std::vector<DsnRecipient> dsn_recipients;

  // ARF (RFC 5965 §3.1)
  std::string feedback_type;     // abuse, fraud, virus, other, not-spam ... (lower case)
  std::string original_rcpt_to;  // address part of Original-Rcpt-To (personal)

  // For plain-text bounces (services/inbound/mail/plain_bounce.h); the texts only when the
  // message is not a report. Personal (they quote addresses): never logged.
  std::string return_path;                // Return-Path as the MTA added it; "<>": null sender
  bool failed_recipients_header = false;  // Exim's X-Failed-Recipients is present
  // In-Reply-To and References, raw (a notice may refer to the message it returns).
  std::vector<std::string> references;
  // The transfer-decoded text/plain parts outside any returned message, in order (bytes of
  // their own charset: the notices are ASCII), then the returned message when attached
  // (message/rfc822, message/global, text/rfc822-headers) as text. Each at most
  // kMaxBounceText bytes.
  std::string body_text;
  std::string attached_original;
};

inline constexpr size_t kMaxBounceText = 256 * 1024;

// Parses a raw RFC 5322 message. Returns nullopt when the bytes are not a message at all
// (no header could be read). Never throws on malformed input.
std::optional<ParsedMail> ParseMail(std::string_view raw);

}  // namespace herald::inbound
