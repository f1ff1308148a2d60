#include "services/privacy/privacy_job.h"

#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/log/log.h"
#include "services/privacy/deadlines.h"
#include "services/privacy/request_store.h"

namespace herald::privacy {
namespace {

constexpr db::Statement kOverdue{"privacy_job.overdue", R"sql(
  SELECT id::text, kind, due_at::text
  FROM privacy_requests
  WHERE status = 'open' AND due_at < $1
  ORDER BY due_at, id
)sql"};
// Revocations whose destruction is due, locked while the job closes one that needs no
// destruction. An unconfirmed e-mail revocation is never destroyed: it stays open, overdue,
// for the privacy officer (STANDARDS §2b).
constexpr db::Statement kDueRevocations{"privacy_job.due_revocations", R"sql(
  SELECT p.id::text, p.subject_id::text, s.state, s.revoked
  FROM privacy_requests p
  JOIN subjects s ON s.id = p.subject_id
  WHERE p.status = 'open' AND p.kind = 'revoke' AND p.due_at <= $1
    AND p.confirmation <> 'pending'
    AND NOT (p.id = ANY($3::uuid[]))
  ORDER BY p.due_at, p.id
  LIMIT $2
  FOR UPDATE OF p SKIP LOCKED
)sql"};

// Where a revocation stands after its destruction failed.
constexpr db::Statement kRecheck{"privacy_job.recheck", R"sql(
  SELECT p.status = 'open', s.state = 'active' AND s.revoked
  FROM privacy_requests p
  JOIN subjects s ON s.id = p.subject_id
  WHERE p.id = $1::uuid
)sql"};

constexpr char kDestructionReason[] = "consent to processing revoked (152-FZ art. 21 p. 5)";

}  // namespace

PrivacyJob::PrivacyJob(db::Pool& pool, const Clock& clock, RequestIntake& intake,
                       SubjectDestroyer* destroyer, prometheus::Registry& metrics,
                       std::chrono::milliseconds interval)
    : pool_(pool),
      clock_(clock),
      intake_(intake),
      destroyer_(destroyer),
      overdue_gauge_(prometheus::BuildGauge()
                         .Name("herald_privacy_requests_overdue")
                         .Help("Open data-subject requests past their legal due time, by kind")
                         .Register(metrics)),
      interval_(interval) {
  for (int i = 1; i <= 6; ++i) {
    overdue_gauge_.Add({{"kind", KindName(static_cast<RequestKind>(i))}}).Set(0);
  }
}

PrivacyJob::~PrivacyJob() { Stop(); }

void PrivacyJob::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void PrivacyJob::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PrivacyJob::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    try {
      RunOnce();
    } catch (const std::exception& e) {
      // The database may be away; the next round tries again. No values in the message.
      log::Error("privacy job round failed", {{"type", typeid(e).name()}});
    }
    lock.lock();
    cv_.wait_for(lock, interval_, [this] { return stopping_; });
  }
}

PrivacyJob::Result PrivacyJob::RunOnce() {
  Result result;
  result.opened = intake_.RunOnce().opened;
  Timestamp now = clock_.Now();
  RunDueDestructions(now, result);
  result.overdue = ReportOverdue(now);
  if (retention_ && (!last_retention_ || now - *last_retention_ >= retention_every_)) {
    RetentionSweepResult swept = retention_->Run();
    last_retention_ = now;
    result.retention_swept = true;
    log::Info("retention sweep",
              {{"message_contents_purged", swept.message_contents_purged},
               {"erased_messages_scrubbed", swept.erased_messages_scrubbed},
               {"destruction_records_purged", swept.destruction_records_purged}});
  }
  return result;
}

