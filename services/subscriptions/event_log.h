#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "common/clock.h"
#include "common/db/connection.h"

namespace herald::subscriptions {

// One entry of the append-only trail. `details` holds non-personal facts; `personal` goes to
// the side table (event_personal) that destruction empties without touching the event.
struct EventRecord {
  std::optional<std::string> subject_id;
  std::optional<std::string> address_key;  // raw keyed hash, for events about an address
  std::string type;
  std::string actor;
  int source = 0;
  Timestamp occurred_at;
  Timestamp recorded_at;
  nlohmann::json details = nlohmann::json::object();
  nlohmann::json personal = nlohmann::json::object();
};

// Returns the new event's id.
int64_t AppendEvent(db::Connection& conn, pqxx::transaction_base& txn, const EventRecord& e);

}  // namespace herald::subscriptions
