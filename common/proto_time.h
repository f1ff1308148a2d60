#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <cstdint>
#include <optional>
#include <string>

#include "common/clock.h"

namespace herald {

// The one conversion between google.protobuf.Timestamp and Timestamp or PostgreSQL's
// timestamptz text (read by ParseTimestamp in clock.h).

// 9999-12-31T23:59:59Z, the latest time PostgreSQL's timestamptz text and ISO 8601 both write
// with four year digits: the bound on every time a request or a token may carry.
inline constexpr int64_t kLatestUnixSeconds = 253402300799LL;

// From 1970-01-01 to kLatestUnixSeconds (9999-12-31 UTC), with nanos within a second.
bool IsRequestTime(int64_t seconds, int32_t nanos);
// nullopt when !IsRequestTime; digits below a microsecond are dropped.
std::optional<Timestamp> FromProtoTimestamp(const google::protobuf::Timestamp& t);

void SetTimestamp(google::protobuf::Timestamp* out, Timestamp t);
// PostgreSQL's timestamptz text (UTC session) into a reply field. Throws std::invalid_argument.
void SetTimestamp(google::protobuf::Timestamp* out, const std::string& pg_text);

}  // namespace herald
