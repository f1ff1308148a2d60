#include "common/db/connection.h"

namespace herald::db {

Connection::Connection(const std::string& dsn, StatementObserver observer)
    : conn_(dsn), observer_(std::move(observer)) {
  // Timestamps are exchanged as UTC text; see common/clock.h.
  pqxx::nontransaction(conn_).exec("SET TIME ZONE 'UTC'");
}

}  // namespace herald::db
