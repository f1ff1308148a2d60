#include "services/subscriptions/recipient_links.h"

#include <vector>

#include "common/error.h"
#include "common/log/log.h"

namespace herald::subscriptions {
namespace {

// The actor recorded on every event a recipient's link causes.
const Caller kCaller{"recipient-link", ""};

std::string Sanitize(std::string_view ua) {
  std::string out;
  for (char c : ua.substr(0, 512)) {
    out.push_back(c >= 0x20 && c <= 0x7e ? c : '?');
  }
  return out;
}

Channel ChannelOf(const OpenedLink& link) { return static_cast<Channel>(link.claims.channel); }

void RequireManagesPreferences(const OpenedLink& link) {
  if (!link.manages_preferences()) {
    throw Error(ErrorCode::kFailedPrecondition, "link: does not manage preferences");
  }
}

}  // namespace

bool TokenExpired(Timestamp issued_at, Timestamp now, std::chrono::seconds lifetime) {
  return now - issued_at > lifetime;
}

RecipientLinks::RecipientLinks(const crypto::LinkSigner& links, SubscriptionRegistry& registry,
                               const TopicCatalog& topics, const Clock& clock,
                               std::chrono::seconds token_lifetime)
    : links_(links),
      registry_(registry),
      topics_(topics),
      clock_(clock),
      token_lifetime_(token_lifetime) {}

std::optional<OpenedLink> RecipientLinks::Open(std::string_view token) const {
  auto claims = links_.Verify(token);
  if (!claims) return std::nullopt;
  OpenedLink link;
  link.token = std::string(token);
  link.claims = *claims;
  link.expired = TokenExpired(claims->issued_at, clock_.Now(), token_lifetime_);
  const TopicInfo* topic = claims->topic.empty() ? nullptr : topics_.Find(claims->topic);
  link.topic = topic && topic->marketing ? topic->name : std::string();
  return link;
}

std::string RecipientLinks::SubjectLocale(const OpenedLink& link) {
  if (!link.for_subject()) return "";
  try {
    v1::GetSubjectRequest g;
    g.set_subject_id(link.claims.subject_id);
    return registry_.GetSubject(kCaller, g).subject().locale();
  } catch (const herald::Error&) {
    return "";
  }
}

v1::Proof RecipientLinks::ProofFor(const OpenedLink& link, const LinkVisitor& visitor) const {
  v1::Proof p;
  p.set_source(v1::LINK);
  p.set_form_id("recipient-link");
  if (!visitor.ip.empty()) p.set_ip(visitor.ip);
  p.set_user_agent(Sanitize(visitor.user_agent));
  p.set_message_id(link.claims.message_id);
  return p;
}

bool RecipientLinks::Unsubscribe(const OpenedLink& link, const LinkVisitor& visitor) {
  v1::Proof proof = ProofFor(link, visitor);
  bool changed = false;
  if (link.for_subject()) {
    v1::OptOutRequest r;
    r.set_subject_id(link.claims.subject_id);
    r.set_scope(link.topic.empty() ? v1::CHANNEL : v1::TOPIC);
    r.set_topic(link.topic);
    r.set_channel(static_cast<v1::Channel>(link.claims.channel));
    *r.mutable_proof() = proof;
    try {
      changed = registry_.OptOut(kCaller, r).changed();
    } catch (const herald::Error& e) {
      // A destroyed or blocked subject gets no marketing at all: the request is honoured.
      if (e.code() != ErrorCode::kNotFound && e.code() != ErrorCode::kFailedPrecondition) throw;
    }
  } else {
    changed = registry_
                  .OptOutAddressKey(kCaller, link.claims.address_key, link.claims.address_key_id,
                                    ChannelOf(link), link.topic, proof)
                  .changed();
  }
  log::Info("link unsubscribe", {{"channel", ChannelName(ChannelOf(link))},
                                 {"changed", changed},
                                 {"expired_token", link.expired}});
  return changed;
}

std::vector<std::string> RecipientLinks::SubscribedTopics(const OpenedLink& link) {
  std::vector<std::string> on;
  if (!link.for_subject()) return on;
  v1::GetPreferencesRequest g;
  g.set_subject_id(link.claims.subject_id);
  v1::GetPreferencesResponse prefs;
  try {
    prefs = registry_.GetPreferences(kCaller, g);
  } catch (const herald::Error&) {
    return on;  // merged, blocked or destroyed: the unsubscribe is honoured, nothing to undo
  }
  for (const auto& p : prefs.preferences()) {
    const TopicInfo* info = topics_.Find(p.topic());
    if (p.channel() != link.claims.channel || !p.subscribed() || !info || !info->marketing) {
      continue;
    }
    if (link.topic.empty() || p.topic() == link.topic) on.push_back(p.topic());
  }
  return on;
}

UndoOutcome RecipientLinks::Undo(const OpenedLink& link, const LinkVisitor& visitor,
                                 const std::vector<std::string>& topics,
                                 Timestamp unsubscribed_at) {
  if (!link.for_subject()) return UndoOutcome::kNotAllowed;
  v1::SetPreferencesRequest s;
  s.set_subject_id(link.claims.subject_id);
  for (const auto& topic : topics) {
    const TopicInfo* info = topics_.Find(topic);
    if (!info || !info->marketing) continue;  // no longer a marketing topic
    if (!link.topic.empty() && topic != link.topic) continue;
    auto* c = s.add_changes();
    c->set_topic(topic);
    c->set_channel(static_cast<v1::Channel>(link.claims.channel));
    c->set_subscribed(true);
  }
  if (s.changes_size() == 0) return UndoOutcome::kNotAllowed;
  *s.mutable_proof() = ProofFor(link, visitor);
  try {
    // Anything recorded for the subject since (a refusal elsewhere, a preference saved, a
    // revocation), even while this runs, stands: the undo is for the unsubscribe alone.
    if (!registry_.SetPreferencesUnlessChangedSince(kCaller, s, unsubscribed_at)) {
      return UndoOutcome::kChangedSince;
    }
  } catch (const herald::Error& e) {
    if (e.code() != ErrorCode::kFailedPrecondition) throw;
    return UndoOutcome::kNoConsent;
  }
  log::Info("link undo", {{"channel", ChannelName(ChannelOf(link))}, {"topics", s.changes_size()}});
  return UndoOutcome::kUndone;
}

v1::GetPreferencesResponse RecipientLinks::Preferences(const OpenedLink& link) {
  RequireManagesPreferences(link);
  v1::GetPreferencesRequest g;
  g.set_subject_id(link.claims.subject_id);
  return registry_.GetPreferences(kCaller, g);
}

PreferencesOutcome RecipientLinks::ChangePreferences(const OpenedLink& link,
                                                     PreferenceAction action,
                                                     const std::set<PreferenceKey>& wanted,
                                                     const LinkVisitor& visitor) {
  const v1::GetPreferencesResponse current = Preferences(link);
  PreferencesOutcome out;
  if (action == PreferenceAction::kUnsubscribeAll) {
    v1::OptOutRequest r;
    r.set_subject_id(link.claims.subject_id);
    r.set_scope(v1::ALL_MARKETING);
    *r.mutable_proof() = ProofFor(link, visitor);
    registry_.OptOut(kCaller, r);
    log::Info("link unsubscribe all");
  } else {
    // Without consent a channel sends nothing whatever its toggles say, so only channels
    // with consent are editable.
    v1::SetPreferencesRequest s;
    s.set_subject_id(link.claims.subject_id);
    for (const auto& p : current.preferences()) {
      if (!p.channel_consent()) continue;
      const bool on = wanted.contains({static_cast<Channel>(p.channel()), p.topic()});
      if (on == p.subscribed()) continue;
      auto* c = s.add_changes();
      c->set_topic(p.topic());
      c->set_channel(p.channel());
      c->set_subscribed(on);
    }
    if (s.changes_size() > 0) {
      *s.mutable_proof() = ProofFor(link, visitor);
      registry_.SetPreferences(kCaller, s);
    }
    out.changes = s.changes_size();
    log::Info("link preferences saved", {{"changes", out.changes}});
  }
  out.preferences = Preferences(link);
  return out;
}

}  // namespace herald::subscriptions
