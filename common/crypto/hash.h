#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::crypto {

// Raw 32-byte digests.
std::string Sha256(std::string_view data);
std::string HmacSha256(std::string_view key, std::string_view data);

std::string ToHex(std::string_view bytes);
// Throws std::invalid_argument on odd length or a non-hex digit.
std::string FromHex(std::string_view hex);
// 0..15 for a hex digit in either case, -1 for anything else.
int HexDigitValue(char c);

// Constant-time comparison of two byte strings.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace herald::crypto
