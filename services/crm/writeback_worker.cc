#include "services/crm/writeback_worker.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>
#include <utility>

#include "common/log/log.h"

namespace herald::crm {
namespace {

enum class Result { kPending, kOk, kRetry, kAuth, kDead, kParked };

const char* ResultName(Result r) {
  switch (r) {
    case Result::kOk:
      return "written";
    case Result::kRetry:
      return "retry";
    case Result::kAuth:
      return "parked_auth";
    case Result::kDead:
      return "dead";
    case Result::kParked:
      return "parked";
    case Result::kPending:
      break;
  }
  return "unchanged";
}

}  // namespace

struct WriteBackWorker::Row {
  ClaimedRow claimed;
  KnownCard known;
  CardFlags wanted;
  bool destroyed = false;
  bool merged = false;
  bool changed = false;  // the card differs: something is written
  // Subscription rows: type -> Creatio row id, known or learned here.
  std::map<std::string, std::string> rows;
  std::vector<std::string> lookups;  // types whose row id must be looked up first
  Result result = Result::kPending;
  int status = 0;
  std::string error;
  std::optional<int> retry_after_s;

  void Fail(Result r, int s, std::string e, std::optional<int> after = std::nullopt) {
    if (result != Result::kPending && result != Result::kOk) return;  // the first failure wins
    result = r;
    status = s;
    error = std::move(e);
    retry_after_s = after;
  }
};

namespace {

// What one exchange's failure means for every row it carried; kPending when it answered 200.
Result ExchangeResult(const ODataAnswer& a) {
  switch (a.outcome) {
    case Outcome::kRetryLater:
      return Result::kRetry;
    case Outcome::kAuthFailed:
      return Result::kAuth;
    case Outcome::kAnswered:
      if (a.status == 200) return Result::kPending;
      if (a.status == 429 || a.status >= 500) return Result::kRetry;
      return Result::kParked;
  }
  return Result::kParked;
}

// One item's status: the row's fate when it is not 2xx. A 404 is dead only for the contact
// itself; a subscription row that vanished is looked up again on the retry.
Result ItemResult(int status, bool contact_item) {
  if (status >= 200 && status < 300) return Result::kOk;
  if (status == 0 || status == 429 || status >= 500) return Result::kRetry;
  if (status == 404 && contact_item) return Result::kDead;
  if (status == 401 || status == 403) return Result::kAuth;
  return Result::kParked;
}

// Whether a subscription row of `type` must be written: Creatio is not known to hold the
// wanted status (a type whose status is not known is written).
bool TypeNeedsWrite(const CardFlags& known, const std::string& type, bool unsubscribed) {
  auto k = known.unsubscribed.find(type);
  return k == known.unsubscribed.end() || k->second != unsubscribed;
}

std::string ItemError(int status) {
  return status == 0 ? "not executed" : "HTTP " + std::to_string(status);
}

}  // namespace

WriteBackWorker::WriteBackWorker(db::Pool& pool, CreatioClient& client, const CardDeriver& deriver,
                                 const Clock& clock, prometheus::Registry& metrics)
    : pool_(pool),
      client_(client),
      deriver_(deriver),
      clock_(clock),
      settings_(client.settings()),
      // Half of it covers one exchange with a fresh login, a retry and a second login (about
      // four timeouts): a round renews its rows' leases past half, before each exchange.
      lease_(std::chrono::milliseconds(settings_.timeout_ms) * 10 + std::chrono::seconds(5)),
      outcomes_(prometheus::BuildCounter()
                    .Name("herald_crm_writeback_total")
                    .Help("Write-back rows settled, by outcome: written, unchanged (the card "
                          "already showed it), retry, parked, parked_auth, dead")
                    .Register(metrics)),
      queue_(prometheus::BuildGauge()
                 .Name("herald_crm_writeback_queue")
                 .Help("Write-back rows by state: pending, parked, parked_auth, dead")
                 .Register(metrics)),
      oldest_age_(prometheus::BuildGauge()
                      .Name("herald_crm_writeback_oldest_age_seconds")
                      .Help("Age of the oldest change not yet on a Creatio card")
                      .Register(metrics)
                      .Add({})),
      metadata_problems_(prometheus::BuildGauge()
                             .Name("herald_crm_metadata_problems")
                             .Help("Configured Creatio entities and fields missing from its "
                                   "$metadata at start (or the check could not run)")
                             .Register(metrics)
                             .Add({})),
      rng_(std::random_device{}()) {}

WriteBackWorker::~WriteBackWorker() { Stop(); }

int WriteBackWorker::ItemsPerBatch() const { return std::clamp(settings_.batch_size, 1, 100); }

int WriteBackWorker::RowsPerRound() const { return kBatchesPerRound * ItemsPerBatch(); }

Timestamp WriteBackWorker::Backoff(int attempts, std::optional<int> retry_after_s) {
  Timestamp now = clock_.Now();
  if (retry_after_s) return now + std::chrono::seconds(std::max(0, *retry_after_s));
  // The cap is never below the first delay, whatever the two settings say.
  const double cap = std::max(settings_.backoff_max_ms, settings_.backoff_initial_ms);
  double base = settings_.backoff_initial_ms;
  for (int i = 1; i < attempts && base < cap; ++i) base *= 2;
  base = std::min(base, cap);
  double jitter;
  {
    std::lock_guard lock(rng_mu_);
    jitter = std::uniform_real_distribution<double>(0.5, 1.0)(rng_);
  }
  return now + std::chrono::milliseconds(static_cast<int64_t>(base * jitter));
}

int WriteBackWorker::RunOnce() {
  Timestamp now = clock_.Now();
  std::vector<Row> rows;
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    for (auto& c : ClaimDue(*conn, txn, RowsPerRound(), now, lease_)) {
      rows.push_back(Row{});
      rows.back().claimed = std::move(c);
    }
    txn.commit();
  }
  if (rows.empty()) return 0;

