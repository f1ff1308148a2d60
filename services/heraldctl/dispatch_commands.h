// `heraldctl` commands of the message RPCs of herald.v1.DispatchService; the campaign ones
// are in campaign_commands.h.
#pragma once

#include <vector>

#include "services/heraldctl/command.h"

namespace herald::ctl {

// send, preview, get-message, list-messages.
std::vector<Command> DispatchCommands();

}  // namespace herald::ctl
