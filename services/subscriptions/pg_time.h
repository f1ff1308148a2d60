#pragma once

#include <google/protobuf/timestamp.pb.h>

#include <string>

#include "common/clock.h"

namespace herald::subscriptions {

// Fills a protobuf Timestamp from PostgreSQL's timestamptz text (UTC session).
inline void SetTimestamp(google::protobuf::Timestamp* out, const std::string& pg_text) {
  int64_t us = ToUnixMicros(ParseTimestamp(pg_text));
  int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
  out->set_seconds(secs);
  out->set_nanos(static_cast<int32_t>((us - secs * 1000000) * 1000));
}

}  // namespace herald::subscriptions
