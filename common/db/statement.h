#pragma once

namespace herald::db {

// A named SQL statement. The name is the prepared-statement name and the key of its
// latency metric; the text binds every value as a parameter ($1, $2, ...).
struct Statement {
  const char* name;
  const char* sql;
  // Planned on every call with its values (an unnamed statement) instead of prepared once.
  // For statements that join a parameter array to a table that grows fast from empty (a new
  // database's first campaign): a prepared statement's generic plan, chosen while the table
  // was small, kept scanning it whole for every call (a hash join over a sequential scan)
  // until the next ANALYZE, so a campaign's cost per message grew with its size. Planning
  // costs tens of microseconds a call; such statements run once per batch.
  bool plan_each_call = false;
};

}  // namespace herald::db
