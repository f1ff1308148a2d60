#include "services/web/json_api/json_codec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <cctype>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <vector>

namespace herald::web::json_api {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using Json = nlohmann::json;

// Far deeper than any request message nests; bounds the walk's recursion.
constexpr int kMaxDepth = 24;

struct Rejected {
  FieldProblem problem;
};

[[noreturn]] void Fail(std::string field, std::string description) {
  throw Rejected{{std::move(field), std::move(description)}};
}

// A key is named back only when it looks like a field name: a client may put anything in a
// key, personal data included.
bool Showable(const std::string& key) {
  if (key.empty() || key.size() > 64) return false;
  for (unsigned char c : key) {
    if (!std::isalnum(c) && c != '_') return false;
  }
  return true;
}

std::string Join(const std::string& path, const std::string& name) {
  return path.empty() ? name : path + "." + name;
}

std::string Indexed(const std::string& path, size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

struct IntRange {
  int64_t min;
  uint64_t max;
  bool wide;
};

IntRange RangeOf(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(), false};
    case FieldDescriptor::CPPTYPE_UINT32:
      return {0, std::numeric_limits<uint32_t>::max(), false};
    case FieldDescriptor::CPPTYPE_INT64:
      return {std::numeric_limits<int64_t>::min(),
              static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), true};
    default:
      return {0, std::numeric_limits<uint64_t>::max(), true};
  }
}

void CheckInteger(const Json& v, const FieldDescriptor* f, const std::string& path) {
  IntRange r = RangeOf(f);
  std::string expected = "expected a whole number from " + std::to_string(r.min) + " to " +
                         std::to_string(r.max) +
                         (r.wide ? " (a JSON number or a decimal string)" : "");
  bool negative = false;
  uint64_t magnitude = 0;
  if (v.is_number_unsigned()) {
    magnitude = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    negative = i < 0;
    magnitude = negative ? static_cast<uint64_t>(-(i + 1)) + 1 : static_cast<uint64_t>(i);
  } else if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    std::string_view digits = s;
    if (!digits.empty() && digits.front() == '-') {
      negative = true;
      digits.remove_prefix(1);
    }
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      Fail(path, expected);
    }
  } else {
    Fail(path, expected);
  }
  bool fits = negative ? (r.min < 0 && magnitude <= static_cast<uint64_t>(-(r.min + 1)) + 1)
                       : magnitude <= r.max;
  if (!fits) Fail(path, expected);
}

void CheckFloat(const Json& v, const FieldDescriptor* f, const std::string& path) {
  const char* expected = "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")";
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s != "NaN" && s != "Infinity" && s != "-Infinity") Fail(path, expected);
    return;
  }
  if (!v.is_number()) Fail(path, expected);
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT &&
      std::fabs(v.get<double>()) > static_cast<double>(FLT_MAX)) {
    Fail(path, "expected a number within the range of a 32-bit float");
  }
}

void CheckEnum(const Json& v, const FieldDescriptor* f, const std::string& path) {
  const auto* e = f->enum_type();
  if (v.is_string() && e->FindValueByName(v.get_ref<const std::string&>())) return;
  std::string names;
  for (int i = 0; i < e->value_count(); ++i) {
    names += (i ? ", " : "") + e->value(i)->name();
  }
  Fail(path, "expected the name of a value: " + names);
}

void CheckBase64(const Json& v, const std::string& path) {
  const char* expected = "expected base64 text";
  if (!v.is_string()) Fail(path, expected);
  for (unsigned char c : v.get_ref<const std::string&>()) {
    if (!std::isalnum(c) && c != '+' && c != '/' && c != '-' && c != '_' && c != '=') {
      Fail(path, expected);
    }
  }
}

void CheckObject(const Json& object, const Descriptor* d, const std::string& path, int depth);

void CheckMessage(const Json& v, const Descriptor* d, const std::string& path, int depth) {
  const std::string& type = d->full_name();
  if (type == "google.protobuf.Timestamp") {
    google::protobuf::Timestamp ignored;
    if (!v.is_string() ||
        !google::protobuf::util::TimeUtil::FromString(v.get_ref<const std::string&>(), &ignored)) {
      Fail(path, "expected an RFC 3339 timestamp such as \"2026-12-01T10:00:00Z\"");
    }
    return;
  }
  if (type == "google.protobuf.Duration") {
    google::protobuf::Duration ignored;
    if (!v.is_string() ||
        !google::protobuf::util::TimeUtil::FromString(v.get_ref<const std::string&>(), &ignored)) {
      Fail(path, "expected a duration in seconds such as \"1.5s\"");
    }
    return;
  }
  if (type.rfind("google.protobuf.", 0) == 0 && type != "google.protobuf.Empty") {
    return;  // Struct, Value, wrappers, Any: protobuf's own parser checks them
  }
  if (!v.is_object()) Fail(path, "expected an object");
  CheckObject(v, d, path, depth + 1);
}

