#include "services/privacy/request_intake.h"

#include <nlohmann/json.hpp>
#include <string_view>

#include "common/db/statement.h"
#include "common/error.h"
#include "common/log/log.h"
#include "herald/v1/common.pb.h"
#include "services/privacy/request_store.h"
#include "services/subscriptions/event_log.h"

namespace herald::privacy {
namespace {

// Events not yet taken in. Skipped ones (an unknown request word, a destroyed subject) get
// a rejected request too, so each event is looked at once.
// The type is written into the text, not bound: the partial index on these events matches
// only a literal. The static_assert keeps the literal and the event type's name one.
constexpr db::Statement kPending{"privacy_intake.pending", R"sql(
  SELECT e.id, e.subject_id::text, e.details::text, e.occurred_at::text
  FROM events e
  WHERE e.type = 'privacy_request_received'
    AND NOT EXISTS (SELECT 1 FROM privacy_requests p WHERE p.origin_event_id = e.id)
  ORDER BY e.id
  LIMIT $1
)sql"};
static_assert(std::string_view(subscriptions::EventTypeName(
                  subscriptions::EventType::kPrivacyRequestReceived)) ==
              "privacy_request_received");
constexpr db::Statement kSenderAddress{"privacy_intake.sender_address", R"sql(
  SELECT coalesce(data->>'address', '') FROM event_personal WHERE event_id = $1
)sql"};

constexpr char kActor[] = "herald:intake";

std::optional<RequestKind> KindOfMarker(const std::string& request) {
  if (request == "refuse_marketing") return RequestKind::kStopProcessing;
  if (request == "revoke_consent") return RequestKind::kRevoke;
  if (request == "rectify") return RequestKind::kRectify;
  return std::nullopt;
}

}  // namespace

RequestIntake::Result RequestIntake::RunOnce(int limit) {
  Result result;
  std::vector<std::tuple<int64_t, std::optional<std::string>, std::string, std::string>> pending;
  {
    auto conn = pool_.Acquire();
    pqxx::read_transaction txn(conn->raw());
    for (const auto& row : conn->Exec(txn, kPending, limit)) {
      pending.emplace_back(
          row[0].as<int64_t>(),
          row[1].is_null() ? std::nullopt : std::optional<std::string>(row[1].as<std::string>()),
          row[2].as<std::string>(), row[3].as<std::string>());
    }
  }
  for (const auto& [event_id, subject_id, details_text, occurred_text] : pending) {
    nlohmann::json details = nlohmann::json::parse(details_text, nullptr, false);
    std::string word = details.is_object() && details.value("request", nlohmann::json()).is_string()
                           ? details["request"].get<std::string>()
                           : "";
    std::optional<RequestKind> kind = KindOfMarker(word);
    nlohmann::json note = {{"request", word}};
    // Only the mail hook writes this event type, and it says "dmarc" only for a pass our
    // own MTA recorded for the From: domain.
    bool dmarc = false;
    if (details.is_object()) {
      if (details.contains("inbound_mail_id")) note["inbound_mail_id"] = details["inbound_mail_id"];
      if (details.contains("source")) note["channel"] = details["source"];
      dmarc = details.value("sender_verified", nlohmann::json()) == "dmarc";
      if (dmarc) note["sender_verified"] = "dmarc";
    }
    if (!subject_id) note["subject_unknown"] = true;
    Timestamp now = clock_.Now();
    Timestamp received = ParseTimestamp(occurred_text);
    auto conn = pool_.Acquire();
    // Records the event as a rejected request, acting on nothing, so it is looked at once.
    // Named captures: clang before 16 cannot capture structured bindings.
    auto reject = [&, subject_id = subject_id, event_id = event_id](const std::string& why) {
      pqxx::work txn(conn->raw());
      note["rejected"] = why;
      RequestKind k = kind.value_or(RequestKind::kStopProcessing);
      NewRequest req{k,        subject_id, event_id, v1::EMAIL_REPLY, received,
                     received, false,      note,     "none",          std::nullopt};
      auto id = InsertRequest(*conn, txn, req);
      if (!id) return;
      CloseRequest(*conn, txn, *id, "rejected", kActor, nlohmann::json::object(), now);
      txn.commit();
      ++result.skipped;
      log::Warn("privacy intake: request cannot be acted on",
                {{"event_id", event_id}, {"request_id", *id}, {"why", why}});
    };
    if (!kind) {
      reject("unknown request type");
      continue;
    }
    try {
      pqxx::work txn(conn->raw());
      auto opened = operations_.OpenInTxn(*conn, txn, *kind, subject_id, event_id, v1::EMAIL_REPLY,
                                          kActor, received, now, note, dmarc ? "dmarc" : "pending");
      if (!opened.request_id) continue;  // another worker took this event in
      auto request = LoadRequest(*conn, txn, *opened.request_id, now);
      bool pending = request.confirmation() == v1::CONFIRMATION_PENDING;
      std::string message_id;
      if (pending && mailer_) {
        auto rows = conn->Exec(txn, kSenderAddress, event_id);
        std::string address = rows.empty() ? "" : rows[0][0].as<std::string>();
        if (!address.empty()) {
          message_id =
              mailer_->Queue(*conn, txn, *opened.request_id, *kind, *subject_id, address, now);
          AddRequestDetails(*conn, txn, *opened.request_id,
                            {{"confirmation_message_id", message_id}});
        }
      }
      txn.commit();
      ++result.opened;
      log::Fields fields = {
          {"event_id", event_id}, {"request_id", *opened.request_id}, {"kind", KindName(*kind)}};
      if (pending) fields.Add("confirmation", "pending");
      if (!message_id.empty()) fields.Add("confirmation_message_id", message_id);
      log::Info("privacy request opened", fields);
    } catch (const Error& e) {
      // The subject was destroyed or is unknown: nothing to act on.
      reject(e.what());
    }
  }
  return result;
}

}  // namespace herald::privacy
