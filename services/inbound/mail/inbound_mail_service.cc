#include "services/inbound/mail/inbound_mail_service.h"

#include <optional>

#include "common/crypto/hash.h"
#include "common/db/statement.h"
#include "common/domain/enums.h"
#include "common/error.h"
#include "common/log/log.h"
#include "common/validation/address.h"
#include "services/dispatch/campaign_service.h"
#include "services/dispatch/ledger/message_ledger.h"
#include "services/inbound/mail/mail_parser.h"
#include "services/inbound/mail/plain_bounce.h"
#include "services/inbound/mail/sender_authentication.h"
#include "services/inbound/mail/subject_markers.h"
#include "services/subscriptions/event_log.h"
#include "services/subscriptions/subject_rows.h"

namespace herald::inbound {
namespace {

constexpr char kActor[] = "inbound-mail";

constexpr db::Statement kClaimMail{"inbound_mail.claim", R"sql(
  INSERT INTO inbound_mail (dedupe_hash, kind, outcome, received_at)
  VALUES (decode($1, 'hex'), 'other', 'processing', $2)
  ON CONFLICT (dedupe_hash)
  DO NOTHING
  RETURNING id
)sql"};
constexpr db::Statement kFinishMail{"inbound_mail.finish", R"sql(
  UPDATE inbound_mail
  SET kind = $2, outcome = $3, herald_message_id = $4::uuid, campaign_id = $5::uuid,
      status_code = $6
  WHERE id = $1
)sql"};
constexpr db::Statement kFindMessage{"inbound_mail.find_message", R"sql(
  SELECT id::text, coalesce(campaign_id::text, ''), coalesce(address, '')
  FROM messages
  WHERE id = $1::uuid
    AND channel = $2
  FOR UPDATE
)sql"};
constexpr db::Statement kEarlierComplaint{"inbound_mail.earlier_complaint", R"sql(
  SELECT 1
  FROM inbound_mail
  WHERE herald_message_id = $1::uuid
    AND outcome = 'complaint_recorded'
    AND id <> $2
  LIMIT 1
)sql"};

// Where a report may quote one of our report tokens, most direct first: the envelope
// recipient of the report (our VERP return path), the DSN's Original-Envelope-Id, the
// returned original's Message-ID and Return-Path, ARF's Original-Mail-From. An id without a
// verifying tag (X-Herald-Message-Id, a bare <uuid@domain>) names nothing: ids are guessable.
std::vector<std::string> CandidateTokens(const ParsedMail& m) {
  std::vector<std::string> out;
  auto add = [&](const std::string& text) {
    for (auto& t : crypto::FindReportTokens(text)) out.push_back(std::move(t));
  };
  for (const auto& r : m.envelope_recipients) add(r);
  add(m.original_envelope_id);
  add(m.original_message_id);
  add(m.original_return_path);
  add(m.original_mail_from);
  return out;
}

// A plain-text bounce has no fields naming the original: its MTA wrote our token where it
// wrote our addresses and headers. The envelope recipient first (our VERP return path), then
// the notice's In-Reply-To and References, then anywhere in its text and the returned
// message (the copies of our Message-ID and Return-Path). Of the quoted ones at most
// kMaxQuotedTokens: each costs an HMAC per key of the ring, and a text is anyone's.
constexpr size_t kMaxQuotedTokens = 16;
std::vector<std::string> PlainBounceTokens(const ParsedMail& m) {
  std::vector<std::string> out;
  for (const auto& r : m.envelope_recipients) {
    for (auto& t : crypto::FindReportTokens(r)) out.push_back(std::move(t));
  }
  size_t quoted = 0;
  auto add = [&](const std::string& text) {
    for (auto& t : crypto::FindReportTokens(text)) {
      if (quoted >= kMaxQuotedTokens) return;
      ++quoted;
      out.push_back(std::move(t));
    }
  };
  for (const auto& r : m.references) add(r);
  add(m.body_text);
  add(m.attached_original);
  return out;
}

struct KnownMessage {
  std::string id, campaign_id, address;
};

struct Lookup {
  std::optional<KnownMessage> message;
  bool tagged = false;  // some token verified (for the log: forged or unknown)
};

Lookup FindMessage(db::Connection& conn, pqxx::transaction_base& txn,
                   const crypto::ReportTagger& tags, const std::vector<std::string>& tokens) {
  Lookup out;
  for (const auto& token : tokens) {
    auto id = tags.Verify(token);
    if (!id) continue;
    out.tagged = true;
    auto rows = conn.Exec(txn, kFindMessage, *id, static_cast<int>(Channel::kEmail));
    if (rows.empty()) continue;
    out.message = KnownMessage{rows[0][0].as<std::string>(), rows[0][1].as<std::string>(),
                               rows[0][2].as<std::string>()};
    return out;
  }
  return out;
}

const char* UnmatchedWhy(const Lookup& l) {
  return l.tagged ? "report about a message we do not know"
                  : "report without a verifiable report tag";
}

// The reasons of herald_inbound_bounces_unrecognised_total: fixed, never personal.
constexpr char kUnknownFormat[] = "unknown_format";
constexpr char kUnverified[] = "unverified";
constexpr char kUnknownMessage[] = "unknown_message";

const char* UnmatchedReason(const Lookup& l) { return l.tagged ? kUnknownMessage : kUnverified; }

std::optional<std::string> OrNull(const std::string& s) {
  return s.empty() ? std::nullopt : std::optional<std::string>(s);
}

// What processing found, written back to the inbound_mail row.
struct Finding {
  MailOutcome outcome = MailOutcome::kIgnored;
  std::string kind = "other";
  std::string message_id, campaign_id, status_code;
  std::string why;                     // for the log: never personal
  const char* format = nullptr;        // a plain-text bounce's format, for the log
  const char* unrecognised = nullptr;  // a bounce that changed nothing: the metric's reason
};

}  // namespace

const char* OutcomeName(MailOutcome o) {
  switch (o) {
    case MailOutcome::kRefusalApplied:
      return "refusal_applied";
    case MailOutcome::kRevocationApplied:
      return "revocation_applied";
    case MailOutcome::kRectificationRecorded:
      return "rectification_recorded";
    case MailOutcome::kBounceRecorded:
      return "bounce_recorded";
    case MailOutcome::kDelayRecorded:
      return "delay_recorded";
    case MailOutcome::kDeliveryRecorded:
      return "delivery_recorded";
    case MailOutcome::kComplaintRecorded:
      return "complaint_recorded";
    case MailOutcome::kIgnored:
      return "ignored";
    case MailOutcome::kDuplicate:
      return "duplicate";
  }
  return "?";
}

InboundMailService::InboundMailService(db::Pool& pool, const Clock& clock,
                                       subscriptions::SubscriptionRegistry& registry,
                                       const crypto::SuppressionHasher& hasher,
                                       const crypto::ReportTagger& report_tags)
    : pool_(pool), clock_(clock), registry_(registry), hasher_(hasher), report_tags_(report_tags) {}

namespace {

class Processor {
 public:
  Processor(db::Connection& conn, pqxx::transaction_base& txn,
            subscriptions::SubscriptionRegistry& registry, const crypto::SuppressionHasher& hasher,
            const crypto::ReportTagger& tags, Timestamp now, int64_t mail_id)
      : conn_(conn),
        txn_(txn),
        registry_(registry),
        hasher_(hasher),
        tags_(tags),
        now_(now),
        mail_id_(mail_id),
        caller_{kActor, "inbound-mail-" + std::to_string(mail_id)} {}