  // What each card should show, and what Creatio is known to show.
  {
    std::vector<std::string> ids;
    for (const auto& r : rows) ids.push_back(r.claimed.subject_id);
    auto conn = pool_.Acquire();
    pqxx::read_transaction txn(conn->raw());
    auto known = LoadKnownCards(*conn, txn, ids);
    std::map<std::string, std::string> states;
    auto wanted = deriver_.Derive(*conn, txn, ids, &states);
    for (auto& r : rows) {
      const std::string& id = r.claimed.subject_id;
      if (auto k = known.find(id); k != known.end()) r.known = k->second;
      r.wanted = wanted[id];
      r.destroyed = states[id] == "destroyed";
      // A subject merged into another: Creatio merged the contacts, so its card is gone and
      // the survivor's card carries the state (the merge marked the survivor too).
      r.merged = states[id] == "merged";
      r.rows = r.known.subscription_rows;
      r.changed = !r.merged && !CardShows(r.known.flags, r.wanted);
      if (!r.changed) continue;
      for (const auto& [type, unsubscribed] : r.wanted.unsubscribed) {
        if (TypeNeedsWrite(r.known.flags, type, unsubscribed) && !r.rows.count(type)) {
          r.lookups.push_back(type);
        }
      }
    }
  }

  const std::string& sub = settings_.subscription_entity;
  const size_t per_batch = static_cast<size_t>(ItemsPerBatch());

  // Sends items grouped by row (a row's items never straddle two $batch requests) and calls
  // `on_item(row, item index within the row, status, body)` for each answered item.
  struct Item {
    Row* row;
    size_t index;
    ODataRequest request;
  };
  // The claim leased every row for one exchange's worth of time (with a login and a retry);
  // a round sends several, so past half the lease the rows still in play get a fresh one.
  auto leased_at = std::chrono::steady_clock::now();
  auto keep_lease = [&] {
    if (std::chrono::steady_clock::now() - leased_at < lease_ / 2) return;
    std::vector<std::string> ids;
    for (const auto& r : rows) {
      if (r.result == Result::kPending) ids.push_back(r.claimed.subject_id);
    }
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    RenewLease(*conn, txn, ids, clock_.Now() + lease_);
    txn.commit();
    leased_at = std::chrono::steady_clock::now();
  };
  auto send = [&](std::vector<std::vector<Item>>& per_row, auto on_item) {
    size_t next = 0;
    while (next < per_row.size()) {
      std::vector<Item> batch;
      while (next < per_row.size() &&
             (batch.empty() || batch.size() + per_row[next].size() <= per_batch)) {
        for (auto& item : per_row[next]) batch.push_back(std::move(item));
        ++next;
      }
      if (batch.empty()) continue;
      std::vector<ODataRequest> requests;
      for (const auto& item : batch) requests.push_back(item.request);
      keep_lease();
      BatchAnswer answer = client_.Batch(requests);
      Result failed = ExchangeResult(answer.exchange);
      if (failed != Result::kPending) {
        std::string error = answer.exchange.error.empty()
                                ? "HTTP " + std::to_string(answer.exchange.status)
                                : answer.exchange.error;
        for (auto& item : batch) {
          item.row->Fail(failed, answer.exchange.status, error, answer.exchange.retry_after_s);
        }
        continue;
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        const BatchItemAnswer empty;
        const BatchItemAnswer& a = i < answer.items.size() ? answer.items[i] : empty;
        on_item(*batch[i].row, batch[i].index, a.status, a.body);
      }
    }
  };

