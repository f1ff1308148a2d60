// `heraldctl campaign ...`: the campaign RPCs of herald.v1.DispatchService.
#pragma once

#include "services/heraldctl/command.h"

namespace herald::ctl {

// The `campaign` group: create, add-recipients, start, pause, resume, cancel, get, list.
Command CampaignCommand();

}  // namespace herald::ctl
