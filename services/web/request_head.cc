#include "services/web/request_head.h"

#include <strings.h>

#include <cstring>
#include <vector>

namespace herald::web {
namespace {

HeadScan Refuse(int status, std::string reason) {
  HeadScan s;
  s.kind = HeadScan::Kind::kRefused;
  s.status = status;
  s.reason = std::move(reason);
  return s;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

bool Iequals(std::string_view a, const char* b) {
  return a.size() == strlen(b) && strncasecmp(a.data(), b, a.size()) == 0;
}

bool HasToken(std::string_view value, const char* token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    if (Iequals(Trim(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool ParseLength(std::string_view v, size_t* out) {
  if (v.empty() || v.size() > 18) return false;
  size_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<size_t>(c - '0');
  }
  *out = n;
  return true;
}

HeadScan Parse(std::string_view head, const HeadLimits& limits) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    auto nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;
    lines.push_back(line);
    head.remove_prefix(nl + 1);
  }
  if (lines.empty()) return Refuse(400, "request line missing");
  if (lines.size() - 1 > limits.max_headers) {
    return Refuse(431, "more than " + std::to_string(limits.max_headers) + " header fields");
  }
  HeadScan s;
  RequestHead& h = s.head;
  std::string_view rl = lines[0];
  auto sp1 = rl.find(' ');
  auto sp2 = rl.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return Refuse(400, "malformed request line");
  h.method = std::string(rl.substr(0, sp1));
  std::string_view target = rl.substr(sp1 + 1, sp2 - sp1 - 1);
  h.version = std::string(rl.substr(sp2 + 1));
  if (h.method.empty() || target.empty() || target.find(' ') != std::string_view::npos) {
    return Refuse(400, "malformed request line");
  }
  if (h.version != "HTTP/1.1" && h.version != "HTTP/1.0") {
    return Refuse(505, "only HTTP/1.0 and HTTP/1.1 are served");
  }
  h.path = std::string(target.substr(0, target.find('?')));
  bool keep_alive = false, close = false, has_length = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.front() == ' ' || line.front() == '\t') {
      return Refuse(400, "obsolete header line folding is not accepted");
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Refuse(400, "malformed header line");
    std::string_view name = line.substr(0, colon);
    if (name.back() == ' ' || name.back() == '\t') return Refuse(400, "malformed header line");
    std::string_view value = Trim(line.substr(colon + 1));
    if (Iequals(name, "Content-Length")) {
      size_t n = 0;
      if (!ParseLength(value, &n)) return Refuse(400, "Content-Length: not a number");
      if (has_length && n != h.content_length) {
        return Refuse(400, "Content-Length: repeated with different values");
      }
      has_length = true;
      h.content_length = n;
    } else if (Iequals(name, "Transfer-Encoding")) {
      return Refuse(411, "Transfer-Encoding is not accepted; send the body with Content-Length");
    } else if (Iequals(name, "Content-Encoding")) {
      // A compressed body would escape the body limit once httplib inflates it.
      if (!Iequals(value, "identity")) {
        return Refuse(415, "Content-Encoding is not accepted; send the body uncompressed");
      }
    } else if (Iequals(name, "Connection")) {
      keep_alive = keep_alive || HasToken(value, "keep-alive");
      close = close || HasToken(value, "close");
    } else if (Iequals(name, "Expect")) {
      h.expect_continue = Iequals(value, "100-continue");
    } else if (Iequals(name, "X-Forwarded-For")) {
      // Repeated fields are one list (RFC 9110 5.3), as the client-IP walk reads them.
      h.forwarded_for =
          h.forwarded_for.empty() ? std::string(value) : h.forwarded_for + "," + std::string(value);
    }
  }
  h.close = close || (h.version == "HTTP/1.0" && !keep_alive);
  s.kind = HeadScan::Kind::kComplete;
  return s;
}

}  // namespace

HeadScan ScanRequestHead(std::string_view received, const HeadLimits& limits, size_t* scanned) {
  // A client's stray CRLF between requests is allowed before the request line (RFC 9112 2.2).
  size_t start = 0;
  while (start < received.size() && (received[start] == '\r' || received[start] == '\n')) {
    ++start;
  }
  if (*scanned < start) *scanned = start;
  std::string_view r = received.substr(start);
  size_t pos = *scanned - start;
  const size_t line_end = r.find('\n');
  const size_t request_line = line_end == std::string_view::npos ? r.size() : line_end;
  if (request_line > limits.max_request_line_bytes) {
    return Refuse(414, "request line longer than " + std::to_string(limits.max_request_line_bytes) +
                           " bytes");
  }
  // The head ends at the first empty line: "\n\n" or "\n\r\n". Resume a byte or two before
  // where the last call stopped, in case the terminator was split across reads.
  size_t from = pos >= 2 ? pos - 2 : 0;
  size_t end = std::string_view::npos;
  for (size_t i = r.find('\n', from); i != std::string_view::npos; i = r.find('\n', i + 1)) {
    if (i + 1 < r.size() && r[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (i + 2 < r.size() && r[i + 1] == '\r' && r[i + 2] == '\n') {
      end = i + 3;
      break;
    }
  }
  size_t head_size = end == std::string_view::npos ? r.size() : end;
  if (head_size > limits.max_header_bytes) {
    return Refuse(431,
                  "request head larger than " + std::to_string(limits.max_header_bytes) + " bytes");
  }
  if (end == std::string_view::npos) {
    *scanned = received.size();
    return HeadScan{};
  }
  HeadScan s = Parse(r.substr(0, end), limits);
  s.head.head_bytes = start + end;
  return s;
}

}  // namespace herald::web
