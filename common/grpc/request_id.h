#pragma once

#include <string_view>

namespace herald {

// Whether a caller's request id (x-request-id, X-Request-Id) is used as given: 1-64 of
// [A-Za-z0-9_-], so it is safe in a log line and in metadata. Otherwise a fresh one is made
// (RpcRunner::NewRequestId). One rule for the gRPC edge and the JSON API.
bool ValidRequestId(std::string_view id);

}  // namespace herald