  // The From: of a marker can be forged (STANDARDS §2b): what happens here at once only
  // stops marketing. The request events say whether our own MTA recorded a DMARC-aligned
  // pass; without one, blocking and destruction wait for the request's confirmation link.
  Finding Markers(const ParsedMail& m, const std::vector<MarkerRequest>& requests,
                  std::string_view raw, const std::vector<std::string>& trusted_authserv_ids) {
    Finding f;
    f.kind = "marker";
    auto res = validation::NormalizeAddress(m.from, "RU");
    auto* address = std::get_if<validation::NormalizedAddress>(&res);
    if (!address || address->kind != validation::AddressKind::kEmail) {
      f.why = "marker without a usable From address";
      return f;
    }
    const std::string& value = address->value;
    const bool dmarc = DmarcAlignedPass(raw, trusted_authserv_ids,
                                        std::string_view(value).substr(value.rfind('@') + 1));
    bool refuse = false, revoke = false;
    for (auto r : requests) {
      refuse = refuse || r == MarkerRequest::kRefuseMarketing;
      revoke = revoke || r == MarkerRequest::kRevokeConsent;
    }
    // In subject id order: their gate rows are taken in that order by the opt-outs below.
    std::vector<std::string> owners;
    for (auto& owner :
         subscriptions::LiveOwnersOf(conn_, txn_, AddressKind::kEmail, address->match_key)) {
      owners.push_back(std::move(owner.subject_id));
    }
    if (refuse || revoke) {
      // At once, in this one transaction: every owner, then the address. Gate rows are taken
      // in the dispatch claims' order (subjects by id, then address gates): no deadlock.
      for (const auto& subject_id : owners) {
        v1::OptOutRequest by_subject;
        by_subject.set_subject_id(subject_id);
        by_subject.set_scope(v1::ALL_MARKETING);
        by_subject.mutable_proof()->set_source(v1::EMAIL_REPLY);
        registry_.OptOutWithin(conn_, txn_, caller_, by_subject, now_);
      }
      // REVOKED also stops service notices to the address, the confirmation e-mail
      // included: only for a sender our MTA authenticated. Otherwise marketing only.
      v1::OptOutRequest by_address;
      by_address.set_address(address->value);
      by_address.set_scope(v1::ALL_MARKETING);
      by_address.set_reason(revoke && dmarc ? v1::REVOKED : v1::UNSUBSCRIBED);
      by_address.mutable_proof()->set_source(v1::EMAIL_REPLY);
      registry_.OptOutWithin(conn_, txn_, caller_, by_address, now_);
    }
    // Then the request events the privacy service turns into tracked requests.
    std::string address_key = hasher_.Current("email", address->match_key).hash;
    for (auto r : requests) {
      nlohmann::json details = {
          {"request", RequestName(r)}, {"source", "email"}, {"inbound_mail_id", mail_id_}};
      if (dmarc) details["sender_verified"] = "dmarc";
      nlohmann::json personal = {{"address", address->value}};
      if (owners.empty()) {
        subscriptions::AppendEvent(
            conn_, txn_,
            {std::nullopt, address_key, subscriptions::EventType::kPrivacyRequestReceived, kActor,
             v1::EMAIL_REPLY, now_, now_, details, personal});
      }
      for (const auto& subject_id : owners) {
        subscriptions::AppendEvent(
            conn_, txn_,
            {subject_id, std::nullopt, subscriptions::EventType::kPrivacyRequestReceived, kActor,
             v1::EMAIL_REPLY, now_, now_, details, personal});
      }
    }
    f.outcome = revoke   ? MailOutcome::kRevocationApplied
                : refuse ? MailOutcome::kRefusalApplied
                         : MailOutcome::kRectificationRecorded;
    return f;
  }

