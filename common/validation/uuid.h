#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace herald::validation {

// The one reading of a UUID's text form: "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", hex digits
// in either case, nothing around it.
bool IsUuid(std::string_view text);
// The 16 raw bytes of a UUID's text form; nullopt when `text` is not one.
std::optional<std::string> UuidToBytes(std::string_view text);
// 16 raw bytes -> the lower-case text form. Throws std::invalid_argument on another length.
std::string UuidFromBytes(std::string_view bytes);

}  // namespace herald::validation
