#include "services/privacy/erasure_settings.h"

namespace herald::privacy {

const config::Section<ErasureSettings>& ErasureSection() {
  using S = ErasureSettings;
  static const config::Section<S> kSection{{
      // Destruction acts and retention (docs/privacy-destruction.md).
      config::Text("operator.name", &S::operator_name,
                   "The personal-data operator's legal name, printed on destruction acts."),
      config::Text("operator.address", &S::operator_address,
                   "The operator's address, printed on destruction acts."),
      config::Text("operator.information_system", &S::information_system,
                   "Name of the information system in destruction records and acts.",
                   config::NotEmpty),
      config::Int("retention.message_content_days", &S::message_content_days, 1, 3650,
                  "Days a settled message keeps its content and provider texts."),
      config::Int("retention.destruction_record_years", &S::destruction_record_years, 1, 100,
                  "Years destruction records and acts are kept before they are purged "
                  "(Roskomnadzor order 179 asks for 3)."),
  }};
  return kSection;
}

}  // namespace herald::privacy