  Finding DeliveryStatus(const ParsedMail& m) {
    Finding f;
    f.kind = "dsn";
    Lookup found = FindMessage(conn_, txn_, tags_, CandidateTokens(m));
    if (!found.message) {
      f.why = UnmatchedWhy(found);
      f.unrecognised = UnmatchedReason(found);
      return f;
    }
    const KnownMessage* message = &*found.message;
    f.message_id = message->id;
    f.campaign_id = message->campaign_id;
    // The most telling recipient block decides: a permanent failure, then a delay, then a
    // success. The message has one recipient; its address is the one we sent to.
    const DsnRecipient* failed = nullptr;
    const DsnRecipient* delayed = nullptr;
    const DsnRecipient* other = nullptr;
    for (const auto& r : m.dsn_recipients) {
      if (r.action == "failed" && r.status.rfind("5.", 0) == 0) {
        if (!failed) failed = &r;
      } else if (r.action == "delayed" || r.action == "failed") {
        if (!delayed) delayed = &r;
      } else if (!other) {
        other = &r;
      }
    }
    if (failed) {
      f.status_code = failed->status;
      f.outcome = MailOutcome::kBounceRecorded;
      HardBounce(*message, "delivery status notification: failed " + failed->status);
    } else if (delayed || other) {
      const DsnRecipient* r = delayed ? delayed : other;
      f.status_code = r->status;
      f.outcome = delayed ? MailOutcome::kDelayRecorded : MailOutcome::kDeliveryRecorded;
      dispatch::ledger::NoteReport(
          conn_, txn_, message->id,
          "delivery status notification: " + r->action + (r->status.empty() ? "" : " " + r->status),
          now_);
    } else {
      f.why = "delivery status without a recipient action";
    }
    return f;
  }

