// Concurrent CheckEligibility calls coalesced into shared gate runs must each get
// exactly the decision they would get alone (E-requirements of the gate hold per caller),
// and one caller's unknown subject must not fail the others in its batch.
#include <gmock/gmock.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/error.h"
#include "tests/services/subscriptions/registry_fixture.h"

namespace herald::subscriptions {
namespace {

struct Probe {
  std::string subject_id, address;
  v1::Channel channel;
  std::string topic;
};

TEST_F(RegistryTest, CoalescedChecksEachGetTheirOwnDecision) {
  // A mix of every outcome the gate gives: allowed, no consent, opted out of one topic,
  // address suppressed, invalid address, by subject and by bare address, two channels.
  std::vector<Probe> probes;
  for (int i = 0; i < 12; ++i) {
    std::string email = "co" + std::to_string(i) + "@example.com";
    std::string id = NewSubject(email, "+99450123" + std::to_string(4000 + i));
    if (i % 3 != 0) ConsentAll(id);
    if (i % 4 == 1) OptOutAddress(email, v1::ALL_MARKETING);
    probes.push_back({id, "", v1::EMAIL, "product_news"});
    probes.push_back({id, "", v1::SMS, "special_offers"});
    probes.push_back({"", email, v1::EMAIL, "product_news"});
  }
  probes.push_back({"", "not an address", v1::EMAIL, "product_news"});

  // What each probe gets alone (no coalescing).
  registry_->CoalesceChecks(1);
  std::vector<v1::Decision> alone;
  for (const auto& p : probes) alone.push_back(Check(p.subject_id, p.address, p.channel, p.topic));
  std::set<int> reasons;
  for (const auto& d : alone) reasons.insert(d.reason());
  ASSERT_GE(reasons.size(), 3u) << "the mix must cover several outcomes";

  registry_->CoalesceChecks(64);
  const std::string unknown = "00000000-0000-4000-8000-000000000001";
  std::atomic<int> mismatches{0}, not_found{0}, other_errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 24; ++t) {
    threads.emplace_back([&, t] {
      for (int k = 0; k < 40; ++k) {
        size_t i = (t * 7 + k * 13) % (probes.size() + 1);
        try {
          if (i == probes.size()) {
            Check(unknown, "", v1::EMAIL);  // must throw NotFound for this caller only
            ++other_errors;
            continue;
          }
          auto d =
              Check(probes[i].subject_id, probes[i].address, probes[i].channel, probes[i].topic);
          if (d.SerializeAsString() != alone[i].SerializeAsString()) ++mismatches;
        } catch (const Error& e) {
          (e.code() == ErrorCode::kNotFound && i == probes.size() ? not_found : other_errors)++;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, 0);
  EXPECT_EQ(other_errors, 0);
  EXPECT_GT(not_found, 0);
}

TEST_F(RegistryTest, CoalescedCheckSeesAnOptOutCommittedBeforeIt) {
  registry_->CoalesceChecks(64);
  std::string id = NewSubject("later@example.com");
  ConsentAll(id);
  EXPECT_TRUE(Check(id, "", v1::EMAIL).allowed());
  OptOutAddress("later@example.com", v1::ALL_MARKETING);
  EXPECT_EQ(Check(id, "", v1::EMAIL).reason(), v1::ADDRESS_SUPPRESSED);
}

// The callback API's path: calls submitted from one thread without waiting (as gRPC's
// callback threads do) are each answered once, with their own decision or error, on the
// coalescer's threads.
TEST_F(RegistryTest, AsyncChecksAreEachAnsweredOnceWithTheirOwnDecision) {
  std::string allowed = NewSubject("async-yes@example.com");
  ConsentAll(allowed);
  std::string refused = NewSubject("async-no@example.com");  // no consent
  const std::string unknown = "00000000-0000-4000-8000-000000000002";
  registry_->CoalesceChecks(1);
  const v1::Decision alone_allowed = Check(allowed, "", v1::EMAIL);
  const v1::Decision alone_refused = Check(refused, "", v1::EMAIL);
  ASSERT_TRUE(alone_allowed.allowed());
  ASSERT_FALSE(alone_refused.allowed());

  registry_->CoalesceChecks(64);
  constexpr int kCalls = 600;
  std::vector<v1::CheckEligibilityRequest> requests(kCalls);
  std::vector<v1::CheckEligibilityResponse> responses(kCalls);
  std::vector<std::exception_ptr> errors(kCalls);
  std::vector<int> answered(kCalls, 0);
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  for (int i = 0; i < kCalls; ++i) {
    requests[i].mutable_recipient()->set_subject_id(i % 3 == 0   ? allowed
                                                    : i % 3 == 1 ? refused
                                                                 : unknown);
    requests[i].set_channel(v1::EMAIL);
    requests[i].set_topic("product_news");
    registry_->CheckEligibilityAsync(crm_, requests[i], &responses[i],
                                     [&, i](const std::exception_ptr& e) {
                                       std::lock_guard lock(mu);
                                       errors[i] = e;
                                       ++answered[i];
                                       ++done;
                                       cv.notify_all();
                                     });
  }
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return done == kCalls; }))
        << done << " of " << kCalls << " answered";
  }
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_EQ(answered[i], 1) << i;
    if (i % 3 == 2) {
      ASSERT_TRUE(errors[i]) << i;
      try {
        std::rethrow_exception(errors[i]);
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), ErrorCode::kNotFound) << i;
      }
      continue;
    }
    ASSERT_FALSE(errors[i]) << i;
    const auto& expected = i % 3 == 0 ? alone_allowed : alone_refused;
    EXPECT_EQ(responses[i].decision().SerializeAsString(), expected.SerializeAsString()) << i;
  }
}

// A coalescer being destroyed still answers every check queued before it.
TEST_F(RegistryTest, CoalescerAnswersWhatIsQueuedBeforeItStops) {
  std::string id = NewSubject("drain@example.com");
  ConsentAll(id);
  GateRequest request;
  request.subject_id = id;
  request.channel = Channel::kEmail;
  request.topic = topics_.Find("product_news");
  ASSERT_NE(request.topic, nullptr);
  std::atomic<int> allowed{0}, failed{0};
  {
    CheckCoalescer coalescer(*pool_, *gate_, 1, 4);
    for (int i = 0; i < 50; ++i) {
      coalescer.Submit(request, [&](const GateDecision& d, const std::exception_ptr& e) {
        (e ? failed : d.allowed() ? allowed : failed)++;
      });
    }
  }
  EXPECT_EQ(allowed, 50);
  EXPECT_EQ(failed, 0);
}

}  // namespace
}  // namespace herald::subscriptions
