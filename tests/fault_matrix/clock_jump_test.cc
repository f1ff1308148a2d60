// FAULT-8 (tests/fault_matrix/README.md): the clock jumps an hour forward and back mid-campaign.
// heraldd reads the wall clock (SystemClock); the outbox and the workers read it through the
// Clock interface, so this row builds them in-process as heraldd wires them, against the real
// PostgreSQL and the real capturing SMTP sink, with a clock that runs with the system's and
// jumps when told. Two workers share the campaign while opt-outs race it. At the sink: no
// recipient twice, nothing lost; in PostgreSQL (a trigger witnessing every claim with its lease
// owner): no message claimed by a second worker while the first still held it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/crypto/link_token.h"
#include "common/crypto/report_tag.h"
#include "common/db/pool.h"
#include "common/domain/topics.h"
#include "common/grpc/caller.h"
#include "services/dispatch/campaign_service.h"
#include "services/dispatch/outbox/outbox.h"
#include "services/dispatch/providers/provider_registry.h"
#include "services/dispatch/worker/dispatch_worker.h"
#include "services/subscriptions/gate/eligibility_gate.h"
#include "services/subscriptions/registry.h"
#include "tests/fault_matrix/matrix_support.h"
#include "tests/support/eventually.h"
#include "tests/support/opt_out_race.h"
#include "tests/support/smtp_capture.h"
#include "tests/support/test_database.h"

namespace herald::fault_matrix {
namespace {

using testing::Eventually;

// The system's clock, shifted by an offset the test sets: time runs on, and jumps.
class JumpingClock final : public Clock {
 public:
  Timestamp Now() const override { return system_.Now() + std::chrono::microseconds(offset_us_); }
  void Shift(std::chrono::microseconds by) { offset_us_ += by.count(); }

