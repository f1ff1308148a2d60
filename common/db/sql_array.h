#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::db {

// libpqxx 6.4 cannot bind a std::vector: arrays travel as one PostgreSQL array literal,
// built only here. Every element is double-quoted with '"' and '\' escaped, so any text
// (commas, braces, quotes, "NULL") round-trips; std::nullopt becomes an unquoted NULL.
std::string ToArrayLiteral(const std::vector<std::string>& items);
std::string ToArrayLiteral(const std::vector<std::optional<std::string>>& items);
std::string ToArrayLiteral(const std::vector<long long>& items);

}  // namespace herald::db
