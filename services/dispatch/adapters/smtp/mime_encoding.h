#pragma once

#include <cstddef>
#include <string>
#include <string_view>

// The byte-level encodings an RFC 5322 message needs. Each keeps its output inside the
// limits a relay enforces (998-byte lines) and the ones RFC 2045/2047 set (76 characters).
namespace herald::dispatch {

// RFC 2047 "B" encoded-words ("=?UTF-8?B?...?=") for UTF-8 header text. Returns one or
// more encoded-words, each at most 75 characters, joined by a fold ("\r\n ") so that every
// line stays within 76 characters. A UTF-8 sequence is never split between two words,
// because decoders decode each word on its own. Every byte, CR, LF and NUL included, comes
// out as base64, so the text can never start a header line of its own.
std::string EncodeHeaderWord(std::string_view utf8);

// The same, with the first word short enough to fit `first_line_room` characters: what is
// left of the first line after "Subject: ".
std::string EncodeHeaderWords(std::string_view utf8, std::size_t first_line_room);

std::string Base64Encode(std::string_view bytes);

// RFC 2045 quoted-printable for a text body. Line breaks (CRLF, LF or a lone CR) become
// CRLF; lines are at most 76 characters (soft breaks "=" where needed); '=', control bytes,
// non-ASCII bytes and white space at a line's end are escaped. The output never contains
// "=_", which is why MIME boundaries start with it.
std::string QuotedPrintableEncode(std::string_view text);

// RFC 3986 percent-encoding of every byte outside the unreserved set and `keep`.
std::string PercentEncode(std::string_view bytes, std::string_view keep = "");

}  // namespace herald::dispatch
