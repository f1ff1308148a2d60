#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/crypto/report_tag.h"
#include "common/db/pool.h"
#include "services/subscriptions/registry.h"

namespace herald::inbound {

// What happened to one inbound message (the "outcome" the hook answers with).
enum class MailOutcome {
  kRefusalApplied,         // refusal marker (or our List-Unsubscribe mailto): all marketing stopped
  kRevocationApplied,      // revocation marker: all marketing stopped, request recorded
  kRectificationRecorded,  // update marker: request event only
  kBounceRecorded,         // DSN or plain-text bounce, failed 5.x.x about our message:
                           // undelivered + hard bounce
  kDelayRecorded,          // DSN or plain-text bounce, delayed / 4.x.x: history only
  kDeliveryRecorded,       // DSN, delivered / relayed / expanded: history only
  kComplaintRecorded,      // ARF abuse report: complaint suppression, counted on the campaign
  kIgnored,                // anything else: recorded, never answered
  kDuplicate,              // the same message (Message-ID) was processed before
};
const char* OutcomeName(MailOutcome o);

struct MailResult {
  MailOutcome outcome;
  int64_t inbound_mail_id = 0;  // 0 for a duplicate
};

// Inbound e-mail: seed markers (STANDARDS §2b), our own mailto unsubscribe, delivery status
// notifications (RFC 3464), the plain-text bounces of MTAs that send none
// (plain_bounce.h) and complaint reports (ARF, RFC 5965). A plain class: the HTTP hook and
// heraldctl only carry bytes to it.
//
// A bounce or a complaint acts only on the message named by a report token whose tag
// verifies (the one in our Message-ID or VERP return path), and only on the address that
// message was sent to: ids alone are guessable, and an address written in a report is never
// acted on. Bounces that change nothing are counted by why (SetMetrics).
//
// Each message is handled in one transaction that also records it (under a hash of its
// Message-ID) in inbound_mail, so a replay changes nothing, and a refusal stops all
// marketing to the sender's address and to every subject owning it at once. Nothing
// personal is stored in clear outside the events' personal side table. No reply is ever sent.
class InboundMailService {
 public:
  InboundMailService(db::Pool& pool, const Clock& clock,
                     subscriptions::SubscriptionRegistry& registry,
                     const crypto::SuppressionHasher& hasher,
                     const crypto::ReportTagger& report_tags);

  // Throws herald::Error kInvalidArgument ("body: ...") when the bytes are not a message.
  MailResult Process(std::string_view raw);

  // The authserv-ids of the operator's own MTA (inbound_mail.trusted_authserv_ids): a
  // marker whose topmost Authentication-Results of one of them records a DMARC pass aligned
  // with its From: needs no confirmation link (STANDARDS §2b). Empty: every revocation and
  // rectification marker waits for its link. Before the first Process.
  void SetTrustedAuthservIds(std::vector<std::string> ids) {
    trusted_authserv_ids_ = std::move(ids);
  }

  // Registers herald_inbound_bounces_unrecognised_total{reason}: bounces (DSN or plain
  // text) that changed nothing, by a fixed reason — unknown_format (from a mail delivery
  // system, in no wording Herald reads), unverified (no report token whose tag verifies),
  // unknown_message (a verified token naming no e-mail we have). Never an address. Before
  // the first Process; without it nothing is counted.
  void SetMetrics(prometheus::Registry& registry);

 private:
  db::Pool& pool_;
  const Clock& clock_;
  subscriptions::SubscriptionRegistry& registry_;
  const crypto::SuppressionHasher& hasher_;
  const crypto::ReportTagger& report_tags_;
  std::vector<std::string> trusted_authserv_ids_;
  prometheus::Family<prometheus::Counter>* unrecognised_ = nullptr;
};

}  // namespace herald::inbound
