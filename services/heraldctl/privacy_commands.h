// `heraldctl privacy ...`: the operator's side of herald.v1.PrivacyService.
#pragma once

#include <string>
#include <vector>

#include "services/heraldctl/flags.h"

namespace herald::ctl {

// Runs `privacy <subcommand> [flags]`: args[index] is the subcommand. `global` holds the
// global flags already parsed before "privacy"; `global_specs` declares them so they are
// accepted after the subcommand too. Returns the exit status (0, 1 failed call, 2 usage).
int RunPrivacy(const std::vector<std::string>& args, size_t index, Flags global,
               const std::vector<FlagSpec>& global_specs);

// One line for heraldctl's command list.
inline constexpr char kPrivacySummary[] =
    "Data-subject requests: due, requests, request, open, complete, block, unblock, rectify, "
    "revoke, destroy, depersonalize, export, act, records.";

}  // namespace herald::ctl