  // A plain-text bounce (plain_bounce.h) about a message a verified token names: a
  // permanent one exactly as a DSN's failed 5.x.x, a temporary one history only. The
  // address it writes is never read: the message's own is suppressed.
  Finding PlainTextBounce(const ParsedMail& m, const PlainBounce& bounce) {
    Finding f;
    f.kind = "dsn";
    f.format = bounce.format;
    f.status_code = bounce.status;
    Lookup found = FindMessage(conn_, txn_, tags_, PlainBounceTokens(m));
    if (!found.message) {
      f.why = UnmatchedWhy(found);
      f.unrecognised = UnmatchedReason(found);
      return f;
    }
    const KnownMessage& message = *found.message;
    f.message_id = message.id;
    f.campaign_id = message.campaign_id;
    std::string note = std::string("plain-text bounce (") + bounce.format + "): ";
    if (bounce.bounce_class == BounceClass::kPermanent) {
      f.outcome = MailOutcome::kBounceRecorded;
      HardBounce(message, note + "failed " + bounce.status);
    } else {
      f.outcome = MailOutcome::kDelayRecorded;
      dispatch::ledger::NoteReport(conn_, txn_, message.id, note + "delayed " + bounce.status,
                                   now_);
    }
    return f;
  }

  Finding Complaint(const ParsedMail& m) {
    Finding f;
    f.kind = "arf";
    if (m.feedback_type != "abuse") {
      f.why = "feedback report that is not an abuse complaint";
      return f;
    }
    // Only the address of the message a verified tag names; never an address the report
    // writes itself (Original-Rcpt-To, the returned To:): anyone can write any address.
    Lookup found = FindMessage(conn_, txn_, tags_, CandidateTokens(m));
    if (!found.message) {
      f.why = UnmatchedWhy(found);
      return f;
    }
    const KnownMessage* message = &*found.message;
    auto res = validation::NormalizeAddress(message->address, "RU");
    auto* address = std::get_if<validation::NormalizedAddress>(&res);
    if (!address || address->kind != validation::AddressKind::kEmail) {
      f.why = "complaint about a message without a usable e-mail address";
      return f;
    }
    f.outcome = MailOutcome::kComplaintRecorded;
    v1::OptOutRequest req;
    req.set_address(address->value);
    req.set_scope(v1::CHANNEL);
    req.set_channel(v1::EMAIL);
    req.set_reason(v1::COMPLAINT);
    req.mutable_proof()->set_source(v1::PROVIDER);
    registry_.OptOutWithin(conn_, txn_, caller_, req, now_);
    f.message_id = message->id;
    f.campaign_id = message->campaign_id;
    dispatch::ledger::NoteReport(conn_, txn_, message->id, "complaint report (ARF): abuse", now_);
    // One complaint per message, however many reports arrive for it.
    if (!message->campaign_id.empty() &&
        conn_.Exec(txn_, kEarlierComplaint, message->id, mail_id_).empty()) {
      dispatch::CountCampaignComplaint(conn_, txn_, message->campaign_id);
    }
    return f;
  }

