#include "common/validation/uuid.h"

#include <stdexcept>

#include "common/crypto/hash.h"

namespace herald::validation {
namespace {

constexpr size_t kUuidChars = 36;
constexpr size_t kUuidBytes = 16;

bool IsDashAt(size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }

}  // namespace

std::optional<std::string> UuidToBytes(std::string_view text) {
  if (text.size() != kUuidChars) return std::nullopt;
  std::string out;
  out.reserve(kUuidBytes);
  int high = -1;
  for (size_t i = 0; i < text.size(); ++i) {
    if (IsDashAt(i)) {
      if (text[i] != '-') return std::nullopt;
      continue;
    }
    int v = crypto::HexDigitValue(text[i]);
    if (v < 0) return std::nullopt;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>(high * 16 + v));
      high = -1;
    }
  }
  return out;
}

bool IsUuid(std::string_view text) { return UuidToBytes(text).has_value(); }

std::string UuidFromBytes(std::string_view bytes) {
  if (bytes.size() != kUuidBytes) throw std::invalid_argument("a UUID has 16 bytes");
  const std::string hex = crypto::ToHex(bytes);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

}  // namespace herald::validation
