#include "common/grpc/request_checks.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <cmath>
#include <string>

#include "common/error.h"
#include "common/proto_time.h"

namespace herald {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

void CheckTimestamp(const Message& m, const std::string& path) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  int64_t seconds = r->GetInt64(m, d->FindFieldByName("seconds"));
  int32_t nanos = r->GetInt32(m, d->FindFieldByName("nanos"));
  if (!IsRequestTime(seconds, nanos)) {
    throw InvalidArgument(path, "not a valid time (from 1970-01-01 to 9999-12-31 UTC)");
  }
}

void CheckMessage(const Message& m, const std::string& prefix);

void CheckValue(const Message& m, const FieldDescriptor* f, int index, const std::string& path) {
  const auto* r = m.GetReflection();
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v = rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f);
      if (!std::isfinite(v)) throw InvalidArgument(path, "not a finite number");
      break;
    }
    case FieldDescriptor::CPPTYPE_FLOAT: {
      float v = rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f);
      if (!std::isfinite(v)) throw InvalidArgument(path, "not a finite number");
      break;
    }
    case FieldDescriptor::CPPTYPE_INT32: {
      int32_t v = rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f);
      if (v < 0) throw InvalidArgument(path, "must not be negative");
      break;
    }
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t v = rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f);
      if (v < 0) throw InvalidArgument(path, "must not be negative");
      break;
    }
    case FieldDescriptor::CPPTYPE_ENUM: {
      int v = rep ? r->GetRepeatedEnumValue(m, f, index) : r->GetEnumValue(m, f);
      if (!f->enum_type()->FindValueByNumber(v)) throw InvalidArgument(path, "unknown value");
      break;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      if (f->message_type()->full_name() == "google.protobuf.Timestamp") {
        CheckTimestamp(sub, path);
      } else if (!f->is_map()) {
        CheckMessage(sub, path + ".");
      }
      break;
    }
    default:
      break;  // strings are the handlers' (and the parser's: UTF-8); bools and uints are fine
  }
}

void CheckMessage(const Message& m, const std::string& prefix) {
  std::vector<const FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  for (const auto* f : fields) {
    std::string path = prefix + f->name();
    if (f->is_repeated()) {
      int n = m.GetReflection()->FieldSize(m, f);
      for (int i = 0; i < n; ++i) CheckValue(m, f, i, path + "[" + std::to_string(i) + "]");
    } else {
      CheckValue(m, f, -1, path);
    }
  }
}

}  // namespace

void CheckRequestFields(const Message& request) { CheckMessage(request, ""); }

}  // namespace herald
