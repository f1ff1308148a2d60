#pragma once

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/crypto/link_token.h"
#include "common/domain/enums.h"
#include "common/domain/topics.h"
#include "herald/v1/subscriptions.pb.h"
#include "services/subscriptions/registry.h"

namespace herald::subscriptions {

// Whether a genuine token is past its lifetime (it then only unsubscribes). A token dated in
// the future (clock skew between signer and verifier) is not expired.
bool TokenExpired(Timestamp issued_at, Timestamp now, std::chrono::seconds lifetime);

// A genuine link token, opened: what the link may do and what it acts on.
struct OpenedLink {
  std::string token;
  crypto::LinkClaims claims;
  bool expired = false;  // older than the lifetime: it still unsubscribes, nothing more (E3)
  std::string topic;     // the topic to act on: the token's, or "" (all marketing) when the
                         // token's topic is empty, unknown now, or not marketing

  bool for_subject() const { return !claims.subject_id.empty(); }
  // Undo and the preference center need a subject and a token within its lifetime; other
  // links get the reduced page, which only unsubscribes.
  bool manages_preferences() const { return for_subject() && !expired; }
};

// Who followed the link, as the transport saw it: recorded in the Proof of every change.
struct LinkVisitor {
  std::string ip;          // a valid IP address, or "" (the transport checks the syntax)
  std::string user_agent;  // as sent; shortened and reduced to printable ASCII here
};

enum class UndoOutcome {
  kUndone,
  kNotAllowed,    // an address-only link (no subject to subscribe again), or nothing to undo
  kChangedSince,  // the subject's state changed after the unsubscribe: a later "no" stands
  kNoConsent,     // nothing to re-subscribe to: no marketing consent on that channel
};

// A toggle of the preference center: (channel, topic).
using PreferenceKey = std::pair<Channel, std::string>;

enum class PreferenceAction { kSave, kUnsubscribeAll };

struct PreferencesOutcome {
  int changes = 0;                         // toggles written (save); 0 for unsubscribe-all
  v1::GetPreferencesResponse preferences;  // the subject's preferences afterwards
};

// What a recipient's link does (STANDARDS E1-E3, docs/recipient-pages.md), without HTTP or
// HTML: opens a token, decides the topic and channel it acts on, and makes every change
// through the SubscriptionRegistry with Proof{source LINK, the token's message id, the
// visitor's IP and user agent}. Registry errors (herald::Error) reach the caller, except
// where a rule below says otherwise.
class RecipientLinks {
 public:
  RecipientLinks(const crypto::LinkSigner& links, SubscriptionRegistry& registry,
                 const TopicCatalog& topics, const Clock& clock,
                 std::chrono::seconds token_lifetime);

  // A forged, truncated, tampered or retired-key token opens nothing (E3).
  std::optional<OpenedLink> Open(std::string_view token) const;

  // The link's subject's locale; "" for an address-only link or a subject that no longer
  // exists or cannot be read right now (the browser's language then decides).
  std::string SubjectLocale(const OpenedLink& link);

  // RFC 8058 one-click: unsubscribes the link's topic (or all marketing) on its channel,
  // for the subject or the bare address. Idempotent; an expired token still works (E3).
  // A destroyed or blocked subject gets no marketing anyway: that is honoured, unchanged.
  // Returns whether anything changed.
  bool Unsubscribe(const OpenedLink& link, const LinkVisitor& visitor);

  // The marketing topics the link acts on that are subscribed now on its channel (its own
  // topic, or every marketing topic for an all-marketing link): what an unsubscribe through
  // it would turn off. Empty for an address-only link or a subject that cannot be read.
  std::vector<std::string> SubscribedTopics(const OpenedLink& link);

  // Subscribes `topics` on the link's channel again, with the link's proof (source LINK):
  // the topics its unsubscribe turned off, at `unsubscribed_at`. Refused (kChangedSince) when
  // anything was recorded for the subject after that, so an undo never overrides a later
  // refusal. An expired token may undo too: the caller allows an undo only from the page that
  // has just unsubscribed, in its browser session, within minutes (E8; RecipientPages), so an
  // old or forwarded link never re-subscribes anyone who said no before.
  UndoOutcome Undo(const OpenedLink& link, const LinkVisitor& visitor,
                   const std::vector<std::string>& topics, Timestamp unsubscribed_at);

  // The subject's preferences. Only for a link that manages_preferences().
  v1::GetPreferencesResponse Preferences(const OpenedLink& link);

  // kSave: every toggle of a channel with consent becomes on when its key is in `wanted`,
  // off otherwise; toggles without consent and unknown keys are ignored. kUnsubscribeAll:
  // opts the subject out of all marketing. Only for a link that manages_preferences().
  PreferencesOutcome ChangePreferences(const OpenedLink& link, PreferenceAction action,
                                       const std::set<PreferenceKey>& wanted,
                                       const LinkVisitor& visitor);

 private:
  v1::Proof ProofFor(const OpenedLink& link, const LinkVisitor& visitor) const;

  const crypto::LinkSigner& links_;
  SubscriptionRegistry& registry_;
  const TopicCatalog& topics_;
  const Clock& clock_;
  std::chrono::seconds token_lifetime_;
};

}  // namespace herald::subscriptions
