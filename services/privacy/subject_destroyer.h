#pragma once

#include <string>

namespace herald::privacy {

// Irreversibly destroys a subject's personal data and writes the destruction record
// (implemented with DestroySubject). The privacy job calls it when a revocation's
// scheduled destruction falls due. Returns the destruction record's id; throws
// herald::Error (e.g. FAILED_PRECONDITION when the subject is already destroyed).
class SubjectDestroyer {
 public:
  virtual ~SubjectDestroyer() = default;
  virtual std::string Destroy(const std::string& subject_id, const std::string& reason,
                              const std::string& performed_by) = 0;
};

}  // namespace herald::privacy
