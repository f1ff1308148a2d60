#pragma once

#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/db/connection.h"
#include "common/domain/enums.h"
#include "services/subscriptions/gate/fair_sending.h"

namespace herald::subscriptions {

// The owner of frequency_slots: the marketing messages each subject was sent per channel (and
// per capped topic) inside the caps' rolling windows (docs/fair-sending.md).

// One message that needs a slot: its subject, channel and topic. Which caps apply comes from
// the settings (the channel's, the topic's, or both).
struct SlotNeed {
  std::string subject_id;
  Channel channel = Channel::kEmail;
  std::string topic;
};

// Whether each subject would be over a cap now (reads only; CheckEligibility's answer).
std::vector<bool> OverFrequencyCap(db::Connection& conn, pqxx::transaction_base& txn,
                                   const FairSendingSettings& caps,
                                   const std::vector<SlotNeed>& needs, Timestamp now);

// Takes one slot per need, in the claiming transaction: per cap, one conditional upsert
// ("… WHERE the slots inside the window < cap"), so of two workers racing for a subject's last
// slot the second, after the first commits, finds none. A need over any of its caps gets
// false and holds no slot (a topic slot it took is given back). Several needs of one subject
// in one batch take slots in their order.
std::vector<bool> TakeFrequencySlots(db::Connection& conn, pqxx::transaction_base& txn,
                                     const FairSendingSettings& caps,
                                     const std::vector<SlotNeed>& needs, Timestamp now);

}  // namespace herald::subscriptions
