#pragma once

#include <string>

#include "common/domain/enums.h"
#include "common/domain/topics.h"

namespace herald::validation {

// Request checks shared by every service's operations. Each throws InvalidArgument naming
// the field (never echoing its value) and is called before anything is written.

// Valid UTF-8, no control characters (CR, LF, NUL, ...), at most max_chars code points.
void CheckText(const std::string& field, const std::string& value, size_t max_chars);
// Returns the UUID lower-cased; empty or malformed is an error.
std::string RequireUuid(const std::string& field, const std::string& value);
Channel RequireChannel(const std::string& field, int value);
const TopicInfo& RequireTopic(const TopicCatalog& topics, const std::string& field,
                              const std::string& name);
// ISO 3166-1 alpha-2 upper-cased, or empty.
std::string CheckCountry(const std::string& field, const std::string& value);
// A BCP 47 language tag such as "az", "ru-RU" or "en_GB"; empty is an error (callers for whom
// the locale is optional check only a non-empty one).
void CheckLocale(const std::string& field, const std::string& value);

// Pagination: page_size 0 means 50; at most 500. Tokens are opaque (hex of the last key).
int PageSize(int requested);
std::string EncodePageToken(const std::string& last_key);
std::string DecodePageToken(const std::string& token);

}  // namespace herald::validation
