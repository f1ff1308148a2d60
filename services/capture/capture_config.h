#pragma once

#include <set>
#include <string>
#include <vector>

#include "common/config/section.h"

namespace YAML {
class Node;
}

namespace herald::capture {

// One form that captures consent: what it offers and which documents its boxes show. The
// operator's site posts to /f/{id}; Herald also serves the form itself at GET /f/{id}.
struct CaptureForm {
  std::string id;                   // letters, digits, '-' and '_'; 1..64
  std::vector<std::string> topics;  // marketing topics offered (known to the topic catalog)
  // Versions of the two separate documents (consent to processing, consent to marketing),
  // shown beside their boxes and stored with the consents.
  std::string processing_document;
  std::string marketing_document;
  // Origins (scheme://host[:port]) of the operator's pages allowed to post to this form
  // from their own site; the hosted page's own posts carry a signed field instead.
  std::vector<std::string> origins;
};

// The `capture:` section: consent capture with double opt-in (docs/consent-capture.md).
struct CaptureSettings {
  std::vector<CaptureForm> forms;
  // How long a pending request (and its confirmation link) stays valid.
  int validity_hours = 48;
  // At most this many requests per address in any 24 hours get a confirmation; more are
  // answered the same way but send nothing (no enumeration, no mail bombing).
  int per_address_per_day = 3;
  // Submissions per client IP per minute (the web listener's limiter).
  int per_ip_per_minute = 10;
  // How often the worker role's capture job runs (expiry, finishing confirmed requests).
  int job_interval_s = 60;
  // Sources (herald.v1.Source numbers) whose granted consents, recorded through RecordConsent,
  // count only once the subject confirms them: the call answers pending_confirmation and a
  // confirmation goes to the subject's address. Empty: every such consent counts at once.
  std::set<int> require_confirmation;

  const CaptureForm* Find(const std::string& id) const;
};

void ApplyCaptureConfig(CaptureSettings& c, const YAML::Node& node);
std::string DescribeCaptureConfig();
const config::Section<CaptureSettings>& CaptureSection();

}  // namespace herald::capture
