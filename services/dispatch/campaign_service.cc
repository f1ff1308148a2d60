#include "services/dispatch/campaign_service.h"

#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/tablewriter>
#include <regex>
#include <string_view>

#include "common/db/idempotency.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/log/log.h"
#include "common/proto_time.h"
#include "common/time/local_time.h"
#include "common/validation/address.h"
#include "common/validation/input_checks.h"
#include "common/validation/uuid.h"
#include "services/dispatch/content/message_template.h"
#include "services/dispatch/ledger/message_ledger.h"
#include "services/dispatch/message_service.h"

namespace herald::dispatch {
namespace {

constexpr db::Statement kInsertCampaign{"campaigns.insert", R"sql(
  INSERT INTO campaigns (
    id, client_id, name, topic, channel, subject_template, text_template, html_template,
    variables, status, start_at, rate_per_second, created_at
  )
  VALUES (
    gen_random_uuid(), $1, $2, $3, $4, $5, $6, $7,
    $8::text[], 'draft', $9::timestamptz, $10, $11
  )
  RETURNING id::text
)sql"};
// Campaigns with their live counts by status and by deny reason, in one statement: listing a
// page reads each campaign's counts through the messages_campaign (campaign_id, status) index
// instead of three statements per campaign. Lists the campaigns after id $1 (text order), or
// loads campaign $2 alone when it is given.
constexpr db::Statement kCampaignsWithCounts{"campaigns.with_counts", R"sql(
  SELECT c.id::text, c.name, c.topic, c.channel, c.subject_template, c.text_template,
         c.html_template, c.variables, c.status, coalesce(c.start_at::text, ''),
         c.rate_per_second, c.created_at::text, coalesce(c.started_at::text, ''),
         coalesce(c.finished_at::text, ''), c.complaints,
         coalesce(s.counts, '{}'), coalesce(d.counts, '{}'),
         (SELECT coalesce(sum(staged), 0)
          FROM campaign_uploads
          WHERE campaign_id = c.id
            AND state = 'received')
  FROM campaigns c
  LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(status, n)::text AS counts
    FROM (
      SELECT status, count(*) AS n
      FROM messages
      WHERE campaign_id = c.id
      GROUP BY status
    ) x
  ) s ON true
  LEFT JOIN LATERAL (
    SELECT jsonb_object_agg(deny_reason, n)::text AS counts
    FROM (
      SELECT deny_reason, count(*) AS n
      FROM messages
      WHERE campaign_id = c.id AND deny_reason IS NOT NULL
      GROUP BY deny_reason
    ) x
  ) d ON true
  WHERE c.id::text > $1
    AND ($2::uuid IS NULL OR c.id = $2::uuid)
  ORDER BY c.id
  LIMIT $3
)sql"};
constexpr db::Statement kContent{"campaigns.content", R"sql(
  SELECT subject_template, text_template, html_template, variables::text
  FROM campaigns
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kLockCampaign{"campaigns.lock", R"sql(
  SELECT status, coalesce(start_at > $2, false), channel, topic, variables::text
  FROM campaigns
  WHERE id = $1::uuid
  FOR UPDATE
)sql"};
constexpr db::Statement kSetStatus{"campaigns.set_status", R"sql(
  UPDATE campaigns
  SET status = $2,
      started_at = CASE WHEN $2 = 'running' AND started_at IS NULL THEN $3 ELSE started_at END,
      finished_at = CASE WHEN $2 IN ('cancelled', 'finished') THEN $3 ELSE finished_at END
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kStartDue{"campaigns.start_due", R"sql(
  UPDATE campaigns
  SET status = 'running', started_at = $1
  WHERE status = 'scheduled'
    AND start_at <= $1
)sql"};
// Finishing takes the campaign rows first (skipping any a stream's end holds), then looks for
// work left in a separate statement, whose snapshot sees every committed stream; a campaign
// with a stream still uploading is not finished under it.
constexpr db::Statement kLockRunning{"campaigns.lock_running", R"sql(
  SELECT id::text
  FROM campaigns
  WHERE status = 'running'
  FOR UPDATE SKIP LOCKED
)sql"};
constexpr db::Statement kFinishDone{"campaigns.finish_done", R"sql(
  UPDATE campaigns c
  SET status = 'finished', finished_at = $1
  WHERE id IN (SELECT unnest($2::uuid[]))
    AND EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id)
    AND NOT EXISTS (
      SELECT 1
      FROM messages m
      WHERE m.campaign_id = c.id
        AND m.status IN ('queued', 'retrying', 'sending')
    )
    AND NOT EXISTS (
      SELECT 1
      FROM campaign_uploads u
      WHERE u.campaign_id = c.id
        AND u.state <> 'resolved'
    )
)sql"};

// A stream that adds at least this many messages refreshes the planner's statistics.
constexpr int64_t kAnalyzeAfterRows = 1000;

// An AddRecipients stream stores its rows in campaign_uploads / campaign_upload_rows (COPY,
// one short transaction per batch) while the client streams, so a stalled stream holds no
// pooled connection, transaction or campaign lock. The end of the stream marks the upload
// received and answers; the resolver (ResolveNextUpload) then takes the campaign row and
// resolves, de-duplicates and queues the rows set-based in one transaction.
constexpr std::size_t kUploadBatchRows = 50000;
constexpr std::size_t kUploadBatchBytes = 16 << 20;
// A batch goes to PostgreSQL in pieces of about this size, cut at row ends.
constexpr std::size_t kCopyPieceBytes = 256 << 10;
constexpr db::Statement kCampaignForUpload{"recipients.campaign", R"sql(
  SELECT status, channel, topic, variables::text
  FROM campaigns
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kBeginUpload{"recipients.begin_upload", R"sql(
  INSERT INTO campaign_uploads (id, campaign_id, client_id, started_at)
  VALUES (gen_random_uuid(), $1::uuid, $2, $3)
  RETURNING id::text
)sql"};
// The stream ended: the answer is given in this transaction's wake, so the upload must be
// there for the resolver from its commit on.
constexpr db::Statement kReceiveUpload{"recipients.receive_upload", R"sql(
  UPDATE campaign_uploads
  SET state = 'received', received = $2, staged = $3, skipped = $4::jsonb, errors = $5::jsonb,
      received_at = $6
  WHERE id = $1::uuid
    AND state = 'receiving'
)sql"};
constexpr db::Statement kDropUpload{"recipients.drop_upload", R"sql(
  WITH u AS (DELETE FROM campaign_uploads WHERE id = $1::uuid RETURNING id)
  DELETE FROM campaign_upload_rows
  WHERE upload_id = $1::uuid
)sql"};
// Streams that died with their process (a live stream ends within minutes). A received
// upload is never dropped: it waits for a resolver.
constexpr db::Statement kDropStaleUploads{"recipients.drop_stale_uploads", R"sql(
  WITH u AS (
    DELETE FROM campaign_uploads
    WHERE started_at < $1::timestamptz - interval '1 day'
      AND state = 'receiving'
    RETURNING id
  )
  DELETE FROM campaign_upload_rows
  WHERE upload_id IN (SELECT id FROM u)
)sql"};
// The oldest received upload no other resolver holds.
constexpr db::Statement kNextUpload{"recipients.next_upload", R"sql(
  SELECT id::text, campaign_id::text, client_id, skipped::text, errors::text, received
  FROM campaign_uploads
  WHERE state = 'received'
  ORDER BY received_at
  LIMIT 1
  FOR UPDATE SKIP LOCKED
)sql"};
constexpr db::Statement kResolvedUpload{"recipients.resolved_upload", R"sql(
  UPDATE campaign_uploads
  SET state = 'resolved', added = $2, duplicates = $3, skipped = $4::jsonb, errors = $5::jsonb,
      resolved_at = $6
  WHERE id = $1::uuid
)sql"};
// The rows of an upload whose campaign was cancelled before they were resolved.
constexpr db::Statement kDropUploadRows{"recipients.drop_upload_rows", R"sql(
  DELETE FROM campaign_upload_rows
  WHERE upload_id = $1::uuid
  RETURNING row_no
)sql"};
// What is left of a campaign for its estimated finish: the messages not yet decided and
// the latest time one of them waits for (quiet hours, a retry).
constexpr db::Statement kLeft{"campaigns.left", R"sql(
  SELECT count(*), coalesce(max(next_attempt_at)::text, '')
  FROM messages
  WHERE campaign_id = $1::uuid
    AND status IN ('queued', 'retrying')
)sql"};
constexpr db::Statement kUploadsOfCampaign{"recipients.uploads_of_campaign", R"sql(
  SELECT id::text, state, received, added, duplicates, skipped::text, received_at::text,
         coalesce(resolved_at::text, ''), '[]'
  FROM campaign_uploads
  WHERE campaign_id = $1::uuid
    AND state <> 'receiving'
  ORDER BY received_at DESC, id
  LIMIT 20
)sql"};
constexpr db::Statement kUpload{"recipients.upload", R"sql(
  SELECT id::text, state, received, added, duplicates, skipped::text, received_at::text,
         coalesce(resolved_at::text, ''), errors::text
  FROM campaign_uploads
  WHERE id = $1::uuid
    AND campaign_id = $2::uuid
    AND state <> 'receiving'
)sql"};

// (B4) Resolution sorts and joins the whole upload and keeps what it resolved for a second
// look (its skipped rows): with the default 4 MB of work_mem the sort and that store spilled
// to disk, and JIT compiled the joins of a million rows for ~0.2 s of nothing. Both settings
// end with the transaction.
constexpr char kResolveSettings[] = "SET LOCAL work_mem = '256MB'; SET LOCAL jit = off";
// The rows of a resolved upload: queued or skipped, they are no longer needed.
constexpr db::Statement kClearUploadRows{"recipients.clear_upload_rows", R"sql(
  DELETE FROM campaign_upload_rows
  WHERE upload_id = $1::uuid
)sql"};
v1::CampaignStatus StatusFromText(const std::string& s) {
  if (s == "draft") return v1::DRAFT;
  if (s == "scheduled") return v1::SCHEDULED;
  if (s == "running") return v1::RUNNING;
  if (s == "paused") return v1::PAUSED;
  if (s == "cancelled") return v1::CANCELLED_CAMPAIGN;
  if (s == "finished") return v1::FINISHED;
  return v1::CAMPAIGN_STATUS_UNSPECIFIED;
}

std::vector<std::string> ParseTextArray(const std::string& literal) {
  // PostgreSQL text[] output of identifiers: {a,b,c} (names are [a-z0-9_], never quoted).
  std::vector<std::string> out;
  std::string cur;
  for (char c : literal) {
    if (c == '{' || c == '}' || c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  return out;
}

bool IsVariableName(const std::string& s) {
  static const std::regex kName("[a-z][a-z0-9_]{0,63}");
  return std::regex_match(s, kName);
}

// One row of kCampaignsWithCounts.
v1::Campaign CampaignFromRow(const pqxx::row& row) {
  v1::Campaign c;
  c.set_id(row[0].as<std::string>());
  c.set_name(row[1].as<std::string>());
  c.set_topic(row[2].as<std::string>());
  c.set_channel(static_cast<v1::Channel>(row[3].as<int>()));
  c.mutable_content()->set_subject(row[4].as<std::string>());
  c.mutable_content()->set_text(row[5].as<std::string>());
  c.mutable_content()->set_html(row[6].as<std::string>());
  for (const auto& v : ParseTextArray(row[7].as<std::string>())) c.add_variables(v);
  c.set_status(StatusFromText(row[8].as<std::string>()));
  if (!row[9].as<std::string>().empty()) {
    SetTimestamp(c.mutable_start_time(), row[9].as<std::string>());
  }
  c.set_rate_per_second(row[10].as<double>());
  SetTimestamp(c.mutable_create_time(), row[11].as<std::string>());
  if (!row[12].as<std::string>().empty()) {
    SetTimestamp(c.mutable_started_time(), row[12].as<std::string>());
  }
  if (!row[13].as<std::string>().empty()) {
    SetTimestamp(c.mutable_finished_time(), row[13].as<std::string>());
  }
  c.set_complaints(row[14].as<int64_t>());
  int64_t total = 0, terminal = 0;
  // Parsed into locals: items() of a temporary would outlive the object it walks.
  const auto by_status = nlohmann::json::parse(row[15].as<std::string>());
  const auto by_reason = nlohmann::json::parse(row[16].as<std::string>());
  for (const auto& [status, count] : by_status.items()) {
    int64_t n = count.get<int64_t>();
    (*c.mutable_counts_by_status())[status] = n;
    total += n;
    if (status != "queued" && status != "retrying" && status != "sending") terminal += n;
  }
  for (const auto& [reason, count] : by_reason.items()) {
    (*c.mutable_counts_by_deny_reason())[v1::DenyReason_Name(
        static_cast<v1::DenyReason>(std::stoi(reason)))] = count.get<int64_t>();
  }
  c.set_recipients(total);
  c.set_pending_recipients(row[17].as<int64_t>());
  // Rows waiting for resolution will be messages (most of them): the share counts them.
  const int64_t expected = total + c.pending_recipients();
  c.set_progress(expected ? static_cast<double>(terminal) / static_cast<double>(expected) : 0.0);
  return c;
}

// Skipped rows by reason and the first of them by row number, as stored on an upload.
struct SkipReport {
  std::map<std::string, int64_t> by_reason;
  std::vector<std::pair<int64_t, std::string>> first;

  void Add(int64_t row, const std::string& reason) {
    ++by_reason[reason];
    first.emplace_back(row, reason);
    // Rows come in no order; what cannot be among the first is let go as it comes.
    if (first.size() >= 4 * CampaignService::kMaxReportedErrors) Trim();
  }
  // Keeps the first kMaxReportedErrors by row number.
  void Trim() {
    std::sort(first.begin(), first.end());
    if (first.size() > CampaignService::kMaxReportedErrors) {
      first.resize(CampaignService::kMaxReportedErrors);
    }
  }
  int64_t Total() const {
    int64_t n = 0;
    for (const auto& [reason, count] : by_reason) n += count;
    return n;
  }
  std::string ByReasonJson() const { return nlohmann::json(by_reason).dump(); }
  std::string FirstJson() const { return nlohmann::json(first).dump(); }
  static SkipReport Parse(const std::string& by_reason, const std::string& first) {
    SkipReport r;
    r.by_reason = nlohmann::json::parse(by_reason).get<std::map<std::string, int64_t>>();
    r.first = nlohmann::json::parse(first).get<std::vector<std::pair<int64_t, std::string>>>();
    return r;
  }
};

// Appends `v` as a field of PostgreSQL's COPY text format, then a tab.
void AppendCopyField(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out.append("\\\\");
        break;
      case '\t':
        out.append("\\t");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      default:
        out.push_back(c);
    }
  }
  out.push_back('\t');
}

// The campaign an upload adds to (status, channel, topic, declared variables); NOT_FOUND, or
// FAILED_PRECONDITION once it has ended.
pqxx::row CampaignOpenForUpload(db::Connection& conn, pqxx::transaction_base& txn,
                                const std::string& campaign_id) {
  auto rows = conn.Exec(txn, kCampaignForUpload, campaign_id);
  if (rows.empty()) throw NotFound("campaign_id: campaign");
  std::string status = rows[0][0].as<std::string>();
  if (status == "cancelled" || status == "finished") {
    throw FailedPrecondition("campaign_id: the campaign is " + status);
  }
  return rows[0];
}

// One row of kUpload / kUploadsOfCampaign.
v1::RecipientUpload UploadFromRow(const pqxx::row& row, const std::string& campaign_id) {
  v1::RecipientUpload u;
  u.set_id(row[0].as<std::string>());
  u.set_campaign_id(campaign_id);
  u.set_state(row[1].as<std::string>() == "resolved" ? v1::UPLOAD_RESOLVED : v1::UPLOAD_RECEIVED);
  u.set_received(row[2].as<int64_t>());
  u.set_added(row[3].as<int64_t>());
  u.set_duplicates(row[4].as<int64_t>());
  auto report = SkipReport::Parse(row[5].as<std::string>(), row[8].as<std::string>());
  for (const auto& [reason, n] : report.by_reason) (*u.mutable_skipped_by_reason())[reason] = n;
  u.set_skipped(report.Total());
  for (const auto& [r, reason] : report.first) {
    auto* e = u.add_errors();
    e->set_row(r);
    e->set_reason(reason);
  }
  SetTimestamp(u.mutable_receive_time(), row[6].as<std::string>());
  if (!row[7].as<std::string>().empty()) {
    SetTimestamp(u.mutable_resolve_time(), row[7].as<std::string>());
  }
  return u;
}

constexpr db::Statement kCountComplaint{"campaigns.count_complaint", R"sql(
  UPDATE campaigns
  SET complaints = complaints + 1
  WHERE id = $1::uuid
)sql"};

}  // namespace

CampaignService::CampaignService(db::Pool& pool, const Clock& clock, const TopicCatalog& topics,
                                 const subscriptions::EligibilityGate& gate)
    : pool_(pool), clock_(clock), topics_(topics), gate_(gate) {}

v1::CreateCampaignResponse CampaignService::CreateCampaign(const Caller& caller,
                                                           const v1::CreateCampaignRequest& r) {
  if (r.idempotency_key().empty()) throw InvalidArgument("idempotency_key", "required");
  if (r.name().empty()) throw InvalidArgument("name", "required");
  validation::CheckText("name", r.name(), 200);
  const auto& topic = validation::RequireTopic(topics_, "topic", r.topic());
  Channel channel = validation::RequireChannel("channel", r.channel());
  if (channel == Channel::kCall) throw InvalidArgument("channel", "calls are made by people");
  std::set<std::string> allowed = MessageService::BuiltInVariables();
  for (int i = 0; i < r.variables_size(); ++i) {
    const std::string& v = r.variables(i);
    std::string field = "variables[" + std::to_string(i) + "]";
    if (!IsVariableName(v)) throw InvalidArgument(field, "lower-case letters, digits and '_'");
    if (allowed.count(v)) throw InvalidArgument(field, "repeated or reserved name");
    allowed.insert(v);
  }
  const auto& c = r.content();
  if (c.text().empty()) throw InvalidArgument("content.text", "required");
  if (channel == Channel::kEmail && c.subject().empty()) {
    throw InvalidArgument("content.subject", "required for e-mail");
  }
  if (channel == Channel::kSms && (!c.subject().empty() || !c.html().empty())) {
    throw InvalidArgument("content", "SMS takes text only");
  }
  MessageTemplate::Compile({c.subject(), c.text(), c.html()}, allowed);
  // Written so that NaN fails too: every comparison with NaN is false.
  double rate = r.rate_per_second();
  if (rate != 0 && !(rate >= 0.001 && rate <= 100000)) {
    throw InvalidArgument("rate_per_second", "0 (no limit) or from 0.001 to 100000");
  }
  std::optional<std::string> start;
  if (r.has_start_time()) {
    // The edge (request_checks.h) already bounds it; this class is also called directly.
    auto t = FromProtoTimestamp(r.start_time());
    if (!t) {
      throw InvalidArgument("start_time", "not a valid time (from 1970-01-01 to 9999-12-31 UTC)");
    }
    // A schedule to the second: the fraction a client sends is not kept.
    start = ToIso8601(std::chrono::floor<std::chrono::seconds>(*t));
  }
  db::IdempotencyKey idem(caller, "CreateCampaign", r.idempotency_key(), r);
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  std::string id;
  if (auto stored = idem.Claim(*conn, txn, now)) {
    id = (*stored)["campaign_id"];
  } else {
    std::vector<std::string> vars(r.variables().begin(), r.variables().end());
    id = conn->Exec(txn, kInsertCampaign, caller.client_id, r.name(), topic.name,
                    static_cast<int>(channel), c.subject(), c.text(), c.html(),
                    db::ToArrayLiteral(vars), start, r.rate_per_second(), ToIso8601(now))[0][0]
             .as<std::string>();
    idem.Complete(*conn, txn, {{"campaign_id", id}});
  }
  v1::CreateCampaignResponse resp;
  *resp.mutable_campaign() = Load(*conn, txn, id);
  txn.commit();
  return resp;
}

v1::AddRecipientsResponse CampaignService::AddRecipients(
    const Caller& caller, const std::function<bool(v1::AddRecipientsRequest*)>& next,
    const std::function<bool()>& cancelled) {
  v1::AddRecipientsRequest msg;
  if (!next(&msg)) throw InvalidArgument("campaign_id", "the stream was empty");
  std::string campaign_id = validation::RequireUuid("campaign_id", msg.campaign_id());
  Timestamp now = clock_.Now();
  Channel channel = Channel::kEmail;
  std::string topic, upload_id;
  std::vector<std::string> declared;
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    auto campaign = CampaignOpenForUpload(*conn, txn, campaign_id);
    channel = static_cast<Channel>(campaign[1].as<int>());
    topic = campaign[2].as<std::string>();
    declared = ParseTextArray(campaign[3].as<std::string>());
    upload_id = conn->Exec(txn, kBeginUpload, campaign_id, caller.client_id, ToIso8601(now))[0][0]
                    .as<std::string>();
    txn.commit();
  }
  try {
    return ReceiveUpload(campaign_id, upload_id,
                         StageUpload(upload_id, channel, declared, msg, next, campaign_id),
                         cancelled);
  } catch (...) {
    try {
      auto conn = pool_.Acquire();
      pqxx::work txn(conn->raw());
      conn->Exec(txn, kDropUpload, upload_id);
      txn.commit();
    } catch (const std::exception& e) {
      log::Warn("could not drop a failed recipient upload; housekeeping will",
                {{"error_type", typeid(e).name()}});
    }
    throw;
  }
}

CampaignService::StagedUpload CampaignService::StageUpload(
    const std::string& upload_id, Channel channel, const std::vector<std::string>& declared,
    v1::AddRecipientsRequest& msg, const std::function<bool(v1::AddRecipientsRequest*)>& next,
    const std::string& campaign_id) {
  const bool email = channel == Channel::kEmail;
  StagedUpload up;
  auto skip = [&](int64_t row, const std::string& reason) {
    ++up.skipped[reason];
    if (up.errors.size() < kMaxReportedErrors) up.errors.emplace_back(row, reason);
  };
  // The batch as COPY text, built as rows are checked: one buffer, no per-row objects.
  std::string batch;
  std::size_t batch_rows = 0;
  // One short transaction per batch: the connection goes back to the pool before the next
  // message of the stream is awaited. A batch is written on a thread of its own while the
  // stream reads and checks the next one (at most one batch in flight, so memory stays
  // bounded); a failed write ends the stream at the next batch or at its end. The two
  // buffers take turns, so the stream allocates them once.
  std::future<std::string> writing;
  std::string spare;
  auto flush = [&] {
    if (writing.valid()) spare = writing.get();
    if (batch.empty()) return;
    batch.pop_back();  // write_raw_line ends the text with the last row's newline
    writing = std::async(std::launch::async, [this, text = std::move(batch)]() mutable {
      const std::vector<std::string> columns{"upload_id", "row_no",    "subject_id", "external_id",
                                             "address",   "match_key", "variables"};
      auto conn = pool_.Acquire();
      pqxx::work txn(conn->raw());
      {
        // COPY data need not come a row per message: the whole batch, already in COPY text
        // format, goes as one. libpqxx 6.4 takes such text only through tablewriter
        // (stream_to, its successor, keeps write_raw_line private and escapes every field
        // of every row itself, which cost more than the rest of the stream).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        pqxx::tablewriter stage(txn, "campaign_upload_rows", columns.begin(), columns.end());
#pragma GCC diagnostic pop
        // In pieces of whole rows: libpq copies each piece into the connection's output
        // buffer, which grows to fit and never shrinks, so one 16 MB piece left every pooled
        // connection that wrote a batch holding 16-32 MB (B9: heraldd's peak RSS 239 MB).
        for (std::size_t at = 0; at < text.size();) {
          std::size_t end = at + kCopyPieceBytes >= text.size()
                                ? text.size()
                                : text.find('\n', at + kCopyPieceBytes);
          if (end == std::string::npos) end = text.size();
          stage.write_raw_line(text.substr(at, end - at));  // adds the row's newline back
          at = end + 1;
        }
        stage.complete();
      }
      txn.commit();
      return std::move(text);
    });
    batch = std::move(spare);  // keeps its capacity: it grew to a batch's size once
    batch.clear();
    batch_rows = 0;
  };
  std::string vars;
  do {
    if (!msg.campaign_id().empty() &&
        !(validation::IsUuid(msg.campaign_id()) &&
          validation::RequireUuid("campaign_id", msg.campaign_id()) == campaign_id)) {
      throw InvalidArgument("campaign_id", "one stream adds to one campaign");
    }
    for (const auto& row : msg.rows()) {
      int64_t row_no = ++up.received;
      if (!row.subject_id().empty() && !validation::IsUuid(row.subject_id())) {
        skip(row_no, "bad subject id");
        continue;
      }
      if (row.external_id().size() > 128) {
        skip(row_no, "bad external id");
        continue;
      }
      std::optional<validation::NormalizedAddress> address;
      if (!row.address().empty()) {
        auto res = email ? validation::NormalizeEmail(row.address())
                         : validation::NormalizePhone(row.address(), gate_.default_region());
        auto* a = std::get_if<validation::NormalizedAddress>(&res);
        if (!a) {
          skip(row_no, "bad address");
          continue;
        }
        address = std::move(*a);
      }
      if (row.subject_id().empty() && row.external_id().empty() && !address) {
        skip(row_no, "no recipient");
        continue;
      }
      bool missing = false, bad_value = false;
      for (const auto& name : declared) {
        auto it = row.variables().find(name);
        if (it == row.variables().end()) {
          missing = true;
          break;
        }
      }
      if (missing) {
        skip(row_no, "missing variable");
        continue;
      }
      // Checked values are UTF-8 without control characters, and names are [a-z0-9_]: the
      // JSON text needs only '"' and '\' escaped.
      vars.assign("{");
      for (const auto& name : declared) {
        const std::string& value = row.variables().at(name);
        try {
          validation::CheckText(name, value, 4096);
        } catch (const Error&) {
          bad_value = true;
          break;
        }
        if (vars.size() > 1) vars.push_back(',');
        vars.append("\"").append(name).append("\":\"");
        for (char c : value) {
          if (c == '"' || c == '\\') vars.push_back('\\');
          vars.push_back(c);
        }
        vars.push_back('"');
      }
      if (bad_value) {
        skip(row_no, "bad variable value");
        continue;
      }
      vars.push_back('}');
      batch.append(upload_id).push_back('\t');
      batch.append(std::to_string(row_no)).push_back('\t');
      AppendCopyField(batch, row.subject_id());
      AppendCopyField(batch, row.external_id());
      AppendCopyField(batch, address ? address->value : std::string());
      AppendCopyField(batch, address ? address->match_key : std::string());
      AppendCopyField(batch, vars);
      batch.back() = '\n';
      if (++batch_rows >= kUploadBatchRows || batch.size() >= kUploadBatchBytes) flush();
    }
  } while (next(&msg));
  flush();
  if (writing.valid()) writing.get();
  return up;
}

v1::AddRecipientsResponse CampaignService::ReceiveUpload(const std::string& campaign_id,
                                                         const std::string& upload_id,
                                                         const StagedUpload& up,
                                                         const std::function<bool()>& cancelled) {
  if (cancelled()) throw Error(ErrorCode::kUnavailable, "the stream was broken; nothing added");
  SkipReport report;
  report.by_reason = up.skipped;
  report.first = up.errors;
  report.Trim();
  const int64_t staged = up.received - report.Total();
  {
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    // Checked again at the end: the campaign may have ended while the client streamed. One
    // ending after this is the resolver's to see.
    CampaignOpenForUpload(*conn, txn, campaign_id);
    auto done = conn->Exec(txn, kReceiveUpload, upload_id, up.received, staged,
                           report.ByReasonJson(), report.FirstJson(), ToIso8601(clock_.Now()));
    if (done.affected_rows() != 1) {
      throw Error(ErrorCode::kUnavailable,
                  "the upload was dropped as abandoned (over a day); nothing added, send again");
    }
    txn.commit();
  }
  if (on_received_) on_received_();
  v1::AddRecipientsResponse resp;
  resp.set_received(up.received);
  resp.set_upload_id(upload_id);
  for (const auto& [reason, n] : report.by_reason) {
    (*resp.mutable_skipped_by_reason())[reason] = n;
  }
  resp.set_skipped(report.Total());
  for (const auto& [row, reason] : report.first) {
    auto* e = resp.add_errors();
    e->set_row(row);
    e->set_reason(reason);
  }
  return resp;
}

bool CampaignService::ResolveNextUpload() {
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto next = conn->Exec(txn, kNextUpload);
  if (next.empty()) return false;
  const std::string upload_id = next[0][0].as<std::string>();
  const std::string campaign_id = next[0][1].as<std::string>();
  const std::string client_id = next[0][2].as<std::string>();
  SkipReport report = SkipReport::Parse(next[0][3].as<std::string>(), next[0][4].as<std::string>());
  const int64_t received = next[0][5].as<int64_t>();
  Timestamp now = clock_.Now();
  // The campaign row, as every state change takes it: a cancel waits for this resolution or
  // comes first, and then the rows are not queued.
  auto campaign = conn->Exec(txn, kLockCampaign, campaign_id, ToIso8601(now));
  const std::string status = campaign.empty() ? "cancelled" : campaign[0][0].as<std::string>();
  int64_t added = 0;
  if (status == "cancelled" || status == "finished") {
    for (const auto& r : conn->Exec(txn, kDropUploadRows, upload_id)) {
      report.Add(r[0].as<int64_t>(), "campaign " + status);
    }
  } else {
    const auto channel = static_cast<Channel>(campaign[0][2].as<int>());
    const std::string topic = campaign[0][3].as<std::string>();
    txn.exec(kResolveSettings);
    auto queued = ledger::EnqueueCampaignUpload(*conn, txn, upload_id,
                                                static_cast<int>(KindOf(channel)), campaign_id,
                                                client_id, static_cast<int>(channel), topic, now);
    added = queued.added;
    for (const auto& [row, reason] : queued.skipped) report.Add(row, reason);
    conn->Exec(txn, kClearUploadRows, upload_id);
  }
  report.Trim();
  // Every received row is added, a duplicate or skipped (no count(*) pass over the stage).
  const int64_t duplicates = received - added - report.Total();
  conn->Exec(txn, kResolvedUpload, upload_id, added, duplicates, report.ByReasonJson(),
             report.FirstJson(), ToIso8601(clock_.Now()));
  txn.commit();
  // After a bulk load the planner still believes the outbox nearly empty and sorts every due
  // message for each claim instead of reading the due index in order (O(N) per batch).
  // Autovacuum would analyze later; a campaign already running would not wait for it.
  if (added >= kAnalyzeAfterRows) {
    try {
      pqxx::nontransaction analyze(conn->raw());
      analyze.exec0("ANALYZE messages");
    } catch (const std::exception& e) {
      log::Warn("could not analyze messages after a bulk load", {{"error_type", typeid(e).name()}});
    }
  }
  return true;
}

v1::RecipientUpload CampaignService::GetUpload(const Caller&,
                                               const v1::GetRecipientUploadRequest& r) {
  std::string campaign_id = validation::RequireUuid("campaign_id", r.campaign_id());
  std::string upload_id = validation::RequireUuid("upload_id", r.upload_id());
  auto conn = pool_.Acquire();
  pqxx::nontransaction txn(conn->raw());  // one read: no BEGIN/COMMIT needed
  auto rows = conn->Exec(txn, kUpload, upload_id, campaign_id);
  if (rows.empty()) throw NotFound("upload_id: upload of this campaign");
  return UploadFromRow(rows[0], campaign_id);
}

v1::Campaign CampaignService::Transition(
    const std::string& campaign_id, const char* verb,
    const std::function<std::string(const std::string&, bool)>& next_status) {
  std::string id = validation::RequireUuid("campaign_id", campaign_id);
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto rows = conn->Exec(txn, kLockCampaign, id, ToIso8601(now));
  if (rows.empty()) throw NotFound("campaign_id: campaign");
  std::string status = rows[0][0].as<std::string>();
  std::string next = next_status(status, rows[0][1].as<bool>());
  if (next.empty()) {
    throw FailedPrecondition(std::string("campaign_id: cannot ") + verb + " a campaign that is " +
                             status);
  }
  conn->Exec(txn, kSetStatus, id, next, ToIso8601(now));
  if (next == "cancelled") ledger::CancelCampaignMessages(*conn, txn, id, now);
  v1::Campaign c = Load(*conn, txn, id);
  txn.commit();
  return c;
}

v1::Campaign CampaignService::Start(const Caller&, const std::string& campaign_id) {
  return Transition(campaign_id, "start", [](const std::string& s, bool future) {
    return s == "draft" ? std::string(future ? "scheduled" : "running") : std::string();
  });
}

v1::Campaign CampaignService::Pause(const Caller&, const std::string& campaign_id) {
  return Transition(campaign_id, "pause", [](const std::string& s, bool) {
    return s == "running" || s == "scheduled" ? std::string("paused") : std::string();
  });
}

v1::Campaign CampaignService::Resume(const Caller&, const std::string& campaign_id) {
  return Transition(campaign_id, "resume", [](const std::string& s, bool future) {
    return s == "paused" ? std::string(future ? "scheduled" : "running") : std::string();
  });
}

v1::Campaign CampaignService::Cancel(const Caller&, const std::string& campaign_id) {
  return Transition(campaign_id, "cancel", [](const std::string& s, bool) {
    return s == "cancelled" || s == "finished" ? std::string() : std::string("cancelled");
  });
}

v1::Campaign CampaignService::Get(const Caller&, const std::string& campaign_id) {
  std::string id = validation::RequireUuid("campaign_id", campaign_id);
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  return Load(*conn, txn, id);
}

MessageTemplate CampaignService::CompiledContent(const std::string& campaign_id) {
  auto conn = pool_.Acquire();
  pqxx::nontransaction txn(conn->raw());  // one read: no BEGIN/COMMIT needed
  auto rows = conn->Exec(txn, kContent, campaign_id);
  if (rows.empty()) throw NotFound("campaign " + campaign_id);
  std::set<std::string> allowed = MessageService::BuiltInVariables();
  for (auto& v : ParseTextArray(rows[0][3].as<std::string>())) allowed.insert(std::move(v));
  return MessageTemplate::Compile(
      {rows[0][0].as<std::string>(), rows[0][1].as<std::string>(), rows[0][2].as<std::string>()},
      allowed);
}

v1::ListCampaignsResponse CampaignService::List(const Caller&, const v1::ListCampaignsRequest& r) {
  int limit = validation::PageSize(r.page_size());
  std::string after = validation::DecodePageToken(r.page_token());
  auto conn = pool_.Acquire();
  pqxx::read_transaction txn(conn->raw());
  auto rows = conn->Exec(txn, kCampaignsWithCounts, after, std::optional<std::string>(), limit + 1);
  v1::ListCampaignsResponse resp;
  for (int i = 0; i < static_cast<int>(rows.size()) && i < limit; ++i) {
    *resp.add_campaigns() = CampaignFromRow(rows[i]);
  }
  if (static_cast<int>(rows.size()) > limit) {
    resp.set_next_page_token(validation::EncodePageToken(resp.campaigns(limit - 1).id()));
  }
  return resp;
}

void CampaignService::AdvanceCampaigns() {
  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  conn->Exec(txn, kStartDue, ToIso8601(now));
  conn->Exec(txn, kDropStaleUploads, ToIso8601(now));
  std::vector<std::string> running;
  for (const auto& r : conn->Exec(txn, kLockRunning)) running.push_back(r[0].as<std::string>());
  if (!running.empty()) {
    conn->Exec(txn, kFinishDone, ToIso8601(now), db::ToArrayLiteral(running));
  }
  txn.commit();
}

v1::Campaign CampaignService::Load(db::Connection& conn, pqxx::transaction_base& txn,
                                   const std::string& id) {
  auto rows =
      conn.Exec(txn, kCampaignsWithCounts, std::string(), std::optional<std::string>(id), 1);
  if (rows.empty()) throw NotFound("campaign_id: campaign");
  v1::Campaign c = CampaignFromRow(rows[0]);
  for (const auto& u : conn.Exec(txn, kUploadsOfCampaign, id)) {
    *c.add_uploads() = UploadFromRow(u, id);
  }
  EstimateFinish(conn, txn, c);
  return c;
}

void CampaignService::EstimateFinish(db::Connection& conn, pqxx::transaction_base& txn,
                                     v1::Campaign& c) const {
  if (c.status() != v1::SCHEDULED && c.status() != v1::RUNNING && c.status() != v1::PAUSED) {
    return;
  }
  auto left = conn.Exec(txn, kLeft, c.id())[0];
  const int64_t messages = left[0].as<int64_t>() + c.pending_recipients();
  if (messages == 0) return;
  Timestamp from = clock_.Now();
  if (c.has_start_time()) from = std::max(from, *FromProtoTimestamp(c.start_time()));
  // At the campaign's pace, outside the operator's quiet hours for a marketing topic (the
  // zone most recipients live in; each message waits for its own recipient's).
  std::chrono::microseconds work{0};
  if (c.rate_per_second() > 0) {
    work = std::chrono::microseconds(
        static_cast<int64_t>(static_cast<double>(messages) / c.rate_per_second() * 1e6));
  }
  const TopicInfo* topic = topics_.Find(c.topic());
  const auto& fair = gate_.fair_sending();
  std::optional<DailyWindow> quiet;
  if (topic && topic->marketing) quiet = fair.QuietHours(static_cast<Channel>(c.channel()));
  Timestamp finish = FinishOutside(quiet, fair.time_zone, from, work);
  // A message already held back past that (its recipient's quiet hours, a retry) ends later.
  if (const std::string latest = left[1].as<std::string>(); !latest.empty()) {
    finish = std::max(finish, ParseTimestamp(latest));
  }
  SetTimestamp(c.mutable_estimated_finish_time(), finish);
}

void CountCampaignComplaint(db::Connection& conn, pqxx::transaction_base& txn,
                            const std::string& campaign_id) {
  conn.Exec(txn, kCountComplaint, campaign_id);
}

}  // namespace herald::dispatch
