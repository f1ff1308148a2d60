// `heraldctl health`: grpc.health.v1.Health/Check, the one command that needs no API key.
#pragma once

#include "services/heraldctl/command.h"

namespace herald::ctl {

Command HealthCommand();

}  // namespace herald::ctl
