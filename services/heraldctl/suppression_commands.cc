// `heraldctl suppressions ...`: which suppression keys rows are stored under and which may
// be retired (keys), and the re-hash that moves rows onto the newest key (rehash). Both page
// through SubscriptionService.RehashSuppressions, one batch (one transaction) a call, so an
// interrupted run changes nothing half-way and is simply run again.
#include "services/heraldctl/suppression_commands.h"

#include <grpcpp/grpcpp.h>

#include <charconv>
#include <iostream>
#include <map>
#include <string>

#include "herald/v1/subscriptions.grpc.pb.h"
#include "services/heraldctl/print.h"

namespace herald::ctl {
namespace {

using v1::SubscriptionService;

int64_t AfterFlag(const Flags& f) {
  if (!f.Has("after-address")) return 0;
  std::string v = f.Get("after-address");
  int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < 0) {
    throw UsageError("--after-address: expected a whole number, got '" + v + "'");
  }
  return n;
}

v1::RehashSuppressionsRequest FirstBatch(const Flags& f, bool dry_run) {
  v1::RehashSuppressionsRequest req;
  req.set_batch_size(IntFlag(f, "batch-size"));
  req.set_after_address(AfterFlag(f));
  req.set_dry_run(dry_run);
  return req;
}

// Calls batch after batch until every address was looked at; `each` sees every answer.
template <typename Each>
grpc::Status Pass(const Context& ctx, v1::RehashSuppressionsRequest req, Each each) {
  SubscriptionService::Stub stub(ctx.channel);
  for (;;) {
    grpc::ClientContext call;
    ctx.Prepare(&call);
    v1::RehashSuppressionsResponse resp;
    grpc::Status status = stub.RehashSuppressions(&call, req, &resp);
    if (!status.ok()) return status;
    each(resp);
    if (resp.done()) return status;
    req.set_after_address(resp.next_after_address());
  }
}

std::string Quoted(const std::string& id) { return "'" + id + "'"; }

// Whether the key may leave the ring, and why not.
std::string DropAdvice(const v1::SuppressionKeyRows& k, int64_t cannot) {
  if (!k.in_ring()) return "MISSING from the ring: put it back";
  if (k.newest()) return "no: the newest key";
  if (k.active_rows() == 0) return "yes";
  if (cannot > 0) {
    return "never: verify-only (" + std::to_string(cannot) +
           " row(s) whose address Herald no longer holds)";
  }
  return "not yet: run `heraldctl suppressions rehash`";
}

void PrintKeys(const v1::RehashSuppressionsResponse& sum) {
  Table t;
  t.AddRow({"KEY", "ROWS", "MOVABLE", "NOT MOVABLE", "DROP"});
  for (const auto& k : sum.keys()) {
    bool older = k.in_ring() && !k.newest();
    int64_t cannot = older ? k.active_rows() - k.rehashed() : 0;
    t.AddRow({k.key_id(), std::to_string(k.active_rows()),
              older ? std::to_string(k.rehashed()) : "-", older ? std::to_string(cannot) : "-",
              DropAdvice(k, cannot)});
  }
  t.Print(std::cout);
}

// A dry pass: what the re-hash would move from each key, and so what would stay.
int Keys(const Context& ctx, const Flags& f) {
  v1::RehashSuppressionsResponse sum;
  std::map<std::string, int64_t> movable;
  auto status = Pass(ctx, FirstBatch(f, true), [&](const v1::RehashSuppressionsResponse& r) {
    for (const auto& k : r.keys()) movable[k.key_id()] += k.rehashed();
    sum = r;
  });
  if (!status.ok()) return Fail(status);
  // One answer for the pass: the last batch's rows, the whole pass's movable counts.
  int64_t total = 0;
  for (auto& k : *sum.mutable_keys()) {
    k.set_rehashed(movable[k.key_id()]);
    if (k.in_ring() && !k.newest()) total += k.rehashed();
  }
  sum.set_rehashed(total);
  sum.set_cannot_rehash(sum.remaining() - total);
  sum.set_next_after_address(0);
  return Output(ctx, sum, [&] { PrintKeys(sum); });
}

int Rehash(const Context& ctx, const Flags& f) {
  v1::RehashSuppressionsResponse last;
  int64_t rehashed = 0;
  auto status = Pass(ctx, FirstBatch(f, false), [&](const v1::RehashSuppressionsResponse& r) {
    rehashed += r.rehashed();
    last = r;
    if (!r.done()) {
      std::cerr << "addresses up to " << r.next_after_address() << ": re-hashed " << rehashed
                << ", " << r.remaining() << " still under older keys\n";
    }
  });
  if (!status.ok()) {
    if (last.next_after_address() > 0) {
      std::cerr << "heraldctl: stopped; nothing is half-done. Run again, or go on with "
                   "--after-address "
                << last.next_after_address() << '\n';
    }
    return Fail(status);
  }
  last.set_rehashed(rehashed);
  // The pass is complete: whatever is still under an older key cannot move. The last batch's
  // per-key counts were that batch's moves, not what is left movable.
  for (auto& k : *last.mutable_keys()) k.set_rehashed(0);
  return Output(ctx, last, [&] {
    std::cout << "re-hashed " << rehashed << " suppression(s) onto key "
              << Quoted(last.newest_key_id()) << '\n';
    std::string keep;
    for (const auto& k : last.keys()) {
      if (!k.newest() && k.active_rows() > 0)
        keep += (keep.empty() ? "" : ", ") + Quoted(k.key_id());
    }
    if (last.cannot_rehash() > 0) {
      std::cout << "cannot be re-keyed: " << last.cannot_rehash()
                << " (their address is no longer held); keep key(s) " << keep
                << " in the ring for good, verify-only\n";
    } else {
      std::cout << "no suppression is under an older key\n";
    }
    PrintKeys(last);
  });
}

}  // namespace

Command SuppressionsCommand() {
  const std::vector<FlagSpec> paging = {
      {"batch-size", "N", "addresses looked at per call, 1..10000 (default 1000)"},
      {"after-address", "N", "start after this address position (what an interrupted run said)"}};
  Command group{"suppressions", "", "The suppression keys: keys, rehash.", {}, nullptr};
  group.subcommands = {
      {"keys", "[--batch-size N]",
       "Each key id suppressions are stored under: rows, how many a re-hash can move, and "
       "whether the key may leave the ring.",
       paging, Keys, true,
       "Reads every subject's address (in batches, changing nothing) to count, per key, the "
       "active suppressions a re-hash would move onto the newest key. Rows whose address "
       "Herald no longer holds (destroyed subjects, bare numbers after an SMS STOP, bare "
       "addresses) can never move: their key is verify-only and must stay in the ring, or "
       "those people would be sent to again. Admin key."},
      {"rehash", "[--batch-size N] [--after-address N]",
       "Move suppressions onto the newest key, batch by batch, printing progress.", paging, Rehash,
       true,
       "Run after the newest key has reached every replica (step 2 of the rotation). Each "
       "batch is one transaction and matching stays right throughout, while heraldd serves; "
       "stopping it leaves nothing half-done, and running it again goes on. At the end it "
       "says how many rows cannot be re-keyed: their keys stay in the ring. Admin key."},
  };
  return group;
}

}  // namespace herald::ctl
