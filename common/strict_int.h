#pragma once

#include <charconv>
#include <optional>
#include <string_view>
#include <system_error>
#include <type_traits>

namespace herald {

// The integer written by the whole of `text`: decimal digits with an optional leading '-'
// (signed types only). No spaces, no '+', no trailing units ("30s"), nothing atoi or stoi
// would quietly drop; nullopt as well when the value does not fit in T. For every number an
// operator or a client writes: config values, command-line arguments, page tokens.
template <typename T>
std::optional<T> ParseStrictInt(std::string_view text) {
  static_assert(std::is_integral_v<T> && !std::is_same_v<T, bool>);
  if (text.empty()) return std::nullopt;
  T value{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

}  // namespace herald
