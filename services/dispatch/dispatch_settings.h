#pragma once

#include <map>
#include <string>

#include "common/config/section.h"

namespace herald::dispatch {

// The `dispatch.*` section (the outbox workers of the worker role) and the content side of
// what they send: the `email.*` sender and List-Unsubscribe mailbox, the `sms.footer_*`
// opt-out footers of marketing SMS.
struct DispatchSettings {
  int workers = 2;
  int batch_size = 100;
  int lease_s = 120;
  int reclaim_grace_s = 10;
  int retry_base_s = 30;
  int max_attempts = 8;
  int max_age_s = 86400;
  // Messages of one claimed batch sent at once by a worker thread.
  int send_concurrency = 4;
  // Links to a bare address name the suppression key of their address hash (link token type
  // 0x03). Off until every heraldd reads such links: older ones refuse them.
  bool link_suppression_key_ids = false;
  std::string email_from_address = "no-reply@herald.invalid";
  std::string email_from_name;
  std::string unsubscribe_mailto;
  // Appended to marketing SMS in the subject's language (az, ru, en); empty: no footer.
  std::map<std::string, std::string> sms_footers;
};

const config::Section<DispatchSettings>& DispatchSection();

}  // namespace herald::dispatch
