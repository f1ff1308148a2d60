// `heraldctl privacy ...`: the operator's side of herald.v1.PrivacyService.
#pragma once

#include "services/heraldctl/command.h"

namespace herald::ctl {

// The `privacy` group: tracked requests (privacy_commands.cc) and erasure
// (privacy_erasure_commands.cc). Every call needs an API key with the privacy scope.
Command PrivacyCommand();

}  // namespace herald::ctl