 private:
  // The message undelivered (one already failed, or bounced before, keeps its status; the
  // history says what arrived either way) and its address suppressed on e-mail.
  void HardBounce(const KnownMessage& message, const std::string& note) {
    dispatch::ledger::ApplyBounce(conn_, txn_, message.id, note, now_);
    if (message.address.empty()) return;
    v1::OptOutRequest req;
    req.set_address(message.address);
    req.set_scope(v1::CHANNEL);
    req.set_channel(v1::EMAIL);
    req.set_reason(v1::HARD_BOUNCE);
    req.mutable_proof()->set_source(v1::PROVIDER);
    registry_.OptOutWithin(conn_, txn_, caller_, req, now_);
  }

  db::Connection& conn_;
  pqxx::transaction_base& txn_;
  subscriptions::SubscriptionRegistry& registry_;
  const crypto::SuppressionHasher& hasher_;
  const crypto::ReportTagger& tags_;
  Timestamp now_;
  int64_t mail_id_;
  Caller caller_;
};

}  // namespace

void InboundMailService::SetMetrics(prometheus::Registry& registry) {
  unrecognised_ = &prometheus::BuildCounter()
                       .Name("herald_inbound_bounces_unrecognised_total")
                       .Help(
                           "Bounces (DSN or plain text) that changed nothing, by reason: "
                           "unknown_format, unverified, unknown_message")
                       .Register(registry);
  // Every series exists from the start, so rate() and alerts see the first one.
  for (const char* reason : {kUnknownFormat, kUnverified, kUnknownMessage}) {
    unrecognised_->Add({{"reason", reason}});
  }
}

MailResult InboundMailService::Process(std::string_view raw) {
  auto parsed = ParseMail(raw);
  if (!parsed) throw InvalidArgument("body", "not an RFC 5322 message (no header fields)");
  const ParsedMail& m = *parsed;
  std::string dedupe = crypto::ToHex(crypto::Sha256(
      m.message_id.empty() ? "raw:" + std::string(raw) : "message-id:" + m.message_id));

  Timestamp now = clock_.Now();
  auto conn = pool_.Acquire();
  pqxx::work txn(conn->raw());
  auto claimed = conn->Exec(txn, kClaimMail, dedupe, ToIso8601(now));
  if (claimed.empty()) {
    txn.abort();
    log::Info("inbound mail", {{"outcome", OutcomeName(MailOutcome::kDuplicate)}});
    return {MailOutcome::kDuplicate, 0};
  }
  int64_t id = claimed[0][0].as<int64_t>();
  Processor p(*conn, txn, registry_, hasher_, report_tags_, now, id);
  Finding f;
  switch (m.kind) {
    case ParsedMail::Kind::kDeliveryStatus:
      f = p.DeliveryStatus(m);
      break;
    case ParsedMail::Kind::kFeedbackReport:
      f = p.Complaint(m);
      break;
    case ParsedMail::Kind::kPlain: {
      // A bounce first: its subject may quote ours, and a notice is no request.
      if (auto bounce = RecognisePlainBounce(m)) {
        f = p.PlainTextBounce(m, *bounce);
        break;
      }
      auto requests = FindMarkers(m.subject);
      if (!requests.empty()) {
        f = p.Markers(m, requests, raw, trusted_authserv_ids_);
      } else if (FromMailDeliverySystem(m)) {
        f.why = "bounce in a format Herald does not read";
        f.unrecognised = kUnknownFormat;
      } else {
        f.why = "no request marker";
      }
      break;
    }
  }
  conn->Exec(txn, kFinishMail, id, f.kind, OutcomeName(f.outcome), OrNull(f.message_id),
             OrNull(f.campaign_id), f.status_code);
  txn.commit();
  if (f.unrecognised && unrecognised_) unrecognised_->Add({{"reason", f.unrecognised}}).Increment();
  log::Fields fields = {
      {"inbound_mail_id", id}, {"kind", f.kind}, {"outcome", OutcomeName(f.outcome)}};
  if (!f.why.empty()) fields.Add("why", f.why);
  if (f.format) fields.Add("bounce_format", f.format);
  if (!f.message_id.empty()) fields.Add("message_id", f.message_id);
  if (!f.status_code.empty()) fields.Add("status", f.status_code);
  log::Info("inbound mail", fields);
  return {f.outcome, id};
}

}  // namespace herald::inbound
