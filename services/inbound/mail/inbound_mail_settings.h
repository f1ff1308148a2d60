#pragma once

#include <string>
#include <vector>

#include "common/config/section.h"

namespace herald::inbound {

// The `inbound_mail.*` section: the hook POST /hooks/email/inbound (web role) on its own
// listener for the local MTA, and which MTA verdicts confirm an e-mail marker.
struct InboundMailSettings {
  std::string listen = "127.0.0.1:8081";
  // Secret, environment only: the bearer secret MTAs and heraldctl send; empty: the hook is
  // off.
  std::string secret;
  int max_bytes = 1048576;
  // authserv-ids of the operator's own MTA whose Authentication-Results dmarc=pass confirms
  // an e-mail marker's sender (STANDARDS §2b); empty: markers wait for their link.
  std::vector<std::string> trusted_authserv_ids;
};

const config::Section<InboundMailSettings>& InboundMailSection();

}  // namespace herald::inbound
