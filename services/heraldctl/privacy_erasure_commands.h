// `heraldctl privacy destroy|depersonalize|export|act|records`: the erasure half of
// herald.v1.PrivacyService (issue 5, part 2).
#pragma once

#include <string>
#include <vector>

#include "services/heraldctl/flags.h"

namespace herald::ctl {

// True when args[index] names one of the erasure subcommands.
bool IsPrivacyErasureSubcommand(const std::vector<std::string>& args, size_t index);

// Runs it, as RunPrivacy does for the others. Returns 0, 1 (failed call) or 2 (usage).
int RunPrivacyErasure(const std::vector<std::string>& args, size_t index, Flags global,
                      const std::vector<FlagSpec>& global_specs);

}  // namespace herald::ctl
