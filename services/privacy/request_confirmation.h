#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/db/pool.h"
#include "services/privacy/confirmation_token.h"
#include "services/privacy/deadlines.h"
#include "services/privacy/privacy_operations.h"
#include "services/subscriptions/registry.h"

namespace herald::privacy {

// The confirmation link of a request an e-mail marker opened (STANDARDS §2b): looking at it
// changes nothing; confirming takes the step the request was waiting for (block after a
// rectification, revocation and scheduled destruction after a revocation). A plain class:
// the web page only carries the token to it.
class RequestConfirmation {
 public:
  RequestConfirmation(db::Pool& pool, const Clock& clock, const ConfirmationTokens& tokens,
                      PrivacyOperations& operations, std::chrono::seconds link_lifetime)
      : pool_(pool),
        clock_(clock),
        tokens_(tokens),
        operations_(operations),
        lifetime_(link_lifetime) {}

  struct View {
    std::string request_id;
    RequestKind kind = RequestKind::kRevoke;
    bool open = false;     // the request is still open
    bool pending = false;  // it still waits for confirmation
    std::string locale;    // the subject's, for the page's language; may be empty
  };

  // nullopt for a forged, tampered or expired token, or one naming no request (a
  // destroyed subject's request included). Read-only.
  std::optional<View> Look(std::string_view token) const;

  struct Result {
    bool changed = false;  // false: it was confirmed already
    View view;
  };
  // Throws herald::Error: NOT_FOUND for what Look refuses; FAILED_PRECONDITION when the
  // request is closed or its subject can no longer be acted on. Nothing changes then.
  Result Confirm(std::string_view token);

  // With a registry, a confirmed revocation also suppresses the marker's address as
  // REVOKED (service notices included), as the mail hook does at once for a sender our MTA
  // authenticated; the suppression outlives the subject's destruction. Before Confirm.
  void SetRegistry(subscriptions::SubscriptionRegistry* registry) { registry_ = registry; }

  static constexpr char kActor[] = "confirmation-link";

 private:
  std::optional<std::string> RequestOf(std::string_view token) const;

  db::Pool& pool_;
  const Clock& clock_;
  const ConfirmationTokens& tokens_;
  PrivacyOperations& operations_;
  std::chrono::seconds lifetime_;
  subscriptions::SubscriptionRegistry* registry_ = nullptr;
};

}  // namespace herald::privacy
