// `heraldctl privacy destroy|depersonalize|export|act|records`: the erasure half of
// herald.v1.PrivacyService (issue 5, part 2).
#pragma once

#include <string>
#include <vector>

#include "services/heraldctl/privacy_call.h"

namespace herald::ctl {

// destroy, depersonalize, export, act, records: run by RunPrivacy with the other half.
std::vector<privacy_cli::Sub> PrivacyErasureSubcommands();

}  // namespace herald::ctl
