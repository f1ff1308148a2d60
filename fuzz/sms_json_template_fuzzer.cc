// The JSON SMS provider's body template (configuration) and what it renders with the
// values of a message: the template must be refused with std::invalid_argument or render
// valid JSON for any values, whose quotes, newlines or "{{to}}" cannot change its shape.
//
// Input: the template, NUL, then NUL-separated to, from, body and message id.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "fuzz/fuzz_support.h"
#include "services/dispatch/adapters/sms/json_body_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using herald::dispatch::sms::JsonBodyTemplate;
  herald::fuzz::Input in(data, size);
  std::string_view text = in.Field();
  herald::dispatch::sms::TemplateFields fields;
  fields.to = in.Field();
  fields.from = in.Field();
  fields.body = in.Field();
  fields.message_id = in.Rest();
  try {
    JsonBodyTemplate tpl(text);
    std::string rendered = tpl.Render(fields);
    HERALD_FUZZ_CHECK(nlohmann::json::accept(rendered));
  } catch (const std::invalid_argument&) {
    // A template refused at start-up, as documented.
  }
  return 0;
}
