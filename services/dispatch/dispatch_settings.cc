#include "services/dispatch/dispatch_settings.h"

namespace herald::dispatch {

const config::Section<DispatchSettings>& DispatchSection() {
  using S = DispatchSettings;
  static const config::Section<S> kSection{{
      // Outgoing e-mail.
      config::Text("email.from_address", &S::email_from_address,
                   "Envelope and From address of e-mail."),
      config::Text("email.from_name", &S::email_from_name, "Display name in From (UTF-8)."),
      config::Text("email.unsubscribe_mailto", &S::unsubscribe_mailto,
                   "Mailbox of the mailto: List-Unsubscribe fallback (its subject is the "
                   "policy's refusal marker); empty: no mailto fallback."),
      // Outbox (worker role).
      config::Int("dispatch.workers", &S::workers, 1, 64,
                  "Outbox worker threads of the worker role."),
      config::Int("dispatch.batch_size", &S::batch_size, 1, 10000, "Messages one claim takes."),
      config::Int("dispatch.lease_s", &S::lease_s, 5, 3600,
                  "Seconds a claim is held before another worker may reclaim it."),
      config::Int("dispatch.reclaim_grace_s", &S::reclaim_grace_s, 0, 600,
                  "After the database was unreachable, seconds during which claims that ran "
                  "out meanwhile are left to their workers (to record what they sent) before "
                  "they are reclaimed."),
      config::Int("dispatch.retry_base_s", &S::retry_base_s, 1, 3600,
                  "First retry delay; each retry doubles it (with jitter) up to an hour."),
      config::Int("dispatch.max_attempts", &S::max_attempts, 1, 100,
                  "Attempts before a message fails."),
      config::Int("dispatch.max_age_s", &S::max_age_s, 60, 2592000,
                  "Age after which an unsent message fails instead of being retried."),
      config::Int("dispatch.send_concurrency", &S::send_concurrency, 1, 64,
                  "Messages of one claimed batch a worker thread sends at once, each over its "
                  "own provider connection."),
      config::Bool("dispatch.link_suppression_key_ids", &S::link_suppression_key_ids,
                   "Links to a bare address carry the id of the suppression key their address "
                   "hash was made under, so an unsubscribe through one is filed under that key. "
                   "Turn on once no heraldd older than this release runs: older ones refuse "
                   "such links."),
      // Footers of outgoing marketing SMS.
      config::Slot("sms.footer_az", &S::sms_footers, "az",
                   "Opt-out footer of marketing SMS for Azerbaijani (the default language), "
                   "e.g. 'DAYAN -> 1234'."),
      config::Slot("sms.footer_ru", &S::sms_footers, "ru", "The same footer in Russian."),
      config::Slot("sms.footer_en", &S::sms_footers, "en", "The same footer in English."),
  }};
  return kSection;
}

}  // namespace herald::dispatch
