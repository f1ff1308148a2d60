#pragma once

#include <optional>
#include <string_view>

// The domain's vocabulary, spoken by every service: it sits in namespace herald itself, like
// Timestamp and Error.
namespace herald {

// Same numbers as herald.v1.Channel; stored as smallint.
enum class Channel { kEmail = 1, kSms = 2, kCall = 3 };
inline constexpr Channel kAllChannels[] = {Channel::kEmail, Channel::kSms, Channel::kCall};
// The channel number stored in a suppression or preference row that covers every channel (and
// in a consent row of a kind that is not per channel). Not a Channel: nothing is sent on it.
inline constexpr int kAnyChannel = 0;

// Same numbers as addresses.kind.
enum class AddressKind { kEmail = 1, kPhone = 2 };

inline AddressKind KindOf(Channel c) {
  return c == Channel::kEmail ? AddressKind::kEmail : AddressKind::kPhone;
}
inline const char* KindName(AddressKind k) { return k == AddressKind::kEmail ? "email" : "phone"; }
inline const char* ChannelName(Channel c) {
  switch (c) {
    case Channel::kEmail:
      return "EMAIL";
    case Channel::kSms:
      return "SMS";
    case Channel::kCall:
      return "CALL";
  }
  return "?";
}
inline std::optional<Channel> ChannelFromNumber(int n) {
  if (n >= 1 && n <= 3) return static_cast<Channel>(n);
  return std::nullopt;
}

// Same numbers and order as herald.v1.DenyReason: a lower number takes precedence.
enum class DenyReason {
  kNone = 0,
  kInvalidAddress = 1,
  kSubjectDestroyed = 2,
  kSubjectBlocked = 3,
  kConsentRevoked = 4,
  kAddressSuppressed = 5,
  kCrossBorderNotAllowed = 6,
  kNoConsent = 7,
  kUnsubscribedAll = 8,
  kUnsubscribedChannel = 9,
  kUnsubscribedTopic = 10,
  kFrequencyCapped = 11,
};

// Same numbers as suppressions.reason and herald.v1.SuppressionReason.
enum class SuppressionReason {
  kUnsubscribed = 1,
  kSmsStop = 2,
  kHardBounce = 3,
  kComplaint = 4,
  kRevoked = 5,
  kManual = 6,
};

}  // namespace herald
