#pragma once

#include "common/clock.h"
#include "common/db/pool.h"
#include "services/privacy/confirmation_mail.h"
#include "services/privacy/privacy_operations.h"

namespace herald::privacy {

// Turns each `privacy_request_received` event (recorded by the inbound e-mail hook, with
// details {"request": "refuse_marketing" | "revoke_consent" | "rectify", "source": "email",
// "inbound_mail_id": ...}) into exactly one privacy request (origin_event_id is unique):
//   refuse_marketing -> STOP_PROCESSING (the marketing stop itself happened at receipt),
//   revoke_consent   -> REVOKE (revocation recorded, destruction scheduled),
//   rectify          -> RECTIFY (the subject is blocked).
// The From: of an e-mail can be forged (STANDARDS §2b): a REVOKE or RECTIFY about a known
// subject takes its step at once only when the hook recorded a DMARC-aligned pass from our
// MTA ("sender_verified": "dmarc"). Otherwise it opens pending, with its legal due date, and
// a confirmation e-mail with a signed link goes to the address the marker came from; the
// step waits for that link (RequestConfirmation) or the privacy officer.
// The privacy job calls RunOnce every interval; the mail hook may call it right after its
// own transaction commits so the request opens at once. Safe to run concurrently.
class RequestIntake {
 public:
  RequestIntake(db::Pool& pool, const Clock& clock, PrivacyOperations& operations)
      : pool_(pool), clock_(clock), operations_(operations) {}

  struct Result {
    int opened = 0;
    int skipped = 0;  // unknown request type, or a subject that can no longer be acted on
  };
  // Takes in up to `limit` pending events, each in its own transaction.
  Result RunOnce(int limit = 200);

  // Sends the confirmation e-mail of pending requests. Without one they wait for the
  // privacy officer. Call before the first RunOnce.
  void SetConfirmationMailer(const ConfirmationMailer* mailer) { mailer_ = mailer; }

 private:
  db::Pool& pool_;
  const Clock& clock_;
  PrivacyOperations& operations_;
  const ConfirmationMailer* mailer_ = nullptr;
};

}  // namespace herald::privacy
