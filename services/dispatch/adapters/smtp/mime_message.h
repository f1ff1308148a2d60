#pragma once

#include <string>
#include <string_view>

#include "services/dispatch/adapters/email_transport.h"
#include "services/dispatch/adapters/smtp/mime_encoding.h"  // EncodeHeaderWord, for tests

namespace herald::dispatch {

// Renders `m` as a complete RFC 5322 message with CRLF line endings, ready for SMTP DATA:
// Date, From, To, Subject, Message-ID <report_token@message_id_domain> (or
// <message_id@message_id_domain> without a token), X-Herald-Message-Id,
// MIME-Version, the RFC 2369/8058 List-Unsubscribe headers when an unsubscribe URL is set,
// and a quoted-printable UTF-8 text part (multipart/alternative with an HTML part when
// html_body is set).
//
// Free text (from_name, subject) is encoded so that no input can start a header line.
// Addresses, URLs and ids cannot be encoded, so any that could break out of their header
// (CR, LF, NUL or another control byte, space, '<', '>') are refused: throws
// std::invalid_argument naming the field, never quoting its value.
std::string RenderMime(const EmailMessage& m, std::string_view message_id_domain);

}  // namespace herald::dispatch
