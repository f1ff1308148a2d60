#pragma once
// A gRPC load client on the callback API. Two modes:
//  - open loop: calls are scheduled at a constant offered rate; each call's latency is measured
//    from its *scheduled* send time, so a server (or client) that falls behind shows up as
//    latency instead of being hidden by a slower send rate (no coordinated omission);
//  - closed loop: N calls always in flight, a new one issued as each completes (max throughput).
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace herald::bench {

using SteadyClock = std::chrono::steady_clock;

// Starts call number `seq`; must call `done(ok, error_text)` exactly once, on any thread.
using Done = std::function<void(bool ok, const std::string& error)>;
using IssueFn = std::function<void(uint64_t seq, Done done)>;

struct LoadResult {
  uint64_t ok = 0;
  uint64_t errors = 0;
  double seconds = 0;
  double rate = 0;  // successful calls per second
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  std::string first_error;
  // Every call made, warm-up and drain included: what the CPU of the whole run is divided by.
  uint64_t issued = 0;
};

// `concurrency` calls in flight for `duration` (after `warmup`, not counted).
LoadResult ClosedLoop(const IssueFn& issue, int concurrency, std::chrono::milliseconds duration,
                      std::chrono::milliseconds warmup = std::chrono::milliseconds(500));

// `rate` calls per second for `duration`; latency from the scheduled time. At most
// `max_outstanding` calls in flight (beyond that the schedule slips, and the slip is counted
// in the latency of the late calls).
LoadResult OpenLoop(const IssueFn& issue, double rate, std::chrono::milliseconds duration,
                    int max_outstanding = 4096);

// An IssueFn for a unary RPC of a generated stub's callback API, e.g.
//   Unary<Req, Resp>([stub](auto* c, auto* q, auto* r, auto cb) {
//     stub->async()->CheckEligibility(c, q, r, std::move(cb)); }, fill, key)
template <class Req, class Resp>
IssueFn Unary(
    std::function<void(grpc::ClientContext*, const Req*, Resp*, std::function<void(grpc::Status)>)>
        call,
    std::function<void(uint64_t, Req&)> fill, std::string bearer_key) {
  return [call = std::move(call), fill = std::move(fill), key = std::move(bearer_key)](uint64_t seq,
                                                                                       Done done) {
    struct State {
      grpc::ClientContext ctx;
      Req req;
      Resp resp;
    };
    auto* s = new State;
    if (!key.empty()) s->ctx.AddMetadata("authorization", "Bearer " + key);
    s->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    fill(seq, s->req);
    call(&s->ctx, &s->req, &s->resp, [s, done = std::move(done)](const grpc::Status& st) {
      bool ok = st.ok();
      std::string err =
          ok ? std::string() : std::to_string(st.error_code()) + " " + st.error_message();
      delete s;
      done(ok, err);
    });
  };
}

// Calls of the JSON API (POST with a JSON body over HTTP/1.1 keep-alive), as lean as the
// gRPC client beside it: one event thread drives `connections` keep-alive connections
// (TCP_NODELAY, as .NET's HttpClient), each carrying one call at a time, so a closed loop
// of `connections` calls keeps every connection busy and the client's own cost stays out
// of the server's figure. A call succeeds on 200.
class JsonPoster {
 public:
  JsonPoster(int port, const std::string& path, const std::string& bearer_key, int connections,
             std::function<std::string(uint64_t seq)> body);
  ~JsonPoster();
  JsonPoster(const JsonPoster&) = delete;
  JsonPoster& operator=(const JsonPoster&) = delete;
  IssueFn issue();

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

}  // namespace herald::bench
