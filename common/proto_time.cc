#include "common/proto_time.h"

namespace herald {

bool IsRequestTime(int64_t seconds, int32_t nanos) {
  return seconds >= 0 && seconds <= kLatestUnixSeconds && nanos >= 0 && nanos <= 999999999;
}

std::optional<Timestamp> FromProtoTimestamp(const google::protobuf::Timestamp& t) {
  if (!IsRequestTime(t.seconds(), t.nanos())) return std::nullopt;
  return FromUnixMicros(t.seconds() * 1000000 + t.nanos() / 1000);
}

void SetTimestamp(google::protobuf::Timestamp* out, Timestamp t) {
  int64_t us = ToUnixMicros(t);
  // Floor division: nanos must stay non-negative for times before the epoch.
  int64_t secs = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
  out->set_seconds(secs);
  out->set_nanos(static_cast<int32_t>((us - secs * 1000000) * 1000));
}

void SetTimestamp(google::protobuf::Timestamp* out, const std::string& pg_text) {
  SetTimestamp(out, ParseTimestamp(pg_text));
}

}  // namespace herald
