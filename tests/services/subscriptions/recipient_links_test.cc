// RecipientLinks' pure part: token age (STANDARDS E3: old tokens still unsubscribe).
#include "services/subscriptions/recipient_links.h"

#include <gtest/gtest.h>

#include <chrono>

namespace herald::subscriptions {
namespace {

TEST(TokenAgeTest, LifetimeBoundaryAndFutureTokens) {
  const auto lifetime = std::chrono::hours(24 * 365);
  Timestamp issued = FromUnixMicros(1'700'000'000'000'000);
  EXPECT_FALSE(TokenExpired(issued, issued, lifetime));
  EXPECT_FALSE(TokenExpired(issued, issued + lifetime, lifetime));
  EXPECT_TRUE(TokenExpired(issued, issued + lifetime + std::chrono::seconds(1), lifetime));
  EXPECT_FALSE(TokenExpired(issued + std::chrono::hours(1), issued, lifetime));
}

}  // namespace
}  // namespace herald::subscriptions
