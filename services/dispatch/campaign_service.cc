#include "services/dispatch/campaign_service.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <tuple>

#include "common/db/idempotency.h"
#include "common/db/sql_array.h"
#include "common/db/statement.h"
#include "common/error.h"
#include "common/log/log.h"
#include "common/proto_time.h"
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
         coalesce(s.counts, '{}'), coalesce(d.counts, '{}')
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
    AND NOT EXISTS (SELECT 1 FROM campaign_uploads u WHERE u.campaign_id = c.id)
)sql"};

// A stream that adds at least this many messages refreshes the planner's statistics.
constexpr int64_t kAnalyzeAfterRows = 1000;

// An AddRecipients stream stages its rows in campaign_uploads / campaign_upload_rows (COPY,
// one short transaction per batch) while the client streams, so a stalled stream holds no
// pooled connection, transaction or campaign lock. At the end of the stream one transaction
// takes the campaign row, moves the upload into a temporary stage and queues from there.
constexpr std::size_t kUploadBatchRows = 5000;
constexpr std::size_t kUploadBatchBytes = 8 << 20;
constexpr db::Statement kCampaignForUpload{"recipients.campaign", R"sql(
  SELECT status, channel, topic, variables::text
  FROM campaigns
  WHERE id = $1::uuid
)sql"};
constexpr db::Statement kBeginUpload{"recipients.begin_upload", R"sql(
  INSERT INTO campaign_uploads (id, campaign_id, started_at)
  VALUES (gen_random_uuid(), $1::uuid, $2)
  RETURNING id::text
)sql"};
constexpr db::Statement kTakeUpload{"recipients.take_upload", R"sql(
  WITH u AS (
    DELETE FROM campaign_upload_rows
    WHERE upload_id = $1::uuid
    RETURNING row_no, subject_id, external_id, address, match_key, variables
  )
  INSERT INTO recipients_stage
  SELECT *
  FROM u
)sql"};
constexpr db::Statement kDropUpload{"recipients.drop_upload", R"sql(
  WITH u AS (DELETE FROM campaign_uploads WHERE id = $1::uuid RETURNING id)
  DELETE FROM campaign_upload_rows
  WHERE upload_id = $1::uuid
)sql"};
// Uploads whose stream died with its process (a live stream ends within minutes).
constexpr db::Statement kDropStaleUploads{"recipients.drop_stale_uploads", R"sql(
  WITH u AS (
    DELETE FROM campaign_uploads
    WHERE started_at < $1::timestamptz - interval '1 day'
    RETURNING id
  )
  DELETE FROM campaign_upload_rows
  WHERE upload_id IN (SELECT id FROM u)
)sql"};

