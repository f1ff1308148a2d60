#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

// Small, independent readers for what RenderMime writes, so the tests do not check the
// encoder with itself.
namespace herald::dispatch::smtp_test {

// Physical lines of `text` split on CRLF; a bare CR or LF stays inside a line.
std::vector<std::string> CrlfLines(std::string_view text);

// The header block (up to the first empty line) as (name, unfolded value) pairs.
std::vector<std::pair<std::string, std::string>> Headers(std::string_view message);
// The one value of header `name`; fails the test when it is missing or repeated.
std::string HeaderValue(std::string_view message, std::string_view name);
// What follows the first empty line.
std::string Body(std::string_view message);

std::string Base64Decode(std::string_view b64);
// RFC 2047 decoding of UTF-8 "B" words; white space between two words is dropped.
std::string DecodeEncodedWords(std::string_view value);
// Each encoded-word of a header value, as written.
std::vector<std::string> EncodedWords(std::string_view value);
// RFC 2045 quoted-printable decoding; hard line breaks come back as "\n".
std::string QpDecode(std::string_view qp);
std::string PercentDecode(std::string_view s);
bool IsValidUtf8(std::string_view s);

}  // namespace herald::dispatch::smtp_test
