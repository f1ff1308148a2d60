#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herald::dispatch::sms {

struct TemplateFields {
  std::string_view to;
  std::string_view from;
  std::string_view body;
  std::string_view message_id;
};

// A provider's request body: JSON text with "{{to}}", "{{from}}", "{{body}}" and
// "{{message_id}}" inside its string literals, e.g. {"to":"{{to}}","text":"{{body}}"}.
// Values are substituted JSON-escaped (without quotes) in one pass, so a body containing
// quotes, newlines or "{{to}}" cannot change the document's shape.
class JsonBodyTemplate {
 public:
  // Throws std::invalid_argument("body_template: ...") on an unknown or unterminated
  // placeholder, a missing {{to}} or {{body}}, or text that is not JSON once sample values
  // are substituted (which also catches a placeholder outside quotes).
  explicit JsonBodyTemplate(std::string_view text);

  std::string Render(const TemplateFields& fields) const;

 private:
  enum class Field { kNone, kTo, kFrom, kBody, kMessageId };
  struct Piece {
    std::string literal;  // copied before the field
    Field field = Field::kNone;
  };
  std::vector<Piece> pieces_;
};

}  // namespace herald::dispatch::sms
