#pragma once

namespace google::protobuf {
class Message;
}

namespace herald {

// Range checks every request gets at the edge, driven by the message's descriptor so a new
// field is covered without code of its own. Throws herald::Error (INVALID_ARGUMENT) naming
// the field (never its value):
// - google.protobuf.Timestamp: seconds from 1970-01-01 to 9999-12-31 and nanos within a
//   second; beyond that the microsecond arithmetic behind every stored time overflows.
// - double and float: finite (NaN and the infinities pass every `<` and `>` range check).
// - integers: not negative (every integer a request carries is a count or a page size).
// - enums: a value the contract defines (proto3 keeps unknown numbers).
void CheckRequestFields(const google::protobuf::Message& request);

}  // namespace herald
