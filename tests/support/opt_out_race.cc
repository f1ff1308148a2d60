#include "tests/support/opt_out_race.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <thread>

#include "common/db/sql_array.h"
#include "herald/v1/subscriptions.grpc.pb.h"

namespace herald::testing {

void InstallStatusWitness(const TestDatabase& db) {
  db.Exec(R"sql(
    CREATE TABLE status_commits (
      message_id uuid NOT NULL, status text NOT NULL, owner text, attempt integer NOT NULL);
    CREATE FUNCTION witness_status_commit() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      INSERT INTO status_commits VALUES (NEW.id, NEW.status, NEW.lease_owner, NEW.attempts);
      RETURN NULL;
    END $$;
    CREATE TRIGGER witness_status_commit AFTER UPDATE OF status ON messages
      FOR EACH ROW EXECUTE FUNCTION witness_status_commit();
  )sql");
}

std::map<std::string, int64_t> OptOutWhileSending(const HeralddProcess& api, const TestDatabase& db,
                                                  const std::vector<std::string>& subjects) {
  std::map<std::string, int64_t> reported;
  auto stub = v1::SubscriptionService::NewStub(api.Channel());
  pqxx::connection conn(db.dsn());
  std::mt19937 pace(7);
  auto opt_out = [&](const std::string& id) {
    grpc::ClientContext ctx;
    Authorize(ctx, HeralddProcess::kCrmKey);
    v1::OptOutRequest r;
    r.set_subject_id(id);
    r.set_scope(v1::ALL_MARKETING);
    r.mutable_proof()->set_source(v1::LINK);
    v1::OptOutResponse resp;
    auto status = stub->OptOut(&ctx, r, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    reported[id] = resp.in_flight_messages();
  };
  for (size_t i = 0; i < subjects.size(); ++i) {
    if (!reported.count(subjects[i])) opt_out(subjects[i]);
    // A random recipient's message is rarely in flight at the moment of the opt-out (a few
    // dozen of thousands are), so every tenth opt-out is aimed at one that is: the in-flight
    // count is then exercised on every run, not only on lucky ones.
    if (i % 10 == 9) {
      pqxx::read_transaction txn(conn);
      auto r = txn.exec(
          "SELECT subject_id::text FROM messages WHERE status = 'sending'"
          " ORDER BY random() LIMIT 1");
      txn.commit();
      if (!r.empty() && !reported.count(r[0][0].as<std::string>())) {
        opt_out(r[0][0].as<std::string>());
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(pace() % 8000));
  }
  return reported;
}

OptOutRaceFindings JudgeOptOutRace(pqxx::transaction_base& txn,
                                   const std::vector<std::string>& delivered,
                                   const std::map<std::string, int64_t>& reported) {
  OptOutRaceFindings f;
  // Indexed now, not while the campaign runs: the queries below look up each message's
  // witness rows.
  txn.exec(
      "CREATE INDEX IF NOT EXISTS status_commits_message ON status_commits (message_id, status)");
  txn.exec(
      "CREATE TEMP TABLE opt_out_at AS SELECT subject_id, pg_xact_commit_timestamp(xmin) AS t"
      " FROM events WHERE type = 'opt_out'");
  f.late = txn.exec_params(
                  "SELECT count(*) FROM messages m JOIN status_commits h ON h.message_id = m.id"
                  " AND h.status = 'sending' JOIN opt_out_at o ON o.subject_id = m.subject_id"
                  " WHERE m.id IN (SELECT unnest($1::uuid[]))"
                  " AND pg_xact_commit_timestamp(h.xmin) > o.t",
                  db::ToArrayLiteral(delivered))[0][0]
               .as<int64_t>();
  // The truth of each opt-out's in-flight count: its recipient's messages claimed (SENDING)
  // before it committed and completed after.
  std::map<std::string, int64_t> truth;
  for (const auto& r :
       txn.exec("SELECT o.subject_id::text, count(m.id) FILTER (WHERE"
                "  (SELECT min(pg_xact_commit_timestamp(h.xmin)) FROM status_commits h"
                "    WHERE h.message_id = m.id AND h.status = 'sending') < o.t"
                "  AND coalesce((SELECT min(pg_xact_commit_timestamp(h.xmin)) FROM status_commits h"
                "    WHERE h.message_id = m.id AND h.status IN ('sent', 'failed', 'retrying')),"
                "    'infinity') > o.t)"
                " FROM opt_out_at o LEFT JOIN messages m ON m.subject_id = o.subject_id"
                " GROUP BY o.subject_id")) {
    truth[r[0].as<std::string>()] = r[1].as<int64_t>();
  }
  for (const auto& [id, n] : reported) {
    if (truth[id] != n) ++f.mismatches;
    if (n > 0) ++f.in_flight_hits;
  }
  f.denied = txn.exec(
                    "SELECT count(*) FROM messages WHERE status = 'suppressed'"
                    " AND deny_reason = 8")[0][0]
                 .as<int64_t>();
  return f;
}

void ExpectOptOutsHonoured(const OptOutRaceFindings& f, int64_t min_denied) {
  EXPECT_EQ(f.late, 0) << "messages delivered although claimed after the opt-out";
  EXPECT_EQ(f.mismatches, 0) << "opt-outs told a wrong number of messages in flight";
  EXPECT_GE(f.denied, min_denied) << "too few messages were denied mid-campaign";
  EXPECT_GE(f.in_flight_hits, 1) << "no opt-out met a message in flight: the test did not race";
}

}  // namespace herald::testing
