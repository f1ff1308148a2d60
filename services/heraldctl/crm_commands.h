// `heraldctl crm ...`: the operator's side of herald.v1.CrmService.
#pragma once

#include "services/heraldctl/command.h"

namespace herald::ctl {

// The `crm` group: the first import from Creatio and the write-back queue's operators.
Command CrmCommand();

}  // namespace herald::ctl
