#pragma once

#include <cstdint>
#include <map>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace herald::testing {

// Proofs of the gate invariant while opt-outs race a campaign, judged from PostgreSQL's commit
// timestamps (track_commit_timestamp on) and the sink, never from the service's counters.

// A witness of every status change of `messages` as it commits: a row of status_commits
// written by the transaction that made it (so pg_xact_commit_timestamp(xmin) is that change's
// commit time), with the lease owner and attempt number the claim wrote. The ledger keeps a
// claim on the message and clears the owner at completion, so no row of its own carries the
// claim's commit time or which process sent it. Before the campaign starts.
void InstallStatusWitness(const TestDatabase& db);

// Opts each of `subjects` out of all marketing through `api`, a few milliseconds apart at
// random (a fixed seed), and after every tenth also a recipient whose message is in flight
// (SENDING in `db`) at that moment; returns the in-flight count each answer reported, keyed
// by every subject opted out. Every call must succeed (a failure is a test failure).
std::map<std::string, int64_t> OptOutWhileSending(const HeralddProcess& api, const TestDatabase& db,
                                                  const std::vector<std::string>& subjects);

struct OptOutRaceFindings {
  int64_t late = 0;        // delivered messages claimed after their recipient's opt-out committed
  int mismatches = 0;      // opt-outs whose reported in-flight count differs from the witness
  int in_flight_hits = 0;  // opt-outs that met a message in flight
  int64_t denied = 0;      // messages the gate refused mid-campaign (reason: opted out)
};
// Judges the race: `delivered` are the ids of the messages that reached the sink, `reported`
// what OptOutWhileSending returned. Writes only an index on the witness and a temporary table.
OptOutRaceFindings JudgeOptOutRace(pqxx::transaction_base& txn,
                                   const std::vector<std::string>& delivered,
                                   const std::map<std::string, int64_t>& reported);

// The race's verdicts as test expectations: nothing delivered that was claimed after its
// opt-out committed, every reported in-flight count true, and the race really happened (at
// least `min_denied` messages refused mid-campaign, at least one opt-out meeting a message in
// flight), so that the first two cannot pass on a run that raced nothing.
void ExpectOptOutsHonoured(const OptOutRaceFindings& f, int64_t min_denied);

}  // namespace herald::testing
