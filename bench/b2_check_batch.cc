// B2: CheckEligibilityBatch recipients/s over 1,000,000 subjects in batches of 10,000, beside
// B1's figure (CheckEligibility requests/s at 64 concurrent calls) measured on the same server
// in the same run.
//   build/bench/bench_b2 [--smoke]
#include <atomic>
#include <iostream>
#include <thread>

#include "bench/bench_support.h"
#include "bench/load_client.h"
#include "herald/v1/subscriptions.grpc.pb.h"

using namespace herald::bench;
using std::chrono::milliseconds;

int main(int argc, char** argv) try {
  bool smoke = ParseSmoke(argc, argv);
  const int subjects = smoke ? 20000 : 1000000;
  const int batch = 10000;
  const int callers = 2;  // concurrent batch calls (the machine's cores)

  Pg pg("b2");
  pg.CreateDatabase("herald");
  Server server(pg.Dsn("herald"), 32, "roles: api,web\n");  // sync gRPC threads: 4 x pool
  server.Start();
  SeedSubjects(pg, "herald", subjects, 10);
  auto ids = SubjectIds(pg, "herald");
  auto channel = server.Channel();
  auto subs = herald::v1::SubscriptionService::NewStub(channel);

  // B1's figure, in this run.
  using CReq = herald::v1::CheckEligibilityRequest;
  using CResp = herald::v1::CheckEligibilityResponse;
  auto check_call = Unary<CReq, CResp>(
      [&](grpc::ClientContext* c, const CReq* q, CResp* r, std::function<void(grpc::Status)> cb) {
        subs->async()->CheckEligibility(c, q, r, std::move(cb));
      },
      [&](uint64_t seq, CReq& q) {
        q.mutable_recipient()->set_subject_id(ids[(seq * 7919) % ids.size()]);
        q.set_channel(herald::v1::EMAIL);
        q.set_topic("special_offers");
      },
      Server::kKey);
  auto single = ClosedLoop(check_call, 64, milliseconds(smoke ? 1500 : 10000));
  if (single.errors || single.ok == 0) {
    std::cerr << "B2: CheckEligibility failed: " << single.first_error << "\n";
    return 1;
  }

  std::atomic<size_t> next{0};
  std::atomic<int64_t> allowed{0}, denied{0}, failures{0};
  auto start = SteadyClock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) {
    threads.emplace_back([&] {
      for (;;) {
        size_t from = next.fetch_add(batch);
        if (from >= ids.size()) return;
        herald::v1::CheckEligibilityBatchRequest req;
        req.set_channel(herald::v1::EMAIL);
        req.set_topic("special_offers");
        for (size_t i = from; i < std::min(ids.size(), from + batch); ++i) {
          req.add_recipients()->set_subject_id(ids[i]);
        }
        herald::v1::CheckEligibilityBatchResponse resp;
        grpc::ClientContext ctx;
        Authorize(ctx);
        auto st = subs->CheckEligibilityBatch(&ctx, req, &resp);
        if (!st.ok() || resp.decisions_size() != req.recipients_size()) {
          ++failures;
          std::cerr << "B2: batch failed: " << st.error_message() << "\n";
          continue;
        }
        for (const auto& d : resp.decisions()) (d.allowed() ? allowed : denied)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (failures > 0) return 1;
  // Every 10th subject opted out: the decisions must say so (a wrong answer is not a figure).
  if (denied != subjects / 10 || allowed != subjects - subjects / 10) {
    std::cerr << "B2: wrong decisions: " << allowed << " allowed, " << denied << " denied\n";
    return 1;
  }
  double rate = subjects / seconds;
  double ratio = rate / single.rate;
  Report({"B2",
          "CheckEligibilityBatch recipients/s, " + std::to_string(subjects) +
              " subjects in batches of 10,000 (2 callers)",
          rate, "recipients/s", "B1 CheckEligibility req/s (64 concurrent), same run", single.rate,
          ratio, "ratio >= 10", ratio >= 10});
  return 0;
} catch (const std::exception& e) {
  std::cerr << "B2 failed: " << e.what() << "\n";
  return 1;
}
