#pragma once

namespace herald::db {

// A named SQL statement. The name is the prepared-statement name and the key of its
// latency metric; the text binds every value as a parameter ($1, $2, ...).
struct Statement {
  const char* name;
  const char* sql;
};

}  // namespace herald::db
