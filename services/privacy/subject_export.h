#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.h"
#include "common/crypto/key_ring.h"
#include "common/db/pool.h"

namespace herald::privacy {

struct SubjectExportData {
  // Every section, machine-readable: subject, addresses, consents (with their proof),
  // preferences, suppressions, events (with their personal values), privacy_requests,
  // messages (metadata, content, attempts, history).
  nlohmann::json data;
  // The same, as a plain-text document for the person (152-FZ art. 14).
  std::string document;
  // When it was prepared (data["generated_at"]).
  Timestamp generated_at;
};

// Everything held about one subject, read in one snapshot. Works for a blocked subject: the
// subject's own right of access is not suspended by a block (L2); the scope check is the
// transport's. NOT_FOUND for an unknown subject.
class SubjectExport {
 public:
  SubjectExport(db::Pool& pool, const Clock& clock, const crypto::SuppressionHasher& hasher);

  SubjectExportData Export(const std::string& subject_id);

  // Renders the JSON form as the readable document (separate so it can be tested alone).
  static std::string RenderDocument(const nlohmann::json& data);

 private:
  db::Pool& pool_;
  const Clock& clock_;
  const crypto::SuppressionHasher& hasher_;
};

}  // namespace herald::privacy
