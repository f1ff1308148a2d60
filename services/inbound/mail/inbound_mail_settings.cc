#include "services/inbound/mail/inbound_mail_settings.h"

namespace herald::inbound {
namespace {

std::string AuthservId(const std::string& name, const std::string& id) {
  if (id.find_first_of(" \t;()\"") != std::string::npos) {
    throw ConfigError(name + ": an authserv-id is one token");
  }
  return id;
}

}  // namespace

const config::Section<InboundMailSettings>& InboundMailSection() {
  using S = InboundMailSettings;
  static const config::Section<S> kSection{{
      config::Text("inbound_mail.listen", &S::listen,
                   "Listen address of POST /hooks/email/inbound for the local MTA (web role, "
                   "only when HERALD_INBOUND_MAIL_SECRET is set).",
                   config::ListenAddress),
      config::Secret("HERALD_INBOUND_MAIL_SECRET", &S::secret, 16,
                     "(empty: the inbound mail hook is off)",
                     "Bearer secret of POST /hooks/email/inbound (at least 16 characters); the "
                     "MTA pipe (heraldctl inbound-mail) sends it."),
      config::Int("inbound_mail.max_bytes", &S::max_bytes, 1024, 26214400,
                  "Largest inbound message accepted, in bytes; larger ones get 413."),
      config::List("inbound_mail.trusted_authserv_ids", &S::trusted_authserv_ids,
                   "authserv-ids of the operator's own MTA (a list): the topmost "
                   "Authentication-Results of one of them saying dmarc=pass for the From: "
                   "domain confirms a revocation or rectification marker at once; empty: every "
                   "such marker waits for its e-mailed link.",
                   AuthservId),
  }};
  return kSection;
}

}  // namespace herald::inbound
