#include "services/web/json_api/json_codec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/stubs/strutil.h>
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
using google::protobuf::Message;
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

// An integer field's value: a JSON number or a decimal string (proto3's JSON mapping), whole
// and within the field's range. Returned as sign and magnitude.
struct Integer {
  bool negative = false;
  uint64_t magnitude = 0;
  int64_t Signed() const {
    return negative ? static_cast<int64_t>(~magnitude + 1) : static_cast<int64_t>(magnitude);
  }
};

Integer ReadInteger(const Json& v, const FieldDescriptor* f, const std::string& path) {
  IntRange r = RangeOf(f);
  std::string expected = "expected a whole number from " + std::to_string(r.min) + " to " +
                         std::to_string(r.max) +
                         (r.wide ? " (a JSON number or a decimal string)" : "");
  Integer out;
  if (v.is_number_unsigned()) {
    out.magnitude = v.get<uint64_t>();
  } else if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    out.negative = i < 0;
    out.magnitude = out.negative ? static_cast<uint64_t>(-(i + 1)) + 1 : static_cast<uint64_t>(i);
  } else if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    std::string_view digits = s;
    if (!digits.empty() && digits.front() == '-') {
      out.negative = true;
      digits.remove_prefix(1);
    }
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out.magnitude);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size()) {
      Fail(path, expected);
    }
  } else {
    Fail(path, expected);
  }
  if (out.negative && out.magnitude == 0) out.negative = false;  // "-0"
  bool fits = out.negative ? (r.min < 0 && out.magnitude <= static_cast<uint64_t>(-(r.min + 1)) + 1)
                           : out.magnitude <= r.max;
  if (!fits) Fail(path, expected);
  return out;
}

double ReadFloat(const Json& v, const FieldDescriptor* f, const std::string& path) {
  const char* expected = "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")";
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
    Fail(path, expected);
  }
  if (!v.is_number()) Fail(path, expected);
  double d = v.get<double>();
  if (f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT &&
      std::fabs(d) > static_cast<double>(FLT_MAX)) {
    Fail(path, "expected a number within the range of a 32-bit float");
  }
  return d;
}

int ReadEnum(const Json& v, const FieldDescriptor* f, const std::string& path) {
  const auto* e = f->enum_type();
  if (v.is_string()) {
    if (const auto* value = e->FindValueByName(v.get_ref<const std::string&>())) {
      return value->number();
    }
  }
  std::string names;
  for (int i = 0; i < e->value_count(); ++i) {
    names += (i ? ", " : "") + e->value(i)->name();
  }
  Fail(path, "expected the name of a value: " + names);
}

std::string ReadBytes(const Json& v, const std::string& path) {
  const char* expected = "expected base64 text";
  if (!v.is_string()) Fail(path, expected);
  std::string out;
  const auto& text = v.get_ref<const std::string&>();
  bool url = text.find_first_of("-_") != std::string::npos;
  bool ok = url ? google::protobuf::WebSafeBase64Unescape(text, &out)
                : google::protobuf::Base64Unescape(text, &out);
  if (!ok) Fail(path, expected);
  return out;
}

void FillObject(const Json& object, Message& m, const std::string& path, int depth);

// A message-typed value: the well-known types by their JSON forms, others as objects.
void FillMessage(const Json& v, Message& m, const std::string& path, int depth) {
  const std::string& type = m.GetDescriptor()->full_name();
  if (type == "google.protobuf.Timestamp" || type == "google.protobuf.Duration") {
    bool timestamp = type == "google.protobuf.Timestamp";
    bool ok = false;
    if (v.is_string()) {
      if (timestamp) {
        google::protobuf::Timestamp t;
        ok = google::protobuf::util::TimeUtil::FromString(v.get_ref<const std::string&>(), &t);
        if (ok) m.CopyFrom(t);
      } else {
        google::protobuf::Duration d;
        ok = google::protobuf::util::TimeUtil::FromString(v.get_ref<const std::string&>(), &d);
        if (ok) m.CopyFrom(d);
      }
    }
    if (!ok) {
      Fail(path, timestamp ? "expected an RFC 3339 timestamp such as \"2026-12-01T10:00:00Z\""
                           : "expected a duration in seconds such as \"1.5s\"");
    }
    return;
  }
  if (type.rfind("google.protobuf.", 0) == 0 && type != "google.protobuf.Empty") {
    // Struct, Value, wrappers, Any: protobuf's own reader, whose message is not passed on.
    if (!google::protobuf::util::JsonStringToMessage(v.dump(), &m).ok()) {
      Fail(path, "expected the JSON form of " + type);
    }
    return;
  }
  if (!v.is_object()) Fail(path, "expected an object");
  FillObject(v, m, path, depth + 1);
}

