#pragma once

// The Creatio connector's end-to-end fixture: a real heraldd with the connector on, pointed
// at the Creatio stand-in over loopback HTTP, and what every connector test asks of it
// (linked subjects, the write-back queue, the writes the stand-in applied). The connector's
// test files differ in the rest of heraldd's configuration, so they pass that in.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "herald/v1/crm.grpc.pb.h"
#include "herald/v1/subscriptions.grpc.pb.h"
#include "tests/support/creatio_stand_in.h"
#include "tests/support/heraldd_process.h"
#include "tests/support/test_database.h"

namespace herald::testing {

// Creatio's stock BulkEmailSubscription statuses, which the stand-in uses too.
inline constexpr char kSubscribed[] = "1a5cd9b8-b999-4b65-b8a8-bd3168792128";
inline constexpr char kUnsubscribed[] = "c8947f80-a374-412a-bbc8-ea9068a8b78e";

// A GUID made from two numbers ("0000000p-0000-4000-8000-00000000000n", both in decimal
// digits), for the contacts and rows tests make in bulk: distinct numbers, distinct GUIDs.
std::string CreatioGuid(int prefix, int n);

// Calls the unary `method` of `stub` with `api_key`; a refused call is a test failure
// (non-fatal) with its message, and the response is returned as it came.
template <typename Stub, typename Request, typename Response>
Response CallAs(Stub& stub,
                grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                const std::string& api_key, const Request& request) {
  grpc::ClientContext ctx;
  Authorize(ctx, api_key);
  Response response;
  grpc::Status status = (stub.*method)(&ctx, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

class CrmConnectorTest : public ::testing::Test {
 protected:
  void SetUp() override;

  // The crm section pointed at the stand-in with its user, the given backoffs and a 2 s
  // timeout; a test appends its own crm lines (a later key overrides an earlier one) and
  // the rest of heraldd's configuration.
  std::string CrmSection(int backoff_initial_ms, int backoff_max_ms) const;

  // Starts heraldd on `yaml` with the stand-in's password and each NAME=value of `env` in
  // its environment, and makes the stubs.
  void StartHeraldd(const std::string& yaml, const std::vector<std::string>& env = {});

  // A linked subject (external_id: the contact's id) with marketing consent on e-mail and
  // SMS; the stand-in holds its card with every flag false. Returns its id ("" when the
  // upsert failed, after recording the failure).
  std::string LinkedSubject(const std::string& contact_id, const std::string& email,
                            const std::string& phone = "");

  // An opt-out of one channel, as the CRM client records it.
  v1::OptOutResponse OptOutChannel(const std::string& subject_id, v1::Channel channel);

  v1::WriteBackStatus Status();

  // Nothing pending, parked or dead in the write-back queue.
  bool QueueEmpty();

  // The contact's PATCHes of the Contact entity, as applied.
  std::vector<nlohmann::json> ContactWrites(const std::string& contact_id);

  CreatioStandIn creatio_;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<HeralddProcess> server_;
  std::unique_ptr<v1::SubscriptionService::Stub> subs_;
  std::unique_ptr<v1::CrmService::Stub> crm_;
};

}  // namespace herald::testing
