#pragma once

#include <string_view>

namespace herald::dispatch::sms {

// Decodes the code point at `pos` into `cp` and advances `pos` past it. On a malformed
// sequence (bad lead byte, truncation, overlong form, encoded surrogate, beyond U+10FFFF)
// returns false and advances one byte, so a caller can substitute U+FFFD and go on.
// Requires pos < text.size().
bool DecodeUtf8(std::string_view text, size_t& pos, char32_t& cp);

}  // namespace herald::dispatch::sms
