#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace herald::web {

// Limits on what a client may send before its request is complete (http.* knobs).
struct HeadLimits {
  size_t max_request_line_bytes = 8192;  // method, URI and version: over it, 414
  size_t max_header_bytes = 16 * 1024;   // request line and headers together: over it, 431
  size_t max_headers = 100;              // header fields: over it, 431
};

// What the connection front needs from a request head to frame the request; httplib parses
// the head again for routing.
struct RequestHead {
  size_t head_bytes = 0;  // up to and including the empty line
  std::string method;
  std::string path;  // the request target without its query
  std::string version;
  size_t content_length = 0;
  bool expect_continue = false;
  bool close = false;  // Connection: close, or HTTP/1.0 without keep-alive
  std::string forwarded_for;
};

// The outcome of looking at the bytes received so far.
struct HeadScan {
  enum class Kind { kIncomplete, kComplete, kRefused };
  Kind kind = Kind::kIncomplete;
  RequestHead head;    // kComplete
  int status = 0;      // kRefused: 400, 411, 414, 415, 431 or 505
  std::string reason;  // kRefused: what a client can act on, never the request's content
};

// Finds the end of the head in the bytes received so far and checks every limit as soon as
// it can be checked, so a client that sends a huge head is refused once it has crossed the
// limit, not when it stops. Lines end in CRLF or LF. Refused too: a Transfer-Encoding (a
// body must come with Content-Length, which rules out request smuggling and lets the front
// check a route's body limit before reading it), a malformed or repeated-and-different
// Content-Length, a Content-Encoding (inflating would escape the body limit), obsolete
// line folding, and a version other than HTTP/1.0 or 1.1.
// Incremental: `scanned` carries the position between calls for the same request (start
// it at 0), so each byte is looked at once.
HeadScan ScanRequestHead(std::string_view received, const HeadLimits& limits, size_t* scanned);

}  // namespace herald::web
