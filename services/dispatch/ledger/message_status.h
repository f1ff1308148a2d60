#pragma once

#include <optional>
#include <string_view>

#include "herald/v1/dispatch.pb.h"

namespace herald::dispatch {

// A message's status. The one mapping to the text stored in messages.status and
// message_history.status, and to the API's enum, is in message_status.cc.
enum class MessageStatus {
  kQueued,
  kSuppressed,
  kCancelled,
  kSending,
  kSent,
  kDelivered,
  kUndelivered,
  kRetrying,
  kFailed,
};

// The database text ("queued", "sending", ...).
const char* StatusText(MessageStatus s);
std::optional<MessageStatus> ParseStatus(std::string_view text);

v1::MessageStatus ToProto(MessageStatus s);
// nullopt for MESSAGE_STATUS_UNSPECIFIED and unknown numbers.
std::optional<MessageStatus> FromProto(v1::MessageStatus s);
// The database text as the API shows it; MESSAGE_STATUS_UNSPECIFIED for an unknown text.
v1::MessageStatus ProtoFromText(std::string_view text);

// Waiting for a worker or held by one: the outbox may still send it.
bool IsPending(MessageStatus s);

}  // namespace herald::dispatch