// The stage of one stream's end, filled from its upload; dropped at commit.
constexpr char kCreateStage[] = R"sql(
  CREATE TEMP TABLE recipients_stage (
    row_no bigint, subject_id text, external_id text, address text, match_key text, variables text
  ) ON COMMIT DROP
)sql";
// (B4) The end of a stream sorts and joins the whole stage. With the default 4 MB
// of work_mem every sort spilled to disk, and JIT compiled the anti-join of a million rows
// for ~0.2 s of nothing; both settings end with the transaction.
constexpr char kStreamSettings[] = "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off";
// Rows given by subject id must name an active subject (checked before resolution, so rows
// resolved from a CRM id below are not checked twice).
constexpr db::Statement kUnknownGiven{"recipients.unknown_given", R"sql(
  DELETE FROM recipients_stage r
  WHERE r.subject_id <> ''
    AND NOT EXISTS (
      SELECT 1
      FROM subjects s
      WHERE s.id = r.subject_id::uuid
        AND s.state = 'active'
    )
  RETURNING row_no
)sql"};
// A CRM id resolves to its active subject and, in the same pass, to the subject's primary
// address of the channel's kind (the oldest; one index probe per row via
// addresses (subject_id, kind, match_key)) unless the row gave its own address.
constexpr db::Statement kResolveExternal{"recipients.resolve_external", R"sql(
  UPDATE recipients_stage r
  SET subject_id = s.id::text,
      address = CASE WHEN r.address = '' THEN coalesce(a.value, '') ELSE r.address END,
      match_key = CASE WHEN r.address = '' THEN coalesce(a.match_key, '') ELSE r.match_key END
  FROM subjects s
  LEFT JOIN LATERAL (
    SELECT value, match_key
    FROM addresses
    WHERE subject_id = s.id
      AND kind = $1
    ORDER BY added_at, id
    LIMIT 1
  ) a ON true
  WHERE r.subject_id = ''
    AND r.external_id <> ''
    AND s.external_id = r.external_id
    AND s.state = 'active'
)sql"};
constexpr db::Statement kUnresolved{"recipients.unresolved", R"sql(
  DELETE FROM recipients_stage
  WHERE external_id <> ''
    AND subject_id = ''
  RETURNING row_no
)sql"};
// Rows given by subject id without an address: the subject's primary address of the kind.
constexpr db::Statement kPrimaryAddresses{"recipients.primary_addresses", R"sql(
  UPDATE recipients_stage r
  SET (address, match_key) = (
    SELECT coalesce(a.value, ''), coalesce(a.match_key, '')
    FROM addresses a
    WHERE a.subject_id = r.subject_id::uuid
      AND a.kind = $1
    ORDER BY a.added_at, a.id
    LIMIT 1
  )
  WHERE r.address = ''
    AND r.subject_id <> ''
)sql"};
constexpr db::Statement kNoAddress{"recipients.no_address", R"sql(
  DELETE FROM recipients_stage
  WHERE address IS NULL OR address = ''
  RETURNING row_no
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
  c.set_progress(total ? static_cast<double>(terminal) / static_cast<double>(total) : 0.0);
  return c;
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
    auto rows = conn->Exec(txn, kCampaignForUpload, campaign_id);
    if (rows.empty()) throw NotFound("campaign_id: campaign");
    std::string status = rows[0][0].as<std::string>();
    if (status == "cancelled" || status == "finished") {
      throw FailedPrecondition("campaign_id: the campaign is " + status);
    }
    channel = static_cast<Channel>(rows[0][1].as<int>());
    topic = rows[0][2].as<std::string>();
    declared = ParseTextArray(rows[0][3].as<std::string>());
    upload_id = conn->Exec(txn, kBeginUpload, campaign_id, ToIso8601(now))[0][0].as<std::string>();
    txn.commit();
  }
  try {
    return FinishUpload(caller, campaign_id, upload_id, channel, topic,
                        StageUpload(upload_id, channel, declared, msg, next, campaign_id), now,
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
  using StagedRow = std::tuple<std::string, int64_t, std::string, std::string, std::string,
                               std::string, std::string>;
  std::vector<StagedRow> batch;
  std::size_t batch_bytes = 0;
  // One short transaction per batch: the connection goes back to the pool before the next
  // message of the stream is awaited.
  auto flush = [&] {
    if (batch.empty()) return;
    auto conn = pool_.Acquire();
    pqxx::work txn(conn->raw());
    pqxx::stream_to stage(
        txn, "campaign_upload_rows",
        std::vector<std::string>{"upload_id", "row_no", "subject_id", "external_id", "address",
                                 "match_key", "variables"});
    for (const auto& row : batch) stage << row;
    stage.complete();
    txn.commit();
    batch.clear();
    batch_bytes = 0;
  };
  do {
    if (!msg.campaign_id().empty() &&
        !(validation::IsUuid(msg.campaign_id()) &&
          validation::RequireUuid("campaign_id", msg.campaign_id()) == campaign_id)) {
      throw InvalidArgument("campaign_id", "one stream adds to one campaign");
    }
    for (const auto& row : msg.rows()) {
      int64_t row_no = ++up.received;
      std::string subject_id, external_id, address, match_key;
      if (!row.subject_id().empty()) {
        if (!validation::IsUuid(row.subject_id())) {
          skip(row_no, "bad subject id");
          continue;
        }
        subject_id = row.subject_id();
      }
      if (!row.external_id().empty()) {
        if (row.external_id().size() > 128) {
          skip(row_no, "bad external id");
          continue;
        }
        external_id = row.external_id();
      }
      if (!row.address().empty()) {
        auto res = email ? validation::NormalizeEmail(row.address())
                         : validation::NormalizePhone(row.address(), gate_.default_region());
        auto* a = std::get_if<validation::NormalizedAddress>(&res);
        if (!a) {
          skip(row_no, "bad address");
          continue;
        }
        address = a->value;
        match_key = a->match_key;
      }
      if (subject_id.empty() && external_id.empty() && address.empty()) {
        skip(row_no, "no recipient");
        continue;
      }
      nlohmann::json vars = nlohmann::json::object();
      bool missing = false;
      for (const auto& name : declared) {
        auto it = row.variables().find(name);
        if (it == row.variables().end()) {
          missing = true;
          break;
        }
        vars[name] = it->second;
      }
      if (missing) {
        skip(row_no, "missing variable");
        continue;
      }
      bool bad_value = false;
      for (const auto& [name, value] : vars.items()) {
        try {
          validation::CheckText(name, value.get<std::string>(), 4096);
        } catch (const Error&) {
          bad_value = true;
        }
      }
      if (bad_value) {
        skip(row_no, "bad variable value");
        continue;
      }
      std::string text = vars.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      batch_bytes +=
          subject_id.size() + external_id.size() + address.size() + match_key.size() + text.size();
      batch.emplace_back(upload_id, row_no, std::move(subject_id), std::move(external_id),
                         std::move(address), std::move(match_key), std::move(text));
      if (batch.size() >= kUploadBatchRows || batch_bytes >= kUploadBatchBytes) flush();
    }
  } while (next(&msg));
  flush();
  return up;
}

v1::AddRecipientsResponse CampaignService::FinishUpload(const Caller& caller,
                                                        const std::string& campaign_id,
                                                        const std::string& upload_id,
                                                        Channel channel, const std::string& topic,
                                                        StagedUpload up, Timestamp now,
                                                        const std::function<bool()>& cancelled) {
  if (cancelled()) throw Error(ErrorCode::kUnavailable, "the stream was broken; nothing added");
  auto skip = [&](int64_t row, const std::string& reason) {
    ++up.skipped[reason];
    if (up.errors.size() < kMaxReportedErrors) up.errors.emplace_back(row, reason);
  };
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto rows = conn->Exec(txn, kLockCampaign, campaign_id, ToIso8601(now));
  if (rows.empty()) throw NotFound("campaign_id: campaign");
  std::string status = rows[0][0].as<std::string>();
  if (status == "cancelled" || status == "finished") {
    throw FailedPrecondition("campaign_id: the campaign is " + status);
  }
  txn.exec(kStreamSettings);
  txn.exec(kCreateStage);
  conn->Exec(txn, kTakeUpload, upload_id);
  conn->Exec(txn, kDropUpload, upload_id);

  v1::AddRecipientsResponse resp;
  resp.set_received(up.received);
  const int kind = channel == Channel::kEmail ? 1 : 2;
  for (const auto& r : conn->Exec(txn, kUnknownGiven)) {
    skip(r[0].as<int64_t>(), "unknown subject");
  }
  conn->Exec(txn, kResolveExternal, kind);
  for (const auto& r : conn->Exec(txn, kUnresolved)) {
    skip(r[0].as<int64_t>(), "unknown subject");
  }
  conn->Exec(txn, kPrimaryAddresses, kind);
  for (const auto& r : conn->Exec(txn, kNoAddress)) {
    skip(r[0].as<int64_t>(), "no address for the channel");
  }
  // Every received row is either staged or skipped, and every staged row not queued now is a
  // duplicate (no count(*) pass over the stage).
  int64_t skips = 0;
  for (const auto& [reason, n] : up.skipped) skips += n;
  int64_t valid = up.received - skips;
  resp.set_added(ledger::EnqueueCampaignRecipients(*conn, txn, campaign_id, caller.client_id,
                                                   static_cast<int>(channel), topic, now));
  resp.set_duplicates(valid - resp.added());
  int64_t total_skipped = 0;
  for (const auto& [reason, n] : up.skipped) {
    (*resp.mutable_skipped_by_reason())[reason] = n;
    total_skipped += n;
  }
  resp.set_skipped(total_skipped);
  std::sort(up.errors.begin(), up.errors.end());
  for (size_t i = 0; i < up.errors.size() && i < kMaxReportedErrors; ++i) {
    auto* e = resp.add_errors();
    e->set_row(up.errors[i].first);
    e->set_reason(up.errors[i].second);
  }
  txn.commit();
  // After a bulk load the planner still believes the outbox nearly empty and sorts every due
  // message for each claim instead of reading the due index in order (O(N) per batch).
  // Autovacuum would analyze later; a campaign starting now would not wait for it.
  if (resp.added() >= kAnalyzeAfterRows) {
    try {
      pqxx::nontransaction analyze(conn->raw());
      analyze.exec0("ANALYZE messages");
    } catch (const std::exception& e) {
      log::Warn("could not analyze messages after a bulk load", {{"error_type", typeid(e).name()}});
    }
  }
  return resp;
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
  return CampaignFromRow(rows[0]);
}

void CountCampaignComplaint(db::Connection& conn, pqxx::transaction_base& txn,
                            const std::string& campaign_id) {
  conn.Exec(txn, kCountComplaint, campaign_id);
}

}  // namespace herald::dispatch
