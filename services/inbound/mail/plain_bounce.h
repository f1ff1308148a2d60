#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "services/inbound/mail/mail_parser.h"

namespace herald::inbound {

// Bounces written as plain text, by the MTAs that do not send multipart/report (RFC 3464):
// qmail, Exim's older notices, Postfix's and sendmail's non-report variants, Microsoft
// Exchange's NDR text, Gmail's and Yahoo's plain notices, and any other MAILER-DAEMON text
// that quotes an SMTP reply with an enhanced status code. Only the wording of the notice is
// read here; which message it is about is decided elsewhere, by a report token whose tag
// verifies (services/inbound/mail/inbound_mail_service.cc): an address in the text never
// names anything.
enum class BounceClass {
  kPermanent,  // 5.x.x, or the notice says the delivery failed for good
  kTemporary,  // 4.x.x, a delay warning, or a failure the MTA gave up on after retrying
};

struct PlainBounce {
  // "qmail", "exim", "postfix", "sendmail", "exchange", "gmail", "yahoo" or "other" (a
  // notice from a mail delivery system in no known wording, quoting an enhanced status
  // code): fixed names, for the log.
  const char* format = "";
  BounceClass bounce_class = BounceClass::kPermanent;
  // "5.1.1" as the notice quotes it in an SMTP reply; "5.0.0" or "4.0.0" when it quotes no
  // enhanced code and the class comes from a bare reply code or the wording.
  std::string status;
};

// Whether the message says it comes from a mail delivery system: its From: mailbox is
// MAILER-DAEMON or postmaster, or it carries Exim's X-Failed-Recipients. Such a message that
// is no bounce Herald can read is counted as an unrecognised bounce.
bool FromMailDeliverySystem(const ParsedMail& m);

// The bounce a plain (not multipart/report) message is, or nullopt. Only a message from a
// mail delivery system (above) or with a null Return-Path (<>) can be one: a person quoting
// a notice in a reply is not a bounce. Reads ParsedMail::body_text only; never throws.
std::optional<PlainBounce> RecognisePlainBounce(const ParsedMail& m);

// The part of a plain bounce's text before the copy of the returned message ("--- Below
// this line is a copy of the message.", "------ This is a copy of the message ...",
// "----- Original message follows -----", "Original message headers:" ...): the notice
// itself, where the wording and the status are read.
std::string_view NoticeOf(std::string_view body_text);

}  // namespace herald::inbound
