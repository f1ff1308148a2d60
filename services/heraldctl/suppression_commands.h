// `heraldctl suppressions ...`: the suppression ring's keys, and the re-hash that lets an
// older one be retired.
#pragma once

#include "services/heraldctl/command.h"

namespace herald::ctl {

// The `suppressions` group: keys (which key ids rows use, which may be dropped) and rehash.
Command SuppressionsCommand();

}  // namespace herald::ctl
