#pragma once

#include <string>

#include "common/config/section.h"

namespace herald::privacy {

// The `operator.*` and `retention.*` sections: what the erasure side of PrivacyService needs
// from the configuration: who the operator is (printed on the destruction act, Roskomnadzor
// order 179) and how long things are kept.
struct ErasureSettings {
  std::string operator_name;
  std::string operator_address;
  std::string information_system = "Herald";
  // Rendered message content (templates and variables of single sends, per-recipient
  // variables of campaign messages) is purged this many days after the message settled.
  int message_content_days = 90;
  // Destruction records (and acts) are kept this many years, then purged.
  int destruction_record_years = 3;
};

const config::Section<ErasureSettings>& ErasureSection();

}  // namespace herald::privacy