void CheckValue(const Json& v, const FieldDescriptor* f, const std::string& path, int depth) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      if (!v.is_boolean()) Fail(path, "expected true or false");
      return;
    case FieldDescriptor::CPPTYPE_STRING:
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        CheckBase64(v, path);
      } else if (!v.is_string()) {
        Fail(path, "expected a string");
      }
      return;
    case FieldDescriptor::CPPTYPE_ENUM:
      if (f->enum_type()->full_name() == "google.protobuf.NullValue") return;
      CheckEnum(v, f, path);
      return;
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT64:
      CheckInteger(v, f, path);
      return;
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE:
      CheckFloat(v, f, path);
      return;
    case FieldDescriptor::CPPTYPE_MESSAGE:
      CheckMessage(v, f->message_type(), path, depth);
      return;
  }
}

void CheckField(const Json& v, const FieldDescriptor* f, const std::string& path, int depth) {
  if (v.is_null()) return;  // the field's default
  if (f->is_map()) {
    if (!v.is_object()) Fail(path, "expected an object (a map)");
    const auto* key = f->message_type()->map_key();
    const auto* value = f->message_type()->map_value();
    for (const auto& [k, item] : v.items()) {
      if (key->cpp_type() != FieldDescriptor::CPPTYPE_STRING) CheckValue(Json(k), key, path, depth);
      if (item.is_null()) Fail(path, "a map value may not be null");
      CheckValue(item, value, path, depth);
    }
    return;
  }
  if (f->is_repeated()) {
    if (!v.is_array()) Fail(path, "expected an array");
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i].is_null()) Fail(Indexed(path, i), "an array element may not be null");
      CheckValue(v[i], f, Indexed(path, i), depth);
    }
    return;
  }
  CheckValue(v, f, path, depth);
}

void CheckObject(const Json& object, const Descriptor* d, const std::string& path, int depth) {
  if (depth > kMaxDepth) Fail(path, "nested too deeply");
  std::set<const google::protobuf::OneofDescriptor*> oneofs;
  for (const auto& [key, value] : object.items()) {
    const FieldDescriptor* f = d->FindFieldByName(key);
    if (!f) {
      if (!Showable(key)) Fail(path, "an unknown field (its name is not shown: not a field name)");
      const FieldDescriptor* camel = d->FindFieldByCamelcaseName(key);
      if (camel) {
        Fail(Join(path, key),
             "unknown field; field names are written as in the .proto: \"" + camel->name() + "\"");
      }
      Fail(Join(path, key), "unknown field");
    }
    const auto* oneof = f->real_containing_oneof();
    if (oneof && !value.is_null() && !oneofs.insert(oneof).second) {
      std::string members;
      for (int i = 0; i < oneof->field_count(); ++i) {
        members += (i ? ", " : "") + oneof->field(i)->name();
      }
      Fail(Join(path, oneof->name()), "set only one of " + members);
    }
    CheckField(value, f, Join(path, key), depth);
  }
}

// nlohmann keeps the last of two equal keys; a request that says a thing twice is refused
// instead ("granted": false, "granted": true must not mean whichever came last).
Json ParseWithoutDuplicateKeys(std::string_view body) {
  std::vector<std::set<std::string>> keys;
  Json::parser_callback_t callback = [&keys](int depth, Json::parse_event_t event, Json& parsed) {
    if (depth > kMaxDepth) Fail("", "nested too deeply");
    switch (event) {
      case Json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case Json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (!keys.back().insert(key).second) {
          Fail(Showable(key) ? key : "", "the same key appears twice in one object");
        }
        break;
      }
      case Json::parse_event_t::object_end:
        keys.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(body.begin(), body.end(), callback);
  } catch (const Json::parse_error& e) {
    // nlohmann's message quotes the text it last read: name only the position.
    Fail("", "malformed JSON at byte " + std::to_string(e.byte));
  }
}

}  // namespace

std::optional<FieldProblem> ParseRequest(std::string_view body, google::protobuf::Message& out) {
  try {
    Json parsed = ParseWithoutDuplicateKeys(body);
    if (!parsed.is_object()) Fail("", "expected a JSON object");
    CheckObject(parsed, out.GetDescriptor(), "", 0);
  } catch (const Rejected& r) {
    return r.problem;
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), &out, options);
  // The checks above accept only what this parser takes; its own message would quote
  // values, so it is never passed on.
  if (!status.ok()) {
    return FieldProblem{"", "the body does not fit " + out.GetDescriptor()->name()};
  }
  return std::nullopt;
}

std::string PrintAnswer(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  options.preserve_proto_field_names = true;
  std::string out;
  auto status = google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) throw std::runtime_error("an answer could not be printed as JSON");
  return out;
}

}  // namespace herald::web::json_api
