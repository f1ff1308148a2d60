#include "common/validation/input_checks.h"

#include "common/crypto/hash.h"
#include "common/error.h"
#include "common/validation/uuid.h"

namespace herald::validation {
namespace {

// Returns the number of code points, or -1 for invalid UTF-8 or a control character.
long CountCodePoints(const std::string& s) {
  long count = 0;
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 0;
    if (len == 0 || i + len > s.size()) return -1;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return -1;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Overlong forms, surrogates and out-of-range values are invalid UTF-8.
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff) {
      return -1;
    }
    if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0) || cp == 0x2028 || cp == 0x2029) {
      return -1;
    }
    i += len;
    ++count;
  }
  return count;
}

}  // namespace

void CheckText(const std::string& field, const std::string& value, size_t max_chars) {
  long n = CountCodePoints(value);
  if (n < 0) throw InvalidArgument(field, "must be UTF-8 text without control characters");
  if (static_cast<size_t>(n) > max_chars) {
    throw InvalidArgument(field, "longer than " + std::to_string(max_chars) + " characters");
  }
}

std::string RequireUuid(const std::string& field, const std::string& value) {
  if (value.empty()) throw InvalidArgument(field, "required");
  if (!IsUuid(value)) throw InvalidArgument(field, "must be a UUID");
  std::string out = value;
  for (auto& c : out) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  return out;
}

Channel RequireChannel(const std::string& field, int value) {
  auto c = ChannelFromNumber(value);
  if (!c) {
    throw InvalidArgument(field, value == 0 ? "required (EMAIL, SMS or CALL)" : "unknown channel");
  }
  return *c;
}

const TopicInfo& RequireTopic(const TopicCatalog& topics, const std::string& field,
                              const std::string& name) {
  if (name.empty()) throw InvalidArgument(field, "required");
  const TopicInfo* t = topics.Find(name);
  if (!t) throw InvalidArgument(field, "unknown topic (see ListTopics)");
  return *t;
}

std::string CheckCountry(const std::string& field, const std::string& value) {
  if (value.empty()) return value;
  if (value.size() != 2 || !isalpha(static_cast<unsigned char>(value[0])) ||
      !isalpha(static_cast<unsigned char>(value[1]))) {
    throw InvalidArgument(field, "must be an ISO 3166-1 alpha-2 country code");
  }
  return {static_cast<char>(toupper(value[0])), static_cast<char>(toupper(value[1]))};
}

void CheckLocale(const std::string& field, const std::string& value) {
  bool ok = !value.empty() && value.size() <= 35;
  size_t part_len = 0, part = 0;
  for (char c : value + "-") {
    if (c == '-' || c == '_') {
      ok = ok && part_len >= (part == 0 ? 2 : 1) && part_len <= 8;
      part_len = 0;
      ++part;
    } else {
      ok = ok && isalnum(static_cast<unsigned char>(c));
      ++part_len;
    }
  }
  if (!ok) throw InvalidArgument(field, "must be a BCP 47 language tag such as az, ru or en");
}

int PageSize(int requested) {
  if (requested < 0) throw InvalidArgument("page_size", "must not be negative");
  if (requested == 0) return 50;
  return requested > 500 ? 500 : requested;
}

std::string EncodePageToken(const std::string& last_key) { return crypto::ToHex(last_key); }

std::string DecodePageToken(const std::string& token) {
  if (token.empty()) return {};
  try {
    if (token.size() > 256) throw std::invalid_argument("long");
    return crypto::FromHex(token);
  } catch (const std::invalid_argument&) {
    throw InvalidArgument("page_token", "not a token this service issued");
  }
}

}  // namespace herald::validation