// One value of field `f` of `m`: the field itself, or one more element when repeated.
void FillValue(const Json& v, Message& m, const FieldDescriptor* f, const std::string& path,
               int depth) {
  const auto* r = m.GetReflection();
  const bool add = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_BOOL:
      if (!v.is_boolean()) Fail(path, "expected true or false");
      add ? r->AddBool(&m, f, v.get<bool>()) : r->SetBool(&m, f, v.get<bool>());
      return;
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string value;
      if (f->type() == FieldDescriptor::TYPE_BYTES) {
        value = ReadBytes(v, path);
      } else if (v.is_string()) {
        value = v.get<std::string>();
      } else {
        Fail(path, "expected a string");
      }
      add ? r->AddString(&m, f, std::move(value)) : r->SetString(&m, f, std::move(value));
      return;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      if (f->enum_type()->full_name() == "google.protobuf.NullValue") return;
      int value = ReadEnum(v, f, path);
      add ? r->AddEnumValue(&m, f, value) : r->SetEnumValue(&m, f, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      auto value = static_cast<int32_t>(ReadInteger(v, f, path).Signed());
      add ? r->AddInt32(&m, f, value) : r->SetInt32(&m, f, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      auto value = static_cast<uint32_t>(ReadInteger(v, f, path).magnitude);
      add ? r->AddUInt32(&m, f, value) : r->SetUInt32(&m, f, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t value = ReadInteger(v, f, path).Signed();
      add ? r->AddInt64(&m, f, value) : r->SetInt64(&m, f, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t value = ReadInteger(v, f, path).magnitude;
      add ? r->AddUInt64(&m, f, value) : r->SetUInt64(&m, f, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      auto value = static_cast<float>(ReadFloat(v, f, path));
      add ? r->AddFloat(&m, f, value) : r->SetFloat(&m, f, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double value = ReadFloat(v, f, path);
      add ? r->AddDouble(&m, f, value) : r->SetDouble(&m, f, value);
      return;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      FillMessage(v, add ? *r->AddMessage(&m, f) : *r->MutableMessage(&m, f), path, depth);
      return;
  }
}

void FillField(const Json& v, Message& m, const FieldDescriptor* f, const std::string& path,
               int depth) {
  if (v.is_null()) return;  // the field's default
  if (f->is_map()) {
    if (!v.is_object()) Fail(path, "expected an object (a map)");
    const auto* key = f->message_type()->map_key();
    const auto* value = f->message_type()->map_value();
    for (const auto& [k, item] : v.items()) {
      if (item.is_null()) Fail(path, "a map value may not be null");
      Message* entry = m.GetReflection()->AddMessage(&m, f);
      if (key->cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
        if (k != "true" && k != "false") Fail(path, "expected map keys true or false");
        entry->GetReflection()->SetBool(entry, key, k == "true");
      } else {
        // Map keys are JSON strings; an integer key is read from its text.
        FillValue(Json(k), *entry, key, path, depth);
      }
      FillValue(item, *entry, value, path, depth);
    }
    return;
  }
  if (f->is_repeated()) {
    if (!v.is_array()) Fail(path, "expected an array");
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i].is_null()) Fail(Indexed(path, i), "an array element may not be null");
      FillValue(v[i], m, f, Indexed(path, i), depth);
    }
    return;
  }
  FillValue(v, m, f, path, depth);
}

void FillObject(const Json& object, Message& m, const std::string& path, int depth) {
  if (depth > kMaxDepth) Fail(path, "nested too deeply");
  const Descriptor* d = m.GetDescriptor();
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
    FillField(value, m, f, Join(path, key), depth);
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
  } catch (const Json::out_of_range&) {
    // A number beyond a double ("1e400") is not a parse_error to nlohmann; its message
    // quotes the number, so none of it is passed on.
    Fail("", "a number in the body is out of range");
  }
}

}  // namespace

std::optional<FieldProblem> ParseRequest(std::string_view body, google::protobuf::Message& out) {
  out.Clear();
  try {
    Json parsed = ParseWithoutDuplicateKeys(body);
    if (!parsed.is_object()) Fail("", "expected a JSON object");
    FillObject(parsed, out, "", 0);
  } catch (const Rejected& r) {
    out.Clear();  // nothing half-read is ever used
    return r.problem;
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
