#include "services/dispatch/ledger/message_status.h"

#include <array>

namespace herald::dispatch {
namespace {

struct Row {
  MessageStatus status;
  const char* text;
  v1::MessageStatus proto;
};

constexpr std::array<Row, 9> kRows = {{
    {MessageStatus::kQueued, "queued", v1::QUEUED},
    {MessageStatus::kSuppressed, "suppressed", v1::SUPPRESSED},
    {MessageStatus::kCancelled, "cancelled", v1::CANCELLED},
    {MessageStatus::kSending, "sending", v1::SENDING},
    {MessageStatus::kSent, "sent", v1::SENT},
    {MessageStatus::kDelivered, "delivered", v1::DELIVERED},
    {MessageStatus::kUndelivered, "undelivered", v1::UNDELIVERED},
    {MessageStatus::kRetrying, "retrying", v1::RETRYING},
    {MessageStatus::kFailed, "failed", v1::FAILED},
}};

const Row& RowOf(MessageStatus s) { return kRows[static_cast<size_t>(s)]; }

}  // namespace

const char* StatusText(MessageStatus s) { return RowOf(s).text; }

std::optional<MessageStatus> ParseStatus(std::string_view text) {
  for (const auto& r : kRows) {
    if (text == r.text) return r.status;
  }
  return std::nullopt;
}

v1::MessageStatus ToProto(MessageStatus s) { return RowOf(s).proto; }

std::optional<MessageStatus> FromProto(v1::MessageStatus s) {
  for (const auto& r : kRows) {
    if (s == r.proto) return r.status;
  }
  return std::nullopt;
}

v1::MessageStatus ProtoFromText(std::string_view text) {
  auto s = ParseStatus(text);
  return s ? ToProto(*s) : v1::MESSAGE_STATUS_UNSPECIFIED;
}

bool IsPending(MessageStatus s) {
  return s == MessageStatus::kQueued || s == MessageStatus::kRetrying ||
         s == MessageStatus::kSending;
}

}  // namespace herald::dispatch
