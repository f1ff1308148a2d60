#pragma once

#include <pqxx/pqxx>
#include <string>

#include "common/clock.h"
#include "common/db/connection.h"
#include "services/privacy/confirmation_token.h"
#include "services/privacy/deadlines.h"

namespace herald::privacy {

// The transactional e-mail that asks the owner of an address to confirm a request an
// e-mail marker made in its name (STANDARDS §2b). Queued in the outbox like any single
// message (topic "service", so the gate still decides it: a blocked, destroyed or
// unconsented subject gets nothing), in the subject's language (az, ru, en; az by
// default), to the address the marker came from, never to any other.
//
// The message carries the link as its variable `confirm_url`
// (public_base_url + "/c/" + token); nothing personal is in its templates.
class ConfirmationMailer {
 public:
  ConfirmationMailer(const ConfirmationTokens& tokens, std::string public_base_url)
      : tokens_(tokens), base_(std::move(public_base_url)) {
    while (!base_.empty() && base_.back() == '/') base_.pop_back();
  }

  // Inside the caller's transaction. Returns the queued message's id.
  std::string Queue(db::Connection& conn, pqxx::transaction_base& txn,
                    const std::string& request_id, RequestKind kind, const std::string& subject_id,
                    const std::string& address, Timestamp now) const;

  std::string LinkFor(const std::string& request_id, Timestamp now) const;

  static constexpr char kClientId[] = "herald:privacy-confirmation";

 private:
  const ConfirmationTokens& tokens_;
  std::string base_;
};

// "az", "ru" or "en" for a subject's BCP 47 locale (az when it is none of these).
const char* ConfirmationLanguage(const std::string& locale);

}  // namespace herald::privacy
