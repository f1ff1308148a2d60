#pragma once

#include <curl/curl.h>

#include <optional>
#include <string>
#include <string_view>

#include "services/dispatch/adapters/delivery.h"
#include "services/dispatch/adapters/smtp/smtp_transcript.h"

namespace herald::dispatch {

// What one SMTP transaction means for the message, from libcurl's result, its error text
// and the last server reply (see SmtpTranscript).
//
//   transfer ok (final 250)                      -> kSent, queue id from "queued as X"/"id=X"
//   4xx anywhere                                 -> kRetry
//   RCPT 5xx with enhanced 5.1.x (not .7/.8)     -> kSuppress: the mailbox does not exist
//   RCPT 5xx otherwise, DATA 5xx                 -> kFailed: this message will never go
//   MAIL 5xx                                     -> kFailed, except 530/534/535/538 -> kRetry
//   reply to greeting/EHLO/STARTTLS/AUTH >= 400  -> kRetry (relay, not message, problem)
//   STARTTLS required but not offered            -> kRetry, code 0
//   no final reply to DATA within the timeout
//     although the whole message and its "."
//     were written                               -> kMaybeSent, code 0: the relay may have
//                                                   queued it, so it is not sent again
//   the connection closed or reset instead       -> kRetry: no 250, no responsibility taken
//   no error reply (connect, TLS, timeout, EOF)  -> kRetry, code 0
//
// Relay-side failures (authentication refused, TLS not offered, bad greeting) are kRetry
// although retrying cannot fix them by itself: they are configuration faults that hit every
// message alike, and failing the messages would lose them, while retrying keeps them until
// an operator fixes the relay (the growing retry queue is the alarm).
//
// `message_written`: libcurl wrote the whole body, so that what follows is the "." ending
// DATA and the wait for its reply. Everything before (connect, EHLO, MAIL, RCPT, the 354,
// the body itself) cannot have delivered the message, and stays kRetry.
DeliveryResult ClassifySmtpTransfer(CURLcode rc, std::string_view curl_error,
                                    const std::optional<SmtpReply>& last_reply,
                                    bool message_written);

// The relay's queue id from a final 250 text ("2.0.0 Ok: queued as 4Bw..." from Postfix,
// "OK id=1tH2e3-..." from Exim); empty when the text names none.
std::string QueueIdFromReply(std::string_view text);

}  // namespace herald::dispatch
