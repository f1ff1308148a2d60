// MessageStatus has one mapping to the database text and the API enum.
#include "services/dispatch/ledger/message_status.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

namespace herald::dispatch {
namespace {

constexpr MessageStatus kAll[] = {
    MessageStatus::kQueued,      MessageStatus::kSuppressed, MessageStatus::kCancelled,
    MessageStatus::kSending,     MessageStatus::kSent,       MessageStatus::kDelivered,
    MessageStatus::kUndelivered, MessageStatus::kRetrying,   MessageStatus::kFailed,
};

TEST(MessageStatusTest, TextAndProtoRoundTripForEveryStatus) {
  std::set<std::string> texts;
  std::set<int> protos;
  for (auto s : kAll) {
    std::string text = StatusText(s);
    EXPECT_TRUE(texts.insert(text).second) << text;
    EXPECT_EQ(ParseStatus(text), s) << text;
    EXPECT_TRUE(protos.insert(ToProto(s)).second) << text;
    EXPECT_EQ(FromProto(ToProto(s)), s) << text;
    EXPECT_EQ(ProtoFromText(text), ToProto(s)) << text;
    // The stored text is the API's name in lower case (clients see both).
    std::string name = v1::MessageStatus_Name(ToProto(s));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(name, text);
  }
  // Every status of the API has one.
  for (int n = v1::MessageStatus_MIN; n <= v1::MessageStatus_MAX; ++n) {
    if (!v1::MessageStatus_IsValid(n) || n == v1::MESSAGE_STATUS_UNSPECIFIED) continue;
    EXPECT_TRUE(FromProto(static_cast<v1::MessageStatus>(n)).has_value()) << n;
  }
}

TEST(MessageStatusTest, UnknownValuesMapToNothing) {
  EXPECT_FALSE(ParseStatus("").has_value());
  EXPECT_FALSE(ParseStatus("Sent").has_value());
  EXPECT_FALSE(ParseStatus("bounced").has_value());
  EXPECT_FALSE(FromProto(v1::MESSAGE_STATUS_UNSPECIFIED).has_value());
  EXPECT_EQ(ProtoFromText("bounced"), v1::MESSAGE_STATUS_UNSPECIFIED);
}

TEST(MessageStatusTest, PendingIsWhatAWorkerMayStillSend) {
  std::set<MessageStatus> pending;
  for (auto s : kAll) {
    if (IsPending(s)) pending.insert(s);
  }
  EXPECT_EQ(pending, (std::set<MessageStatus>{MessageStatus::kQueued, MessageStatus::kRetrying,
                                              MessageStatus::kSending}));
}

}  // namespace
}  // namespace herald::dispatch
