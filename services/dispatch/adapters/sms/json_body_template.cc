#include "services/dispatch/adapters/sms/json_body_template.h"

#include <nlohmann/json.hpp>
#include <stdexcept>

namespace herald::dispatch::sms {
namespace {

std::invalid_argument TemplateError(const std::string& problem) {
  return std::invalid_argument("body_template: " + problem);
}

// JSON string escaping without the surrounding quotes. Malformed UTF-8 becomes U+FFFD
// instead of an exception: the provider gets a valid request either way.
void AppendEscaped(std::string& out, std::string_view value) {
  std::string quoted =
      nlohmann::json(std::string(value))
          .dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
  out.append(quoted, 1, quoted.size() - 2);
}

}  // namespace

JsonBodyTemplate::JsonBodyTemplate(std::string_view text) {
  bool has_to = false;
  bool has_body = false;
  Piece piece;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    size_t close = text.find("}}", open + 2);
    if (close == std::string_view::npos) throw TemplateError("unterminated {{");
    std::string_view name = text.substr(open + 2, close - open - 2);
    piece.literal.append(text.substr(pos, open - pos));
    if (name == "to") {
      piece.field = Field::kTo, has_to = true;
    } else if (name == "from") {
      piece.field = Field::kFrom;
    } else if (name == "body") {
      piece.field = Field::kBody, has_body = true;
    } else if (name == "message_id") {
      piece.field = Field::kMessageId;
    } else {
      throw TemplateError("unknown placeholder {{" + std::string(name) + "}}");
    }
    pieces_.push_back(std::move(piece));
    piece = Piece{};
    pos = close + 2;
  }
  piece.literal.append(text.substr(std::min(pos, text.size())));
  pieces_.push_back(std::move(piece));
  if (!has_to) throw TemplateError("needs {{to}}");
  if (!has_body) throw TemplateError("needs {{body}}");

  // Samples hold characters that cannot stand outside a JSON string (a leading "+", quotes,
  // a newline), so a placeholder written without quotes fails here rather than in
  // production.
  std::string sample = Render({.to = "+994501234567",
                               .from = "Herald \"sender\"",
                               .body = "Salam \"ə\"\n\\ €",
                               .message_id = "00000000-0000-4000-8000-000000000000"});
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(sample);
  } catch (const nlohmann::json::parse_error& e) {
    // Only the byte offset: the parser's message quotes the input, which may hold an API key.
    throw TemplateError("not valid JSON after substitution (near byte " + std::to_string(e.byte) +
                        ")");
  } catch (const nlohmann::json::out_of_range&) {
    // A number beyond a double ("1e400"): nlohmann says so with a message quoting it.
    throw TemplateError("holds a number too large for JSON");
  }
  if (!parsed.is_object() && !parsed.is_array()) {
    throw TemplateError("must be a JSON object or array");
  }
}

std::string JsonBodyTemplate::Render(const TemplateFields& fields) const {
  std::string out;
  for (const auto& piece : pieces_) {
    out += piece.literal;
    switch (piece.field) {
      case Field::kNone:
        break;
      case Field::kTo:
        AppendEscaped(out, fields.to);
        break;
      case Field::kFrom:
        AppendEscaped(out, fields.from);
        break;
      case Field::kBody:
        AppendEscaped(out, fields.body);
        break;
      case Field::kMessageId:
        AppendEscaped(out, fields.message_id);
        break;
    }
  }
  return out;
}

}  // namespace herald::dispatch::sms