 private:
  SystemClock system_;
  std::atomic<int64_t> offset_us_{0};
};

// The process's stderr (where the JSON log goes) into a file while it lives, so that the row
// can scan what the in-process workers logged.
class CapturedStderr {
 public:
  CapturedStderr() {
    char tmpl[] = "/tmp/fault-stderr.XXXXXX";
    int fd = mkstemp(tmpl);
    path_ = tmpl;
    fflush(stderr);
    saved_ = dup(2);
    dup2(fd, 2);
    close(fd);
  }
  ~CapturedStderr() {
    Restore();
    std::remove(path_.c_str());
  }
  // Puts stderr back and returns what was written meanwhile.
  std::string Restore() {
    if (saved_ >= 0) {
      fflush(stderr);
      dup2(saved_, 2);
      close(saved_);
      saved_ = -1;
    }
    std::ifstream in(path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string path_;
  int saved_ = -1;
};

constexpr char kSuppressionKeys[] =
    "k1:1111111111111111111111111111111111111111111111111111111111111111";
constexpr char kLinkKeys[] = "l1:2222222222222222222222222222222222222222222222222222222222222222";

// FAULT-8: an hour forward, then back, while two workers send a campaign.
TEST(FaultMatrixClock, ClockJumpsForwardAndBackMidCampaign) {
  auto db = testing::TestDatabase::Create();
  HERALD_REQUIRE_DB(db);
  const Size size = SizeFromEnvironment();
  const std::string dsn = db->dsn();
  testing::InstallStatusWitness(*db);
  auto subjects = MakeRecipients(dsn, size.recipients);
  // A slow relay: a send in flight when the clock jumps lasts long enough for another worker
  // thread's claim to come while it is held.
  testing::SmtpCapture sink({"--index-only", "--delay-ms", "500"});

  CapturedStderr log;
  JumpingClock clock;
  db::Pool pool(dsn, 12, std::chrono::seconds(10));
  crypto::SuppressionHasher hasher(crypto::KeyRing::Parse(kSuppressionKeys));
  crypto::KeyRing link_ring = crypto::KeyRing::Parse(kLinkKeys);
  crypto::LinkSigner links(link_ring);
  crypto::ReportTagger report_tags(link_ring);
  TopicCatalog topics(std::vector<TopicConfig>{});
  subscriptions::EligibilityGate gate(hasher, "RU", std::vector<std::string>{"RU"});
  subscriptions::SubscriptionRegistry registry(pool, clock, topics, hasher, gate);
  dispatch::CampaignService campaigns(pool, clock, topics, gate);
  ProviderConfig relay;
  relay.name = "relay";
  relay.kind = "smtp";
  relay.country = "RU";
  relay.settings = {{"url", "smtp://127.0.0.1:" + std::to_string(sink.port())},
                    {"starttls", "none"},
                    {"max_connections", "16"}};
  dispatch::ProviderRegistry providers({relay}, std::vector<std::string>{"RU"}, clock);
  dispatch::RetryPolicy retry;
  retry.base_delay = std::chrono::seconds(2);
  dispatch::Outbox outbox(
      pool, clock, gate, topics,
      [&providers](Channel ch, bool foreign_ok) { return providers.Pick(ch, foreign_ok); }, retry);
  auto options = [&](const std::string& name) {
    dispatch::WorkerOptions o;
    o.threads = 2;
    o.batch_size = 25;
    o.send_concurrency = size.send_concurrency;
    o.lease = std::chrono::seconds(size.lease_s);
    o.from_address = "news@herald.test";
    o.name = name;
    o.public_base_url = "https://herald.test";
    o.links = &links;
    o.hasher = &hasher;
    o.report_tags = &report_tags;
    return o;
  };

  // The campaign, as the api role would take it.
  Caller scheduler{"fault-scheduler", "clock-jump"};
  v1::CreateCampaignRequest create;
  create.set_idempotency_key("clock-jump");
  create.set_name("Clock jump");
  create.set_topic("special_offers");
  create.set_channel(v1::EMAIL);
  create.mutable_content()->set_subject("Offer");
  create.mutable_content()->set_text("Hello {{surname}}");
  const std::string campaign = campaigns.CreateCampaign(scheduler, create).campaign().id();
  bool streamed = false;
  auto added = campaigns.AddRecipients(
      scheduler,
      [&](v1::AddRecipientsRequest* m) {
        if (streamed) return false;
        streamed = true;
        m->set_campaign_id(campaign);
        for (const auto& s : subjects) m->add_rows()->set_subject_id(s);
        return true;
      },
      [] { return false; });
  ASSERT_EQ(added.received(), static_cast<int64_t>(subjects.size()));
  ASSERT_TRUE(campaigns.ResolveNextUpload());
  v1::GetRecipientUploadRequest upload;
  upload.set_campaign_id(campaign);
  upload.set_upload_id(added.upload_id());
  ASSERT_EQ(campaigns.GetUpload(scheduler, upload).added(), static_cast<int64_t>(subjects.size()));

  dispatch::DispatchWorker worker_a(outbox, providers, campaigns, registry, clock,
                                    options("clock-a"));
  dispatch::DispatchWorker worker_b(outbox, providers, campaigns, registry, clock,
                                    options("clock-b"));
  const double started = Now();
  campaigns.Start(scheduler, campaign);
  worker_a.Start();
  worker_b.Start();

  // Opt-outs racing the campaign, through the registry as OptOut would call it.
  std::mt19937 rng(20261206);
  std::vector<std::string> victims = subjects;
  std::shuffle(victims.begin(), victims.end(), rng);
  victims.resize(static_cast<size_t>(size.opt_outs));
  std::map<std::string, OptOutRace::Ack> acked;
  std::thread opt_outs([&] {
    Caller crm{"fault-crm", "opt-out"};
    for (const auto& id : victims) {
      v1::OptOutRequest r;
      r.set_subject_id(id);
      r.set_scope(v1::ALL_MARKETING);
      r.mutable_proof()->set_source(v1::LINK);
      try {
        auto resp = registry.OptOut(crm, r);
        acked[id] = OptOutRace::Ack{Now(), resp.in_flight_messages()};
      } catch (const std::exception&) {
        // Not acknowledged: no promise to keep.
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 60));
    }
  });

  const size_t quarter = subjects.size() / 4, half = subjects.size() / 2;
  bool midway = Eventually([&] { return sink.Arrivals().size() >= quarter; },
                           std::chrono::seconds(60), std::chrono::milliseconds(20));
  clock.Shift(std::chrono::hours(1));
  const double forward = Now();
  bool later = midway && Eventually([&] { return sink.Arrivals().size() >= half; },
                                    std::chrono::seconds(60), std::chrono::milliseconds(20));
  clock.Shift(-std::chrono::hours(1));
  const double backward = Now();
  opt_outs.join();
  // Settled, or stuck: nothing left but retries that the jump put an hour ahead (they would
  // hold the row for that hour).
  const bool settled_or_stuck = Eventually(
      [&] {
        return Count(dsn,
                     "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending')"
                     " OR (status = 'retrying' AND next_attempt_at < now() + interval '10"
                     " minutes')") == 0;
      },
      std::chrono::seconds(size.lease_s * 2 + 60), std::chrono::milliseconds(100));
  const bool settled = settled_or_stuck && WaitUntilSettled(dsn, std::chrono::seconds(0));
  const double done = Now();
  worker_a.Stop();
  worker_b.Stop();
  const std::string logged = log.Restore();

  auto arrivals = ByAddress(sink);
  auto j = Judge(dsn, v1::EMAIL, arrivals, acked);
  // Claims of a message by a worker other than the one that claimed it last, before that
  // claim's attempt had ended: the second worker took a message the first still held.
  pqxx::connection conn(dsn);
  pqxx::read_transaction txn(conn);
  const int64_t taken_while_held = txn.exec(R"sql(
      SELECT count(*) FROM (
        SELECT status, owner,
          lag(status) OVER w AS before, lag(owner) OVER w AS before_owner
        FROM status_commits WINDOW w AS (PARTITION BY message_id ORDER BY ctid)) t
      WHERE status = 'sending' AND before = 'sending' AND owner IS DISTINCT FROM before_owner
    )sql")[0][0]
                                       .as<int64_t>();
  const int64_t reclaimed =
      txn.exec("SELECT count(*) FROM message_transitions WHERE note LIKE 'lease expired%'")[0][0]
          .as<int64_t>();
  const int64_t late_retries = txn.exec(
                                      "SELECT count(*) FROM messages WHERE status IN ('queued',"
                                      " 'retrying') AND next_attempt_at > now() + interval '10"
                                      " minutes'")[0][0]
                                   .as<int64_t>();
  // Why they wait: the note of each such message's last transition.
  std::string waiting_why;
  for (const auto& r : txn.exec(R"sql(
      SELECT (SELECT t.note FROM message_transitions t WHERE t.message_id = m.id
              ORDER BY t.seq DESC LIMIT 1), count(*)
      FROM messages m
      WHERE m.status = 'retrying' AND m.next_attempt_at > now() + interval '10 minutes'
      GROUP BY 1)sql")) {
    waiting_why += "\"" + r[0].as<std::string>("") + "\" x" + r[1].as<std::string>() + " ";
  }
  auto figures = std::vector<std::pair<std::string, std::string>>{
      {"recipients", std::to_string(size.recipients)},
      {"duplicates", std::to_string(j.duplicates)},
      {"lost", std::to_string(j.lost)},
      {"opted_out_reached", std::to_string(j.opted_out_reached)},
      {"acked_opt_outs", std::to_string(j.acked_opt_outs)},
      {"taken_while_held", std::to_string(taken_while_held)},
      {"reclaimed", std::to_string(reclaimed)},
      {"waiting_an_hour", std::to_string(late_retries)},
      {"stall_s", Fixed(LongestGap(AllTimes(arrivals), forward, done))},
      {"after_back_s", Fixed(done - backward)},
      {"elapsed_s", Fixed(done - started)}};
  PrintRow("clock_jump", figures);

  ASSERT_TRUE(midway && later) << "the campaign did not get far enough to jump mid-way";
  EXPECT_TRUE(settled) << "the campaign did not finish after the clock came back: " << late_retries
                       << " messages wait an hour";
  EXPECT_EQ(late_retries, 0) << "retries scheduled by the jumped clock wait an extra hour: "
                             << waiting_why;
  EXPECT_EQ(taken_while_held, 0) << "messages claimed by a second worker while the first held"
                                 << " them (the jump made their leases look expired)";
  EXPECT_EQ(j.duplicates, 0) << "recipients reached twice";
  ExpectNothingLostAndOptOutsKept(j);
  ExpectNoPersonalData({logged}, /*require_lines=*/false);
}

}  // namespace
}  // namespace herald::fault_matrix
