#pragma once

#include <string>
#include <vector>

#include "services/heraldctl/command.h"

namespace herald::ctl {

// `heraldctl inbound-mail [--url URL] [--secret-file FILE] [--timeout SECONDS] < message.eml`:
// a Postfix pipe transport. Posts the message on standard input to heraldd's
// POST /hooks/email/inbound and exits with a sysexits code Postfix understands:
// 0 taken, 65 (EX_DATAERR) refused as not a message or too large (Postfix bounces it),
// 75 (EX_TEMPFAIL) service unreachable, 5xx, 429 or the secret refused (Postfix keeps the
// mail queued and retries), 64 (EX_USAGE) a bad command line, 74 (EX_IOERR) stdin unreadable.
int RunInboundMail(const std::vector<std::string>& args);

// The usage text of the command.
std::string InboundMailUsage();

// RunInboundMail as a command: it reads its own arguments, since its reader is Postfix.
Command InboundMailCommand();

}  // namespace herald::ctl