  // Subscription rows whose ids are not known yet: one $batch of GETs.
  {
    std::vector<std::vector<Item>> per_row;
    for (auto& r : rows) {
      if (r.lookups.empty()) continue;
      per_row.emplace_back();
      for (size_t i = 0; i < r.lookups.size(); ++i) {
        per_row.back().push_back({&r,
                                  i,
                                  {"GET",
                                   sub + "?$filter=Contact/Id eq " + r.claimed.contact_id +
                                       " and BulkEmailType/Id eq " + r.lookups[i] + "&$select=Id",
                                   ""}});
      }
    }
    send(per_row, [&](Row& row, size_t i, int status, const std::string& body) {
      if (status != 200) {
        row.Fail(
            ItemResult(status, false) == Result::kDead ? Result::kRetry : ItemResult(status, false),
            status, "lookup: " + ItemError(status));
        return;
      }
      auto json = nlohmann::json::parse(body, nullptr, false);
      if (json.is_discarded() || !json.contains("value") || !json["value"].is_array()) {
        row.Fail(Result::kParked, status, "lookup: unexpected answer");
        return;
      }
      if (!json["value"].empty() && json["value"][0].contains("Id")) {
        row.rows[row.lookups[i]] = json["value"][0]["Id"].get<std::string>();
      }
    });
  }

  // The writes: one absolute PATCH of the contact's flags, then its subscription rows.
  struct Write {
    std::string type;  // empty: the Contact PATCH
    bool post = false;
  };
  std::map<const Row*, std::vector<Write>> writes;
  {
    std::vector<std::vector<Item>> per_row;
    for (auto& r : rows) {
      if (!r.changed || r.result != Result::kPending) continue;
      std::vector<Item> items;
      nlohmann::json flags = {{settings_.do_not_use_email_field, *r.wanted.do_not_use_email},
                              {settings_.do_not_use_sms_field, *r.wanted.do_not_use_sms},
                              {settings_.do_not_use_call_field, *r.wanted.do_not_use_call}};
      items.push_back(
          {&r,
           0,
           {"PATCH", settings_.contact_entity + "(" + r.claimed.contact_id + ")", flags.dump()}});
      writes[&r].push_back({"", false});
      for (const auto& [type, unsubscribed] : r.wanted.unsubscribed) {
        if (!TypeNeedsWrite(r.known.flags, type, unsubscribed)) continue;
        const std::string status =
            unsubscribed ? settings_.unsubscribed_status_id : settings_.subscribed_status_id;
        auto row_id = r.rows.find(type);
        if (row_id != r.rows.end()) {
          items.push_back({&r,
                           items.size(),
                           {"PATCH", sub + "(" + row_id->second + ")",
                            nlohmann::json{{"BulkEmailSubsStatusId", status}}.dump()}});
          writes[&r].push_back({type, false});
        } else if (unsubscribed) {
          items.push_back({&r,
                           items.size(),
                           {"POST", sub,
                            nlohmann::json{{"ContactId", r.claimed.contact_id},
                                           {"BulkEmailTypeId", type},
                                           {"BulkEmailSubsStatusId", status}}
                                .dump()}});
          writes[&r].push_back({type, true});
        }
        // No row and subscribed: Creatio treats the missing row as subscribed already.
      }
      per_row.push_back(std::move(items));
    }
    send(per_row, [&](Row& row, size_t i, int status, const std::string& body) {
      const Write& w = writes[&row][i];
      Result r = ItemResult(status, w.type.empty());
      if (r != Result::kOk) {
        row.Fail(r, status, (w.type.empty() ? "contact: " : "subscription: ") + ItemError(status));
        return;
      }
      if (w.post) {
        auto json = nlohmann::json::parse(body, nullptr, false);
        if (!json.is_discarded() && json.contains("Id") && json["Id"].is_string()) {
          row.rows[w.type] = json["Id"].get<std::string>();
        }
      }
      if (row.result == Result::kPending && i + 1 == writes[&row].size()) row.result = Result::kOk;
    });
  }
  Settle(rows);
  return static_cast<int>(rows.size());
}

