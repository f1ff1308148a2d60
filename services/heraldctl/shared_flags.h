// Flags several services' commands declare the same way.
#pragma once

#include <vector>

#include "services/heraldctl/flags.h"

namespace herald::ctl {

inline const FlagSpec kSubjectIdFlag{"subject-id", "ID", "the subject's id (UUID)"};
inline const FlagSpec kIdempotencyFlag{"idempotency-key", "K",
                                       "a repeat with the same key returns the first answer"};
inline const std::vector<FlagSpec> kPagingFlags = {
    {"page-size", "N", "results per page (default 50, max 500)"},
    {"page-token", "T", "the 'next page' token of the last call"}};

}  // namespace herald::ctl
