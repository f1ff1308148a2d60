// `heraldctl` commands of herald.v1.SubscriptionService.
#pragma once

#include <vector>

#include "herald/v1/subscriptions.pb.h"
#include "services/heraldctl/command.h"

namespace herald::ctl {

// upsert-subject, get-subject, find-subjects, record-consent, set-preferences,
// get-preferences, opt-out, check, check-batch, events, topics.
std::vector<Command> SubscriptionCommands();

// --subject-id and/or --address, as the gate and the dispatch commands take a recipient.
v1::Recipient RecipientFromFlags(const Flags& f);

}  // namespace herald::ctl
