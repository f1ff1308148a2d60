#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace google::protobuf {
class Message;
}

namespace herald::web::json_api {

// What is wrong with a request body: the field path ("recipient.subject_id",
// "recipients[2].address"; empty for the body as a whole) and what was expected. Neither
// ever repeats a value from the body: these texts reach clients and logs, and bodies carry
// phone numbers and addresses.
struct FieldProblem {
  std::string field;
  std::string description;
  std::string Text() const { return field.empty() ? description : field + ": " + description; }
};

// Reads a request body into `out` by proto3's JSON mapping, strictly:
// - field names exactly as in the .proto (snake_case); an unknown name is a problem naming
//   it, so a typo such as "grantd" never becomes a default value;
// - a key twice in one object, two members of one oneof, a wrong JSON type, an enum given
//   by number or by an unknown name, an integer out of range or with a fraction, a
//   malformed timestamp: each a problem naming the field path and the expected type;
// - enums by name; 64-bit integers as a JSON number or a decimal string; timestamps RFC 3339;
//   null is the field's default.
// The checks and the reading are one walk over the descriptor, so nothing is accepted that
// is not read as written. Returns nullopt when `out` holds the request; on a problem `out`
// is left empty.
std::optional<FieldProblem> ParseRequest(std::string_view body, google::protobuf::Message& out);

// An answer as JSON: every field printed (false, 0, "" and [] included), enums by name,
// field names as in the .proto, 64-bit integers as strings (proto3's JSON mapping); nested
// messages that are not set are left out. The one printing of the JSON API.
std::string PrintAnswer(const google::protobuf::Message& message);

}  // namespace herald::web::json_api
