#include "common/grpc/api_key_authenticator.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/config/config.h"
#include "common/crypto/hash.h"

namespace herald {
namespace {

constexpr char kCrmKey[] = "crm-key-0123456789";
constexpr char kOpsKey[] = "ops-key-abcdefghij";
constexpr char kSchedulerKey[] = "sched-key-zyxwvut";

std::string HashOf(const std::string& key) { return crypto::ToHex(crypto::Sha256(key)); }

std::vector<ApiClient> Clients() {
  return {
      {"crm", HashOf(kCrmKey), {Scope::kCrm}},
      {"ops", HashOf(kOpsKey), {Scope::kAdmin}},
      {"scheduler", HashOf(kSchedulerKey), {Scope::kScheduler, Scope::kPrivacy}},
  };
}

TEST(ApiKeyAuthenticatorTest, KnownKeyHashIsWhatConfigStores) {
  // Guards the fixture: the configured hash is lower-case hex of SHA-256.
  EXPECT_EQ(HashOf("test-key"), "62af8704764faf8ea82fc61ce9c4c3908b6cb97d463a634e9e587d7c885db0ef");
}

TEST(ApiKeyAuthenticatorTest, BearerKeyFindsItsClient) {
  ApiKeyAuthenticator auth(Clients());
  const ApiClient* crm = auth.Authenticate(std::string("Bearer ") + kCrmKey);
  ASSERT_NE(crm, nullptr);
  EXPECT_EQ(crm->id, "crm");
  const ApiClient* ops = auth.Authenticate(std::string("Bearer ") + kOpsKey);
  ASSERT_NE(ops, nullptr);
  EXPECT_EQ(ops->id, "ops");
  const ApiClient* sched = auth.Authenticate(std::string("Bearer ") + kSchedulerKey);
  ASSERT_NE(sched, nullptr);
  EXPECT_EQ(sched->id, "scheduler");
}

TEST(ApiKeyAuthenticatorTest, MissingBearerPrefixIsRejected) {
  ApiKeyAuthenticator auth(Clients());
  EXPECT_EQ(auth.Authenticate(kCrmKey), nullptr);
  EXPECT_EQ(auth.Authenticate(std::string("Basic ") + kCrmKey), nullptr);
  EXPECT_EQ(auth.Authenticate(std::string("Bearer") + kCrmKey), nullptr);
}

TEST(ApiKeyAuthenticatorTest, LowerCaseBearerIsRejected) {
  ApiKeyAuthenticator auth(Clients());
  EXPECT_EQ(auth.Authenticate(std::string("bearer ") + kCrmKey), nullptr);
  EXPECT_EQ(auth.Authenticate(std::string("BEARER ") + kCrmKey), nullptr);
}

TEST(ApiKeyAuthenticatorTest, EmptyKeyIsRejected) {
  // Even a client configured with the hash of the empty key is not matched.
  std::vector<ApiClient> clients = Clients();
  clients.push_back({"empty", HashOf(""), {Scope::kAdmin}});
  ApiKeyAuthenticator auth(clients);
  EXPECT_EQ(auth.Authenticate("Bearer "), nullptr);
  EXPECT_EQ(auth.Authenticate("Bearer"), nullptr);
  EXPECT_EQ(auth.Authenticate(""), nullptr);
}

TEST(ApiKeyAuthenticatorTest, WrongKeyIsRejected) {
  ApiKeyAuthenticator auth(Clients());
  EXPECT_EQ(auth.Authenticate("Bearer not-a-key"), nullptr);
  EXPECT_EQ(auth.Authenticate(std::string("Bearer ") + kCrmKey + "x"), nullptr);
  EXPECT_EQ(auth.Authenticate(std::string("Bearer ") + std::string(kCrmKey).substr(1)), nullptr);
  EXPECT_EQ(auth.Authenticate(std::string("Bearer  ") + kCrmKey), nullptr);
}

TEST(ApiKeyAuthenticatorTest, TheHashItselfIsNotAKey) {
  ApiKeyAuthenticator auth(Clients());
  EXPECT_EQ(auth.Authenticate("Bearer " + HashOf(kCrmKey)), nullptr);
}

TEST(ApiKeyAuthenticatorTest, NoClientsConfiguredRejectsEverything) {
  ApiKeyAuthenticator auth({});
  EXPECT_EQ(auth.Authenticate(std::string("Bearer ") + kCrmKey), nullptr);
}

TEST(ApiKeyAuthenticatorTest, AllowsOnlyListedScopes) {
  ApiClient crm{"crm", HashOf(kCrmKey), {Scope::kCrm}};
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(crm, {Scope::kCrm}));
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(crm, {Scope::kScheduler, Scope::kCrm}));
  EXPECT_FALSE(ApiKeyAuthenticator::Allows(crm, {Scope::kScheduler}));
  EXPECT_FALSE(ApiKeyAuthenticator::Allows(crm, {Scope::kPrivacy}));
  EXPECT_FALSE(ApiKeyAuthenticator::Allows(crm, {Scope::kAdmin}));
  EXPECT_FALSE(ApiKeyAuthenticator::Allows(crm, {}));
}

TEST(ApiKeyAuthenticatorTest, AllowsAnyOfSeveralScopes) {
  ApiClient multi{"multi", HashOf(kSchedulerKey), {Scope::kScheduler, Scope::kPrivacy}};
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(multi, {Scope::kPrivacy}));
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(multi, {Scope::kScheduler}));
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(multi, {Scope::kCrm, Scope::kPrivacy}));
  EXPECT_FALSE(ApiKeyAuthenticator::Allows(multi, {Scope::kCrm}));
}

TEST(ApiKeyAuthenticatorTest, AdminScopeGrantsEverything) {
  ApiClient admin{"ops", HashOf(kOpsKey), {Scope::kAdmin}};
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(admin, {Scope::kCrm}));
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(admin, {Scope::kScheduler}));
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(admin, {Scope::kPrivacy}));
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(admin, {Scope::kAdmin}));
  EXPECT_TRUE(ApiKeyAuthenticator::Allows(admin, {}));
}

TEST(ApiKeyAuthenticatorTest, ClientWithoutScopesIsAllowedNothing) {
  ApiClient none{"none", HashOf(kCrmKey), {}};
  EXPECT_FALSE(ApiKeyAuthenticator::Allows(
      none, {Scope::kCrm, Scope::kScheduler, Scope::kPrivacy, Scope::kAdmin}));
}

}  // namespace
}  // namespace herald
