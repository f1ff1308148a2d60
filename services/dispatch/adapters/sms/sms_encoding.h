#pragma once

#include <string_view>

namespace herald::dispatch::sms {

// How a text travels over SMS, and how many messages (and so how much money) it costs.
//
// GSM-7 is used when every character is in the GSM 03.38 default alphabet or its extension
// table (extension characters take an escape and so count 2 units). Otherwise the whole
// message is UCS-2 and units are UTF-16 code units: a character outside the BMP (an emoji)
// counts 2. National language shift tables are not used: carriers rarely support them and
// none covers Azerbaijani.
//
// A single message holds 160 GSM-7 units or 70 UCS-2 units; a concatenated one loses room to
// its header and holds 153 or 67 per segment. A segment never ends between an escape and its
// extension character, nor between the halves of a surrogate pair, so a segment may hold one
// unit less than its capacity.
//
// Empty text is GSM-7, 0 units, 1 segment: it would still be one (empty) PDU. Dispatch
// rejects empty bodies before this matters. Malformed UTF-8 counts each bad byte as U+FFFD,
// which forces UCS-2, as the provider would have to substitute something that GSM-7 lacks.
struct SmsEncoding {
  enum class Kind { kGsm7, kUcs2 };
  Kind kind = Kind::kGsm7;
  int units = 0;
  int segments = 1;
};

SmsEncoding AnalyzeSms(std::string_view utf8);

}  // namespace herald::dispatch::sms
