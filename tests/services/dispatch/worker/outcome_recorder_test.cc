// The worker's outcome recorder without a database: what it records, when a lane may go on,
// and what it keeps while recording fails.
#include "services/dispatch/worker/outcome_recorder.h"

#include <gmock/gmock.h>

#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "common/error.h"

namespace herald::dispatch {
namespace {

Outcome Sent(const std::string& id) {
  Outcome o;
  o.message_id = id;
  o.attempt = 1;
  o.result.outcome = DeliveryOutcome::kSent;
  return o;
}

RecorderOptions Fast() {
  RecorderOptions o;
  o.first_backoff = std::chrono::milliseconds(1);
  o.max_backoff = std::chrono::milliseconds(5);
  o.shutdown_patience = std::chrono::milliseconds(50);
  return o;
}

TEST(OutcomeRecorderTest, RecordReturnsOnceTheOutcomeIsRecorded) {
  std::atomic<bool> stopping{false};
  std::vector<std::string> recorded;
  OutcomeRecorder r(
      [&](const std::vector<Outcome>& g) {
        for (const auto& o : g) recorded.push_back(o.message_id);
      },
      stopping, {}, Fast());
  EXPECT_TRUE(r.Record(Sent("a")));
  EXPECT_THAT(recorded, ::testing::ElementsAre("a"));
  r.Add(Sent("b"));
  r.Add(Sent("c"));
  EXPECT_THAT(recorded, ::testing::ElementsAre("a"));  // queued, not yet recorded
  EXPECT_TRUE(r.Flush());
  EXPECT_THAT(recorded, ::testing::ElementsAre("a", "b", "c"));
  EXPECT_EQ(r.given_up(), 0);
}

// Lanes that finish while a group is being recorded go into the next group together; no lane
// returns before its own outcome is recorded.
TEST(OutcomeRecorderTest, LanesThatFinishTogetherShareOneRecording) {
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::set<std::string> recorded;
  std::vector<size_t> groups;
  std::atomic<bool> first_entered{false};
  std::atomic<bool> release_first{false};
  OutcomeRecorder r(
      [&](const std::vector<Outcome>& g) {
        if (!first_entered.exchange(true)) {
          while (!release_first) std::this_thread::yield();  // hold the first group open
        }
        std::lock_guard lock(mu);
        groups.push_back(g.size());
        for (const auto& o : g) recorded.insert(o.message_id);
      },
      stopping, {}, Fast());
  std::thread first([&] { EXPECT_TRUE(r.Record(Sent("m0"))); });
  while (!first_entered) std::this_thread::yield();
  std::vector<std::thread> lanes;
  for (int i = 1; i <= 3; ++i) {
    lanes.emplace_back([&, i] {
      EXPECT_TRUE(r.Record(Sent("m" + std::to_string(i))));
      std::lock_guard lock(mu);
      EXPECT_EQ(recorded.count("m" + std::to_string(i)), 1u);  // recorded before it returned
    });
  }
  release_first = true;
  first.join();
  for (auto& t : lanes) t.join();
  EXPECT_EQ(recorded.size(), 4u);
  EXPECT_EQ(groups.front(), 1u);
  EXPECT_LE(groups.size(), 4u);
}

// The database away: the outcome is kept and recorded once it is back, never dropped.
TEST(OutcomeRecorderTest, AnOutageIsWaitedOutAndTheOutcomeKept) {
  std::atomic<bool> stopping{false};
  int tries = 0;
  std::vector<bool> results;
  std::vector<std::string> recorded;
  OutcomeRecorder r(
      [&](const std::vector<Outcome>& g) {
        if (++tries <= 20) throw pqxx::broken_connection("server closed the connection");
        for (const auto& o : g) recorded.push_back(o.message_id);
      },
      stopping, [&](bool ok) { results.push_back(ok); }, Fast());
  EXPECT_TRUE(r.Record(Sent("kept")));
  EXPECT_EQ(tries, 21);
  EXPECT_THAT(recorded, ::testing::ElementsAre("kept"));
  EXPECT_EQ(results.size(), 21u);
  EXPECT_FALSE(results.front());
  EXPECT_TRUE(results.back());
  EXPECT_EQ(r.given_up(), 0);
}

// A failure that is not an outage cannot hold the worker: after a few tries it gives up.
TEST(OutcomeRecorderTest, AFaultThatIsNotAnOutageIsGivenUpAfterAFewTries) {
  std::atomic<bool> stopping{false};
  int tries = 0;
  OutcomeRecorder r(
      [&](const std::vector<Outcome>&) {
        ++tries;
        throw std::runtime_error("a bug");
      },
      stopping, {}, Fast());
  EXPECT_FALSE(r.Record(Sent("x")));
  EXPECT_EQ(tries, Fast().tries_for_other_failures);
  EXPECT_EQ(r.given_up(), 1);
  // What came after is recorded on its own merits.
  r.Add(Sent("y"));
  EXPECT_FALSE(r.Flush());
  EXPECT_EQ(r.given_up(), 2);
}

// Stopping during an outage: retried for the shutdown patience, then given up.
TEST(OutcomeRecorderTest, StoppingDuringAnOutageGivesUpAfterThePatience) {
  std::atomic<bool> stopping{true};
  int tries = 0;
  OutcomeRecorder r(
      [&](const std::vector<Outcome>&) {
        ++tries;
        throw Unavailable("database: cannot connect");
      },
      stopping, {}, Fast());
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(r.Record(Sent("x")));
  EXPECT_GE(std::chrono::steady_clock::now() - start, Fast().shutdown_patience);
  EXPECT_GT(tries, 1);
  // The patience is spent once: the next group is tried once and given up.
  const int before = tries;
  EXPECT_FALSE(r.Record(Sent("y")));
  EXPECT_EQ(tries, before + 1);
  EXPECT_EQ(r.given_up(), 2);
}

TEST(OutcomeRecorderTest, OutagesAreToldApartFromFaults) {
  EXPECT_TRUE(OutcomeRecorder::IsTransient(pqxx::broken_connection("gone")));
  EXPECT_TRUE(OutcomeRecorder::IsTransient(pqxx::in_doubt_error("commit result unknown")));
  EXPECT_TRUE(OutcomeRecorder::IsTransient(Unavailable("database: cannot connect")));
  EXPECT_TRUE(OutcomeRecorder::IsTransient(pqxx::sql_error("disk full", "", "53100")));
  EXPECT_TRUE(OutcomeRecorder::IsTransient(pqxx::sql_error("shutdown", "", "57P01")));
  EXPECT_TRUE(OutcomeRecorder::IsTransient(pqxx::sql_error("deadlock", "", "40P01")));
  EXPECT_FALSE(OutcomeRecorder::IsTransient(pqxx::sql_error("syntax", "", "42601")));
  EXPECT_FALSE(OutcomeRecorder::IsTransient(InvalidArgument("field", "bad")));
  EXPECT_FALSE(OutcomeRecorder::IsTransient(std::runtime_error("a bug")));
}

}  // namespace
}  // namespace herald::dispatch
