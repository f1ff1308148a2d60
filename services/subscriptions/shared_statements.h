#pragma once

#include "common/db/statement.h"

namespace herald::subscriptions {

// Statements used by more than one part of the registry.
inline constexpr db::Statement kSubjectAddressKeys{"addresses.keys_of_subject", R"sql(
  SELECT kind, match_key
  FROM addresses
  WHERE subject_id = $1::uuid
)sql"};

// The survivor a merged subject points at; '' for any other subject.
inline constexpr db::Statement kMergedInto{"subjects.merged_into", R"sql(
  SELECT coalesce(merged_into::text, '')
  FROM subjects
  WHERE id = $1::uuid
)sql"};

}  // namespace herald::subscriptions
