// `heraldctl privacy destroy|depersonalize|export|act|records`: the erasure half of
// herald.v1.PrivacyService; privacy_commands.cc adds them to the `privacy` group.
#pragma once

#include <vector>

#include "services/heraldctl/command.h"

namespace herald::ctl {

// destroy, depersonalize, export, act, records.
std::vector<Command> PrivacyErasureSubcommands();

}  // namespace herald::ctl