int PrivacyJob::ReportOverdue(Timestamp now) {
  std::map<std::string, int> by_kind;
  for (int i = 1; i <= 6; ++i) by_kind[KindName(static_cast<RequestKind>(i))] = 0;
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto rows = conn->Exec(txn, kOverdue, ToIso8601(now));
  std::set<std::string> still;
  for (const auto& row : rows) {
    std::string id = row[0].as<std::string>(), kind = row[1].as<std::string>();
    ++by_kind[kind];
    still.insert(id);
    std::lock_guard lock(mu_);
    if (warned_.insert(id).second) {
      log::Warn("privacy request overdue",
                {{"request_id", id}, {"kind", kind}, {"due_at", row[2].as<std::string>()}});
    }
  }
  {
    std::lock_guard lock(mu_);
    std::erase_if(warned_, [&](const std::string& id) { return !still.count(id); });
  }
  for (const auto& [kind, n] : by_kind) overdue_gauge_.Add({{"kind", kind}}).Set(n);
  return static_cast<int>(rows.size());
}

void PrivacyJob::RunDueDestructions(Timestamp now, Result& result) {
  if (!destroyer_) return;
  std::vector<std::string> failed;  // tried this round; retried next round
  while (true) {
    std::string request_id, subject_id;
    {
      auto conn = pool_.Acquire();
      pqxx::work txn(conn->raw());
      auto rows = conn->Exec(txn, kDueRevocations, ToIso8601(now), 1, db::ToArrayLiteral(failed));
      if (rows.empty()) return;
      request_id = rows[0][0].as<std::string>();
      subject_id = rows[0][1].as<std::string>();
      std::string state = rows[0][2].as<std::string>();
      bool revoked = rows[0][3].as<bool>();
      if (state != "active") {
        CloseRequest(*conn, txn, request_id, "done", kPerformedBy,
                     {{"outcome", "subject already " + state}}, now);
        txn.commit();
        ++result.closed;
        continue;
      }
      if (!revoked) {
        // Consent to processing was given again after the revocation: a legal basis exists,
        // so nothing is destroyed (art. 21 p. 5 "unless another basis exists").
        CloseRequest(*conn, txn, request_id, "rejected", kPerformedBy,
                     {{"outcome", "consent granted again; not destroyed"}}, now);
        txn.commit();
        ++result.closed;
        continue;
      }
      // Released before the destruction: it takes the subject's gate row and then this
      // request on its own connection, the order an operator's erasure takes them in.
      // Holding the request here across that wait would close a cycle with such an erasure
      // that PostgreSQL cannot see, since it spans two of our connections.
      txn.abort();
    }
    try {
      std::string record_id =
          destroyer_->DestroyScheduled(request_id, subject_id, kDestructionReason, kPerformedBy);
      ++result.destroyed;
      log::Info("scheduled destruction done",
                {{"request_id", request_id}, {"destruction_record_id", record_id}});
    } catch (const std::exception& e) {
      switch (RecheckRevocation(request_id)) {
        case Recheck::kAnswered:
          // Another worker or an operator's erasure answered it while we waited.
          ++result.skipped;
          log::Info("scheduled destruction already answered", {{"request_id", request_id}});
          continue;
        case Recheck::kNoLongerDue:
          // The subject changed while we waited (destroyed without the request, or consent
          // given again): the next pass closes the request as the branches above do.
          continue;
        case Recheck::kStillDue:
          break;
      }
      // Left open: retried next round, reported overdue meanwhile. Only our own error
      // messages are logged (a database message may quote values).
      ++result.failed;
      failed.push_back(request_id);
      const auto* err = dynamic_cast<const Error*>(&e);
      log::Error("scheduled destruction failed",
                 {{"request_id", request_id},
                  {"error", err ? std::string(err->what()) : std::string(typeid(e).name())}});
    }
  }
}

PrivacyJob::Recheck PrivacyJob::RecheckRevocation(const std::string& request_id) {
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto rows = conn->Exec(txn, kRecheck, request_id);
  if (rows.empty() || !rows[0][0].as<bool>()) return Recheck::kAnswered;
  return rows[0][1].as<bool>() ? Recheck::kStillDue : Recheck::kNoLongerDue;
}

}  // namespace herald::privacy