void WriteBackWorker::Settle(std::vector<Row>& rows) {
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  // The round's delivered rows are settled set-based: their cards in one statement, their
  // queue rows in two.
  std::vector<CardUpdate> cards;
  std::vector<ClaimedRow> finished;
  std::map<std::string, int64_t> outcomes;
  int stopped = 0, dead = 0;
  const Row* first_stopped = nullptr;
  for (auto& r : rows) {
    if (!r.changed) r.result = Result::kOk;
    switch (r.result) {
      case Result::kOk:
        if (r.destroyed || r.merged) {
          // Its final write: nothing of the subject stays in the connector's tables.
          DeleteCard(*conn, txn, r.claimed.subject_id);
          Forget(*conn, txn, r.claimed.subject_id);
        } else {
          if (r.changed) {
            cards.push_back({r.claimed.subject_id, r.claimed.contact_id, r.wanted, r.rows});
          }
          finished.push_back(r.claimed);
        }
        ++outcomes[r.changed ? "written" : "unchanged"];
        break;
      case Result::kPending:
        // Nothing answered for this row (e.g. the $batch ended early): try again.
        Postpone(*conn, txn, r.claimed, Backoff(r.claimed.attempts, std::nullopt), 0, "no answer");
        ++outcomes["retry"];
        break;
      case Result::kRetry:
        Postpone(*conn, txn, r.claimed, Backoff(r.claimed.attempts, r.retry_after_s), r.status,
                 r.error);
        ++outcomes[ResultName(r.result)];
        break;
      case Result::kAuth:
      case Result::kParked:
      case Result::kDead: {
        StopReason why = r.result == Result::kDead   ? StopReason::kDead
                         : r.result == Result::kAuth ? StopReason::kParkedAuth
                                                     : StopReason::kParked;
        crm::Stop(*conn, txn, r.claimed, why, r.status, r.error, now);
        ++outcomes[ResultName(r.result)];
        if (r.result == Result::kDead) {
          ++dead;
        } else {
          ++stopped;
          if (!first_stopped) first_stopped = &r;
        }
        break;
      }
    }
  }
  RememberCards(*conn, txn, cards, now);
  FinishAll(*conn, txn, finished, now);
  txn.commit();
  for (const auto& [outcome, n] : outcomes) {
    outcomes_.Add({{"outcome", outcome}}).Increment(static_cast<double>(n));
  }
  // One line per round, not per row: a renamed field parks a whole $batch at once.
  if (first_stopped) {
    log::Error(
        "crm write-back parked: the queue waits for `heraldctl crm retry`",
        {{"rows", stopped}, {"status", first_stopped->status}, {"error", first_stopped->error}});
  }
  if (dead > 0) {
    log::Warn("crm write-back dead-lettered: the contact is gone in Creatio", {{"rows", dead}});
  }
}

int64_t WriteBackWorker::Purge() {
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  int64_t n =
      PurgeStopped(*conn, txn, clock_.Now() - std::chrono::hours(24) * settings_.purge_after_days);
  txn.commit();
  return n;
}

void WriteBackWorker::RefreshGauges() {
  try {
    auto conn = pool_.Acquire();
    pqxx::read_transaction txn(conn->raw());
    QueueStatus s = ReadStatus(*conn, txn);
    queue_.Add({{"state", "pending"}}).Set(static_cast<double>(s.pending));
    queue_.Add({{"state", "parked"}}).Set(static_cast<double>(s.parked));
    queue_.Add({{"state", "parked_auth"}}).Set(static_cast<double>(s.parked_auth));
    queue_.Add({{"state", "dead"}}).Set(static_cast<double>(s.dead));
    double age = 0;
    if (s.oldest) {
      age = std::max<double>(0, std::chrono::duration<double>(clock_.Now() - *s.oldest).count());
    }
    oldest_age_.Set(age);
  } catch (const std::exception&) {
    // A scrape while the database is away shows the last values.
  }
}

void WriteBackWorker::Start(int threads, std::chrono::milliseconds idle) {
  for (int i = 0; i < threads; ++i) {
    threads_.emplace_back([this, idle, i] {
      // The names Herald writes, checked against Creatio's $metadata once at start (and any
      // time by `heraldctl crm check`): a renamed field is reported before it parks the queue.
      if (i == 0) {
        auto problems = client_.CheckMetadata();
        metadata_problems_.Set(static_cast<double>(problems.size()));
        for (const auto& p : problems) log::Error("crm: check of Creatio failed", {{"problem", p}});
      }
      Loop(idle);
    });
  }
}

void WriteBackWorker::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void WriteBackWorker::Loop(std::chrono::milliseconds idle) {
  for (;;) {
    int claimed = 0;
    try {
      // Once an hour, by whichever thread comes first.
      int64_t now_s = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
      int64_t last = last_purge_s_.load();
      if (now_s - last >= 3600 && last_purge_s_.compare_exchange_strong(last, now_s)) {
        if (int64_t n = Purge(); n > 0) log::Info("crm write-back purged", {{"rows", n}});
      }
      claimed = RunOnce();
    } catch (const std::exception& e) {
      log::Error("crm write-back round failed", {{"error", e.what()}});
    }
    std::unique_lock lock(mu_);
    if (stopping_) return;
    if (claimed == 0) cv_.wait_for(lock, idle, [this] { return stopping_; });
    if (stopping_) return;
  }
}

}  // namespace herald::crm
